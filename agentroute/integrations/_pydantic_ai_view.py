"""pydantic-ai's message history as the router reads it: OpenAI-shaped message dicts.

The router's signals (tool errors, repeated calls, context size, escalation keywords) are read
from OpenAI / Anthropic message shapes (:mod:`agentroute.messages`); a pydantic-ai history is a
list of ``ModelRequest`` / ``ModelResponse`` objects whose parts say the same things. This
module turns one into the other, for reading only: the model that answers gets pydantic-ai's
own messages, unchanged.

* ``SystemPromptPart`` and a request's ``instructions`` → a ``system`` message;
* ``UserPromptPart`` → a ``user`` message (its text; files and images are left out);
* ``ToolReturnPart`` → a ``tool`` message with the text pydantic-ai sends the model, flagged
  ``is_error`` when its ``outcome`` is one pydantic-ai reports as an error (``failed``, and
  ``retried``: a tool that raised ``ModelRetry`` or got invalid arguments);
* ``RetryPromptPart`` (deprecated, still built by older code) → with a ``tool_name``, a
  ``tool`` message flagged ``is_error``; without one, ``user`` text;
* ``RetryFeedbackPart`` (the response as a whole was unusable) → ``user`` text, not a tool
  error: no tool failed;
* a response's ``TextPart`` and ``ToolCallPart`` → an ``assistant`` message with its text and
  ``tool_calls``. Thinking, files and the framework's bookkeeping parts carry no signal and are
  skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic_ai.messages import (
    ERROR_OUTCOMES,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryFeedbackPart,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters

__all__ = ["openai_view", "run_id_of", "tool_schemas"]


def openai_view(messages: Sequence[ModelMessage]) -> list[dict[str, Any]]:
    """The history as OpenAI Chat Completions message dicts (module docstring)."""
    view: list[dict[str, Any]] = []
    instructions: str | None = None
    for message in messages:
        if isinstance(message, ModelRequest):
            if message.instructions:
                instructions = message.instructions
            for part in message.parts:
                view.extend(_request_part(part))
        elif isinstance(message, ModelResponse):
            assistant = _response(message)
            if assistant is not None:
                view.append(assistant)
    if instructions is not None:  # sent as the system prompt of the request being made
        view.insert(0, {"role": "system", "content": instructions})
    return view


def _request_part(part: object) -> list[dict[str, Any]]:
    if isinstance(part, SystemPromptPart):
        return [{"role": "system", "content": part.content}]
    if isinstance(part, UserPromptPart):
        content = part.content
        if not isinstance(content, str):
            content = "\n".join(item for item in content if isinstance(item, str))
        return [{"role": "user", "content": content}]
    if isinstance(part, ToolReturnPart):
        return [
            {
                "role": "tool",
                "tool_call_id": part.tool_call_id,
                "content": part.model_response_str(),
                "is_error": part.outcome in ERROR_OUTCOMES,
            }
        ]
    if isinstance(part, RetryPromptPart):
        if part.tool_name is None:
            return [{"role": "user", "content": part.model_response()}]
        return [
            {
                "role": "tool",
                "tool_call_id": part.tool_call_id,
                "content": part.model_response(),
                "is_error": True,
            }
        ]
    if isinstance(part, RetryFeedbackPart):
        return [{"role": "user", "content": part.model_response()}]
    return []


def _response(message: ModelResponse) -> dict[str, Any] | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            texts.append(part.content)
        elif isinstance(part, ToolCallPart):
            calls.append(
                {
                    "id": part.tool_call_id,
                    "type": "function",
                    "function": {"name": part.tool_name, "arguments": part.args_as_json_str()},
                }
            )
    if not texts and not calls:
        return None
    assistant: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        assistant["tool_calls"] = calls
    return assistant


def tool_schemas(params: ModelRequestParameters) -> list[dict[str, Any]] | None:
    """The request's function and output tools as OpenAI tool schemas (the router counts their
    tokens), ``None`` when it offers none."""
    tools = [*params.function_tools, *params.output_tools]
    if not tools:
        return None
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description or "",
                "parameters": tool.parameters_json_schema,
            },
        }
        for tool in tools
    ]


def run_id_of(messages: Sequence[ModelMessage]) -> str | None:
    """The id of the agent run making this request: the ``run_id`` of the history's last
    message that has one (earlier messages may come from earlier runs of the conversation)."""
    for message in reversed(messages):
        run_id = message.run_id
        if run_id:
            return run_id
    return None
