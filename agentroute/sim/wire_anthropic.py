"""The Anthropic Messages wire format, as the simulator speaks it.

Request parsing (``POST …/v1/messages``: ``model``, ``max_tokens`` and ``messages`` required;
``system`` as a string or text blocks; ``tools``; at most four ``cache_control`` markers), the
``message`` object, the streamed event sequence (``message_start``, ``content_block_start``,
``ping``, ``content_block_delta`` with ``text_delta`` / ``input_json_delta``,
``content_block_stop``, ``message_delta`` with the stop reason and cumulative usage,
``message_stop``; each as ``event: <type>`` + ``data: <json>``), and error bodies
``{"type": "error", "error": {"type", "message"}, "request_id"}``.

Caching follows Anthropic's rules: the prompt is read in the order tools → system → messages, and
only the prefix ending at a block that carries ``cache_control`` can be cached, and a hit is
also found at any of the 20 block boundaries before a breakpoint (so a breakpoint that moves to
the newest message each turn reads the previous turn's entry;
:meth:`agentroute.sim.cache.PrefixCache.lookup_marked`). A message's role counts as a block.
``usage.input_tokens`` excludes both ``cache_read_input_tokens`` and
``cache_creation_input_tokens``; ``cache_creation`` splits the write into its 5-minute and 1-hour
parts.

Checked against the ``anthropic`` SDK's models (the tests parse with strict validation and use
``messages.stream()``'s accumulator) and against real bodies quoted in public issue threads:
context window "prompt is too long: M tokens > N maximum" (400 ``invalid_request_error``); 529
``overloaded_error`` "Overloaded"; 500 ``api_error`` "Internal server error"; 429
``rate_limit_error``; content filtering 400 "Output blocked by content filtering policy", or, with
``refusal: stop_reason``, a 200 answer with ``stop_reason: "refusal"`` (Claude 4 streaming
classifiers). Anthropic documents no 503 body; the simulator sends an ``api_error``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentroute.sim.cache import Breakpoint, MarkedOutcome
from agentroute.sim.faults import ErrorDetail, ErrorKind, InvalidRequest, Reply
from agentroute.sim.scenario import Move, text_of

__all__ = ["CALL_ID", "PATH", "RESPONSE_ID", "MessagesRequest", "error", "parse", "to_chat_shape"]

PATH = "/v1/messages"
RESPONSE_ID = ("msg_01", 22)
CALL_ID = ("toolu_01", 22)

Headers = list[tuple[str, str]]
MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20  # block boundaries before a breakpoint that Anthropic also checks for a hit
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    """The parts of a Messages API request the simulator uses."""

    model: str
    messages: tuple[Mapping[str, Any], ...]
    system: tuple[Mapping[str, Any], ...]
    tools: tuple[Mapping[str, Any], ...]
    stream: bool

    @property
    def conversation(self) -> list[Mapping[str, Any]]:
        """The messages in the scenario's (OpenAI Chat) shape."""
        return to_chat_shape(self.messages)

    def _blocks(self) -> Iterator[Mapping[str, Any]]:
        yield from self.tools
        yield from self.system
        for m in self.messages:
            yield {"role": m.get("role")}
            content = m.get("content")
            if isinstance(content, str):
                yield {"type": "text", "text": content}
            elif isinstance(content, list):
                yield from (b for b in content if isinstance(b, Mapping))

    def body(self, reply: Reply) -> bytes:
        """A ``message`` object (JSON bytes)."""
        return _message(self, reply)

    def events(self, reply: Reply) -> list[tuple[bytes, int]]:
        """The SSE events of a streamed answer, each with the output tokens it carries."""
        return _stream_events(self, reply)

    def prompt(self) -> tuple[str, tuple[Breakpoint, ...]]:
        """The serialized input in Anthropic's order and the ``cache_control`` breakpoints."""
        parts: list[str] = []
        ends: list[int] = []
        marks: list[Breakpoint] = []
        end = 0
        for block in self._blocks():
            text = json.dumps(
                {k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True
            )
            parts.append(text)
            end += len(text)
            control = block.get("cache_control")
            if isinstance(control, Mapping):
                hour = control.get("ttl") == "1h"
                lookback = tuple(ends[-LOOKBACK_BLOCKS:])
                marks.append(Breakpoint(end, HOUR_S if hour else None, hour, lookback))
            ends.append(end)
        return "".join(parts), tuple(marks)


def parse(data: object) -> MessagesRequest:
    """Validate the request body like the API does (required fields, breakpoint count)."""
    if not isinstance(data, Mapping):
        raise InvalidRequest("Request body must be a JSON object")
    for name in ("model", "max_tokens", "messages"):
        if name not in data:
            raise InvalidRequest(f"{name}: Field required", param=name)
    model, messages = data["model"], data["messages"]
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Input should be a valid string", param="model")
    if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
        raise InvalidRequest("messages: Input should be a valid list", param="messages")
    system = data.get("system") or ()
    if isinstance(system, str):
        system = ({"type": "text", "text": system},)
    tools = data.get("tools") or ()
    if not isinstance(system, list | tuple) or not isinstance(tools, list | tuple):
        raise InvalidRequest("system and tools must be lists", param="system")
    req = MessagesRequest(
        model=model,
        messages=tuple(messages),
        system=tuple(b for b in system if isinstance(b, Mapping)),
        tools=tuple(t for t in tools if isinstance(t, Mapping)),
        stream=bool(data.get("stream")),
    )
    found = len(req.prompt()[1])
    if found > MAX_BREAKPOINTS:
        raise InvalidRequest(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {found}."
        )
    return req


def to_chat_shape(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Anthropic messages → OpenAI Chat messages: ``tool_use`` blocks become ``tool_calls``,
    ``tool_result`` blocks become ``role: tool`` messages (an ``is_error`` result reads
    ``Error: …``, the convention of the scenario's tools)."""
    out: list[Mapping[str, Any]] = []
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if isinstance(content, str) or not isinstance(content, list):
            out.append({"role": role, "content": text_of(content)})
            continue
        blocks = [b for b in content if isinstance(b, Mapping)]
        text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        if role == "assistant":
            calls = [
                {
                    "id": b.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": b.get("name", ""),
                        "arguments": json.dumps(b.get("input")),
                    },
                }
                for b in blocks
                if b.get("type") == "tool_use"
            ]
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
            continue
        for b in blocks:
            if b.get("type") == "tool_result":
                result = text_of(b.get("content"))
                if b.get("is_error") and not result.startswith("Error"):
                    result = f"Error: {result}"
                out.append(
                    {"role": "tool", "tool_call_id": b.get("tool_use_id"), "content": result}
                )
        if text or not any(b.get("type") == "tool_result" for b in blocks):
            out.append({"role": role, "content": text})
    return out


def _usage(usage: MarkedOutcome, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.uncached_tokens,
        "cache_creation_input_tokens": usage.written_tokens,
        "cache_read_input_tokens": usage.read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.written_tokens - usage.written_1h_tokens,
            "ephemeral_1h_input_tokens": usage.written_1h_tokens,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _content(move: Move, call_id: str, refused: bool) -> list[dict[str, Any]]:
    if refused:
        return []
    blocks: list[dict[str, Any]] = []
    if move.text:
        blocks.append({"type": "text", "text": move.text})
    if move.tool is not None:
        args = dict(move.arguments or {})
        blocks.append({"type": "tool_use", "id": call_id, "name": move.tool, "input": args})
    return blocks


def _stop(move: Move, refused: bool) -> str:
    if refused:
        return "refusal"
    return "tool_use" if move.tool is not None else "end_turn"


def _message(req: MessagesRequest, reply: Reply) -> bytes:
    move, refused = reply.move, reply.refused
    body = {
        "id": reply.response_id,
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "content": _content(move, reply.call_id, refused),
        "stop_reason": _stop(move, refused),
        "stop_sequence": None,
        "usage": _usage(reply.usage, reply.output_tokens),
    }
    return json.dumps(body).encode()


def _event(data: Mapping[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def _stream_events(req: MessagesRequest, reply: Reply) -> list[tuple[bytes, int]]:
    move, refused, usage, cpt = reply.move, reply.refused, reply.usage, reply.chars_per_token
    start: dict[str, Any] = {
        "id": reply.response_id,
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**_usage(usage, 1)},
    }
    events = [(_event({"type": "message_start", "message": start}), 0)]
    for index, block in enumerate(_content(move, reply.call_id, refused)):
        empty = {**block, "text": ""} if block["type"] == "text" else {**block, "input": {}}
        events.append(
            (_event({"type": "content_block_start", "index": index, "content_block": empty}), 0)
        )
        if index == 0:
            events.append((_event({"type": "ping"}), 0))
        if block["type"] == "text":
            text = str(block["text"])
            deltas = [
                {"type": "text_delta", "text": text[i : i + 16]} for i in range(0, len(text), 16)
            ]
        else:
            args = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [
                {"type": "input_json_delta", "partial_json": args[i : i + 12]}
                for i in range(0, len(args), 12)
            ]
        for part in deltas:
            piece = str(part.get("text", part.get("partial_json", "")))
            data = {"type": "content_block_delta", "index": index, "delta": part}
            events.append((_event(data), max(1, len(piece) // cpt) if piece else 0))
        events.append((_event({"type": "content_block_stop", "index": index}), 0))
    final = _usage(usage, reply.output_tokens)
    del final["cache_creation"], final["service_tier"]
    stop = {"stop_reason": _stop(move, refused), "stop_sequence": None}
    events.append((_event({"type": "message_delta", "delta": stop, "usage": final}), 0))
    events.append((_event({"type": "message_stop"}), 0))
    return events


_MESSAGES: Mapping[str, tuple[int, str, str]] = {
    "rate_limit": (
        429,
        "rate_limit_error",
        "This request would exceed your account's rate limit. Please try again later.",
    ),
    "server_error": (500, "api_error", "Internal server error"),
    "unavailable": (503, "api_error", "Service unavailable"),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "content_policy": (400, "invalid_request_error", "Output blocked by content filtering policy"),
    "authentication": (401, "authentication_error", "invalid x-api-key"),
    "not_found": (404, "not_found_error", "Not Found"),
    "too_large": (
        413,
        "request_too_large",
        "Request exceeds the maximum allowed number of bytes.",
    ),
}


def error(kind: ErrorKind, detail: ErrorDetail) -> tuple[int, Headers, bytes]:
    """Status, headers and body of an error answer in the Anthropic shape."""
    headers: Headers = [("content-type", "application/json"), ("request-id", detail.request_id)]
    if kind == "context_window":
        status, etype = 400, "invalid_request_error"
        message = f"prompt is too long: {detail.prompt_tokens} tokens > {detail.window} maximum"
    elif kind == "invalid_request":
        status, etype, message = 400, "invalid_request_error", detail.message
    else:
        status, etype, message = _MESSAGES[kind]
        message = detail.message or message
    if kind == "rate_limit":
        headers.append(("retry-after", str(math.ceil(detail.retry_after_s))))
    if status >= 500 or status == 429:
        headers.append(("x-should-retry", "true"))
    body = {
        "type": "error",
        "error": {"type": etype, "message": message},
        "request_id": detail.request_id,
    }
    return status, headers, json.dumps(body).encode()
