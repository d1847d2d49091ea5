"""Tool definitions, tool choice, tool-call ids and tool-error flags across the two wire formats.

A session may move between an OpenAI-compatible deployment and an Anthropic one from one step to
the next, so everything that names a tool must survive the trip in both directions
(:mod:`agentroute.providers.convert_messages` does the messages with these helpers):

* **Tool definitions**: OpenAI ``{"type": "function", "function": {"name", "description",
  "parameters", "strict"}}`` ↔ Anthropic ``{"name", "description", "input_schema"}``. Anthropic's
  ``cache_control`` is never sent to OpenAI; OpenAI's ``strict`` is not sent to Anthropic (its own
  ``strict`` is model-gated). Tools one side cannot express are dropped: Anthropic server tools
  (``{"type": "web_search_20250305", ...}``, no ``input_schema``) for OpenAI, OpenAI ``custom``
  (free-form) tools for Anthropic.
* **Tool choice**: ``"auto"`` ↔ ``{"type": "auto"}``, ``"required"`` ↔ ``{"type": "any"}``,
  ``"none"`` ↔ ``{"type": "none"}``, ``{"type": "function", "function": {"name": n}}`` ↔
  ``{"type": "tool", "name": n}``; OpenAI's ``parallel_tool_calls: false`` ↔ Anthropic's
  ``disable_parallel_tool_use: true`` (which lives inside the tool choice).
* **Tool-call ids**: Anthropic requires ``^[a-zA-Z0-9_-]+$``; OpenAI accepts at most 40
  characters. :func:`anthropic_tool_id` and :func:`openai_tool_id` rewrite only ids that break
  their side's rule, deterministically (a readable prefix plus 8 hex digits of the original's
  SHA-256), and are applied to the call *and* to its result, so pairs still match. Ids valid on
  both sides (all of OpenAI's ``call_…`` and Anthropic's ``toolu_…``) pass unchanged.
* **Tool errors**: Anthropic flags a failed tool with ``tool_result.is_error``; OpenAI has no
  flag, so the flag travels in the text, read by the router's tool-error detector (the one the
  signals use, :mod:`agentroute.policy.tool_errors`). :func:`looks_like_tool_error` is its
  ``default`` preset applied to a text.
* **Responses API function tools** (``{"type": "function", "name", "parameters"}``, no nested
  ``function``) are converted like OpenAI Chat function tools.

Field names checked against the ``openai`` (``ChatCompletionFunctionToolParam``,
``ChatCompletionNamedToolChoiceParam``) and ``anthropic`` (``ToolParam``, ``ToolChoice*Param``)
SDK type definitions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agentroute._json_text import safe_str
from agentroute.errors import ConfigurationError
from agentroute.policy.tool_errors import ToolResult, default_tool_error_detector

__all__ = [
    "ERROR_PREFIX",
    "STRIP_DEPTH",
    "anthropic_tool_id",
    "checked_tools",
    "looks_like_tool_error",
    "openai_tool_id",
    "strip_cache_control",
    "tool_choice_to_anthropic",
    "tool_choice_to_openai",
    "tools_to_anthropic",
    "tools_to_openai",
]

ERROR_PREFIX = "Error: "
"""Prepended to a failed tool result's text on the OpenAI side when it does not already look
like an error, so :func:`looks_like_tool_error` reads the flag back."""

OPENAI_MAX_ID = 40
_ANTHROPIC_ID = re.compile(r"[a-zA-Z0-9_-]+")
_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def anthropic_tool_id(tool_id: object) -> str:
    """``tool_id`` made valid for Anthropic (``^[a-zA-Z0-9_-]+$``), unchanged when it already is.

    Invalid characters become ``_`` and 8 hex digits of the original's hash are appended, so two
    ids that differ only in invalid characters stay distinct. Idempotent.
    """
    text = tool_id if isinstance(tool_id, str) else ("" if tool_id is None else safe_str(tool_id))
    if _ANTHROPIC_ID.fullmatch(text):
        return text
    cleaned = _BAD_ID_CHARS.sub("_", text)
    return f"{cleaned}_{_digest(text)}" if cleaned else f"toolu_{_digest(text)}"


def openai_tool_id(tool_id: object) -> str:
    """``tool_id`` shortened to OpenAI's 40-character limit when longer, unchanged otherwise."""
    text = tool_id if isinstance(tool_id, str) else ("" if tool_id is None else safe_str(tool_id))
    if len(text) <= OPENAI_MAX_ID:
        return text
    return f"{text[: OPENAI_MAX_ID - 9]}_{_digest(text)}"


def looks_like_tool_error(text: str) -> bool:
    """Whether a tool result's text reads as a failure to the ``default`` tool-error detector
    (:func:`~agentroute.policy.tool_errors.default_tool_error_detector`: an error word first,
    so ``"Errors: 0"`` is not one, or a JSON object with a set ``error``)."""
    return default_tool_error_detector(ToolResult(text))


STRIP_DEPTH = 6
"""How deep :func:`strip_cache_control` looks: markers sit on a tool, a message, a content
block, or a block inside a ``tool_result`` (four levels); what is deeper is data."""


def strip_cache_control(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` (dicts and lists, down to :data:`STRIP_DEPTH` levels) without any
    ``cache_control`` key.

    Used on everything bound for an OpenAI-compatible endpoint: Anthropic's cache markers are
    meaningless there, and some servers reject unknown keys. Values deeper than where markers
    go are kept as they are (shared, not copied), so no value — a 1,000-level tool result, a
    list that contains itself — makes it recurse without end.
    """
    if _depth > STRIP_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {
            k: strip_cache_control(v, _depth + 1) for k, v in value.items() if k != "cache_control"
        }
    if isinstance(value, list | tuple):
        return [strip_cache_control(v, _depth + 1) for v in value]
    return value


# Tool definitions -----------------------------------------------------------------------------


def _is_openai_function_tool(tool: Mapping[str, Any]) -> bool:
    return isinstance(tool.get("function"), Mapping)


def _responses_function(tool: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A Responses API function tool's definition, in the nested Chat Completions shape."""
    if tool.get("type") != "function" or "function" in tool or "name" not in tool:
        return None
    return {k: v for k, v in tool.items() if k != "type"}


def checked_tools(tools: object) -> Sequence[Mapping[str, Any]]:
    """``tools`` as a sequence of tool definitions (``None`` is none).

    Raises:
        ConfigurationError: ``tools`` is not a list (or tuple) of mappings, naming the item.
    """
    if tools is None:
        return ()
    if not isinstance(tools, list | tuple):
        raise ConfigurationError(
            f"tools must be a list of tool definitions (mappings), got {type(tools).__name__}"
        )
    for index, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise ConfigurationError(
                f"tools[{index}] must be a tool definition (a mapping), got {type(tool).__name__}"
            )
    return tools


def tools_to_anthropic(tools: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Tool definitions in Anthropic's shape (Anthropic ones pass unchanged; idempotent).

    OpenAI function tools become ``{"name", "description", "input_schema"}`` (an empty object
    schema when ``parameters`` is missing); OpenAI ``custom`` tools are dropped.

    Raises:
        ConfigurationError: ``tools`` is not a list of mappings (:func:`checked_tools`).
    """
    out: list[dict[str, Any]] = []
    for tool in checked_tools(tools):
        flat = _responses_function(tool)
        if flat is not None:
            tool = {"type": "function", "function": flat}
        if _is_openai_function_tool(tool):
            fn = tool["function"]
            converted: dict[str, Any] = {"name": fn.get("name")}
            if fn.get("description"):
                converted["description"] = fn["description"]
            params = fn.get("parameters")
            converted["input_schema"] = (
                dict(params)
                if isinstance(params, Mapping)
                else {"type": "object", "properties": {}}
            )
            out.append(converted)
        elif tool.get("type") == "custom" and isinstance(tool.get("custom"), Mapping):
            continue  # OpenAI free-form tool: Anthropic has no equivalent
        else:
            out.append(dict(tool))
    return out


def tools_to_openai(tools: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Tool definitions in OpenAI's shape, without ``cache_control`` (idempotent).

    Anthropic client tools (those with an ``input_schema``) become function tools; Anthropic
    server tools (no ``input_schema``) are dropped, as OpenAI cannot run them.

    Raises:
        ConfigurationError: ``tools`` is not a list of mappings (:func:`checked_tools`).
    """
    out: list[dict[str, Any]] = []
    for tool in checked_tools(tools):
        flat = _responses_function(tool)
        if flat is not None:
            out.append({"type": "function", "function": strip_cache_control(flat)})
        elif _is_openai_function_tool(tool) or tool.get("type") == "custom":
            out.append(strip_cache_control(tool))
        elif "input_schema" in tool:
            fn: dict[str, Any] = {"name": tool.get("name")}
            if tool.get("description"):
                fn["description"] = tool["description"]
            fn["parameters"] = strip_cache_control(tool["input_schema"])
            out.append({"type": "function", "function": fn})
    return out


# Tool choice ----------------------------------------------------------------------------------

_TO_ANTHROPIC_CHOICE = {"auto": "auto", "required": "any", "none": "none", "any": "any"}
_TO_OPENAI_CHOICE = {"auto": "auto", "any": "required", "none": "none"}


def tool_choice_to_anthropic(
    choice: object, *, parallel_tool_calls: object = None
) -> dict[str, Any] | None:
    """OpenAI's ``tool_choice`` (and ``parallel_tool_calls``) as Anthropic's ``tool_choice``.

    Anthropic dicts pass unchanged. ``parallel_tool_calls=False`` adds
    ``disable_parallel_tool_use: true`` (to an ``auto`` choice when none was given); it is
    ignored with ``none``, which takes no such flag. ``None`` when there is nothing to send.
    """
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif isinstance(choice, str):
        kind = _TO_ANTHROPIC_CHOICE.get(choice)
        result = {"type": kind} if kind else None
    elif isinstance(choice, Mapping):
        kind = choice.get("type")
        fn = choice.get("function")
        if kind == "function" and isinstance(fn, Mapping):
            result = {"type": "tool", "name": fn.get("name")}
        elif kind == "allowed_tools" and isinstance(choice.get("allowed_tools"), Mapping):
            mode = choice["allowed_tools"].get("mode", "auto")
            result = {"type": _TO_ANTHROPIC_CHOICE.get(mode, "auto")}
        else:
            result = dict(choice)
    else:
        result = None
    if parallel_tool_calls is False:
        result = result or {"type": "auto"}
        if result.get("type") != "none":
            result["disable_parallel_tool_use"] = True
    return result


def tool_choice_to_openai(choice: object) -> tuple[str | dict[str, Any] | None, bool | None]:
    """Anthropic's ``tool_choice`` as OpenAI's ``(tool_choice, parallel_tool_calls)``.

    OpenAI values pass unchanged. ``disable_parallel_tool_use: true`` gives
    ``parallel_tool_calls=False``; otherwise the second item is ``None`` (leave it unset).
    """
    if choice is None or isinstance(choice, str):
        return choice, None
    if not isinstance(choice, Mapping):
        return None, None
    kind = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") is True else None
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}, parallel
    if isinstance(kind, str) and kind in _TO_OPENAI_CHOICE:
        return _TO_OPENAI_CHOICE[kind], parallel
    return strip_cache_control(choice), None
