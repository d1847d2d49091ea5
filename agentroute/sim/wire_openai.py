"""The OpenAI Chat Completions wire format, as the simulator speaks it.

Request parsing (``POST …/v1/chat/completions``), the ``chat.completion`` object, the streamed
``chat.completion.chunk`` events (with the usage-only last chunk when
``stream_options.include_usage`` is set: its ``choices`` is empty, and every earlier chunk carries
``"usage": null``, then ``data: [DONE]``), and error bodies ``{"error": {"message", "type",
"param", "code"}}``.

The shapes and messages were checked against the ``openai`` SDK's own models (the tests parse
every answer with ``_strict_response_validation=True``) and against real error bodies quoted in
public issue threads:

* context window: 400, ``invalid_request_error``, param ``messages``, code
  ``context_length_exceeded``, "This model's maximum context length is N tokens. However, your
  messages resulted in M tokens. Please reduce the length of the messages."
* rate limit: 429, type ``requests``, code ``rate_limit_exceeded``, "Rate limit reached for …
  on requests per min (RPM) … Please try again in Ns …", with ``retry-after`` (seconds) and
  ``retry-after-ms`` headers (the SDK reads both).
* content policy: 400, code ``invalid_prompt``, "Invalid prompt: your prompt was flagged as
  potentially violating our usage policy. …"
* 500 / 503: type ``server_error``, param and code ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentroute.sim.cache import Breakpoint, MarkedOutcome
from agentroute.sim.faults import ErrorDetail, ErrorKind, InvalidRequest, Reply
from agentroute.sim.scenario import Move

__all__ = ["CALL_ID", "PATH", "RESPONSE_ID", "ChatRequest", "error", "parse"]

PATH = "/v1/chat/completions"
RESPONSE_ID = ("chatcmpl-", 29)
CALL_ID = ("call_", 24)

Headers = list[tuple[str, str]]
JSON_TYPE = ("content-type", "application/json")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """The parts of a Chat Completions request the simulator uses."""

    model: str
    messages: tuple[Mapping[str, Any], ...]
    tools: tuple[Mapping[str, Any], ...]
    stream: bool
    include_usage: bool

    @property
    def conversation(self) -> Sequence[Mapping[str, Any]]:
        """The messages in the scenario's (OpenAI) shape: already that."""
        return self.messages

    def prompt(self) -> tuple[str, tuple[Breakpoint, ...] | None]:
        """The serialized input (tool schemas, then the messages: appending a message keeps the
        earlier text a prefix, as a tokenized prompt would) and no explicit breakpoints
        (OpenAI caches prefixes automatically)."""
        return json.dumps([list(self.tools), *self.messages], sort_keys=True, default=str), None

    def body(self, reply: Reply) -> bytes:
        """A ``chat.completion`` object (JSON bytes)."""
        return _completion(self, reply)

    def events(self, reply: Reply) -> list[tuple[bytes, int]]:
        """The SSE events of a streamed answer, each with the output tokens it carries."""
        return _stream_events(self, reply)


def parse(data: object) -> ChatRequest:
    """Validate the request body like the API does (the checks the SDK cannot make for us)."""
    if not isinstance(data, Mapping):
        raise InvalidRequest("We could not parse the JSON body of your request.")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("you must provide a model parameter")
    messages = data.get("messages")
    if messages is None:
        raise InvalidRequest(
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
        raise InvalidRequest(
            "Invalid type for 'messages': expected an array of objects.", param="messages"
        )
    if not messages:
        raise InvalidRequest(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead.",
            param="messages",
            code="empty_array",
        )
    tools = data.get("tools") or []
    if not isinstance(tools, list):
        raise InvalidRequest("Invalid type for 'tools': expected an array.", param="tools")
    options = data.get("stream_options") or {}
    return ChatRequest(
        model=model,
        messages=tuple(messages),
        tools=tuple(tools),
        stream=bool(data.get("stream")),
        include_usage=isinstance(options, Mapping) and bool(options.get("include_usage")),
    )


def _usage(usage: MarkedOutcome, output_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": usage.prompt_tokens + output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish(move: Move, refused: bool) -> str:
    if refused:
        return "content_filter"
    return "tool_calls" if move.tool is not None else "stop"


def _arguments(move: Move) -> str:
    return json.dumps(dict(move.arguments or {}))


def _completion(req: ChatRequest, reply: Reply) -> bytes:
    move, refused = reply.move, reply.refused
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if refused else move.text,
        "refusal": None,
        "annotations": [],
    }
    if move.tool is not None and not refused:
        message["tool_calls"] = [
            {
                "id": reply.call_id,
                "type": "function",
                "function": {"name": move.tool, "arguments": _arguments(move)},
            }
        ]
    body = {
        "id": reply.response_id,
        "object": "chat.completion",
        "created": reply.created,
        "model": req.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish(move, refused),
            }
        ],
        "usage": _usage(reply.usage, reply.output_tokens),
        "service_tier": "default",
        "system_fingerprint": "fp_agentroute_sim",
    }
    return json.dumps(body).encode()


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _stream_events(req: ChatRequest, reply: Reply) -> list[tuple[bytes, int]]:
    move, refused, chars_per_token = reply.move, reply.refused, reply.chars_per_token
    head: dict[str, Any] = {
        "id": reply.response_id,
        "object": "chat.completion.chunk",
        "created": reply.created,
        "model": req.model,
        "system_fingerprint": "fp_agentroute_sim",
    }
    if req.include_usage:
        head["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse({**head, "choices": [choice]})

    events = [(chunk({"role": "assistant", "content": "", "refusal": None}), 0)]
    if move.text and not refused:
        for piece in _pieces(move.text, 16):
            events.append((chunk({"content": piece}), max(1, len(piece) // chars_per_token)))
    if move.tool is not None and not refused:
        first: dict[str, Any] = {"index": 0, "id": reply.call_id, "type": "function"}
        first["function"] = {"name": move.tool, "arguments": ""}
        events.append((chunk({"tool_calls": [first]}), 1))
        for piece in _pieces(_arguments(move), 12):
            part = {"index": 0, "function": {"arguments": piece}}
            events.append((chunk({"tool_calls": [part]}), max(1, len(piece) // chars_per_token)))
    events.append((chunk({}, _finish(move, refused)), 0))
    if req.include_usage:
        last = {**head, "choices": [], "usage": _usage(reply.usage, reply.output_tokens)}
        events.append((_sse(last), 0))
    events.append((b"data: [DONE]\n\n", 0))
    return events


def _sse(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
_OVERLOADED = (
    "That model is currently overloaded with other requests. You can retry your request, or "
    "contact us through our help center at help.openai.com if the error persists."
)
_FLAGGED = (
    "Invalid prompt: your prompt was flagged as potentially violating our usage policy. Please "
    "try again with a different prompt: "
    "https://platform.openai.com/docs/guides/reasoning#advice-on-prompting"
)


def error(kind: ErrorKind, detail: ErrorDetail) -> tuple[int, Headers, bytes]:
    """Status, headers and body of an error answer in the OpenAI shape."""
    headers: Headers = [JSON_TYPE, ("x-request-id", detail.request_id)]
    status, etype, param, code = 400, "invalid_request_error", detail.param, None
    message = detail.message
    if kind == "rate_limit":
        wait = detail.retry_after_s
        status, etype, code = 429, "requests", "rate_limit_exceeded"
        message = (
            f"Rate limit reached for {detail.model} in organization org-agentroute-sim on "
            f"requests per min (RPM): Limit 60, Used 60, Requested 1. Please try again in "
            f"{wait:g}s. Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        headers += [
            ("retry-after", str(math.ceil(wait))),
            ("retry-after-ms", str(round(wait * 1000))),
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", f"{wait:g}s"),
        ]
    elif kind == "server_error":
        status, etype, message = 500, "server_error", _SERVER_ERROR
    elif kind in ("unavailable", "overloaded"):  # OpenAI has no 529: overload is a 503
        status, etype, message = 503, "server_error", _OVERLOADED
    elif kind == "context_window":
        param, code = "messages", "context_length_exceeded"
        message = (
            f"This model's maximum context length is {detail.window} tokens. However, your "
            f"messages resulted in {detail.prompt_tokens} tokens. Please reduce the length of "
            "the messages."
        )
    elif kind == "content_policy":
        param, code, message = None, "invalid_prompt", _FLAGGED
    elif kind == "authentication":
        status, code = 401, "invalid_api_key"
        message = (
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
    elif kind == "not_found":
        status = 404
    elif kind == "too_large":
        status = 413
    elif kind == "invalid_request":
        code = detail.code
    body = {"error": {"message": message, "type": etype, "param": param, "code": code}}
    return status, headers, json.dumps(body).encode()
