"""The OpenAI Responses API wire format, as the simulator speaks it (``POST …/v1/responses``).

Served by every ``kind: openai`` instance next to Chat Completions (same SDK ``base_url``
``http://HOST:PORT/<name>/v1``, same request counter, fault plan and per-model prompt cache), so
the official SDK's ``client.responses.create(...)`` and ``client.responses.stream(...)`` can be
tested against it. The request is validated by :mod:`.responses_input`; this module gives the
scenarios its input items in the Chat shape (:func:`to_chat_shape`) and renders the answer:

* a ``response`` object: ``status: "completed"``, ``output`` with a ``message`` item (one
  ``output_text`` part) and/or a ``function_call`` item (``call_id``, ``name``, ``arguments`` as a
  JSON string), and ``usage`` (``input_tokens``, ``input_tokens_details.cached_tokens``,
  ``output_tokens``, ``output_tokens_details.reasoning_tokens``, ``total_tokens``); the request's
  ``instructions``, ``tools``, ``tool_choice``, ``max_output_tokens``, ``store``, ``temperature``,
  ``top_p``, ``metadata`` and ``parallel_tool_calls`` are echoed;
* ``stream: true``: the real event sequence, each as ``event: <type>`` + ``data: <json>`` with a
  ``sequence_number`` counting from 0: ``response.created`` and ``response.in_progress`` (the
  response with ``status: "in_progress"``, no output, no usage), then per output item
  ``response.output_item.added``, for a message ``response.content_part.added``,
  ``response.output_text.delta``…, ``response.output_text.done``, ``response.content_part.done``,
  for a function call ``response.function_call_arguments.delta``…,
  ``response.function_call_arguments.done``, then ``response.output_item.done``, and last
  ``response.completed`` with the whole response and its usage (no ``[DONE]`` line: the
  Responses API sends none);
* a content-policy refusal with ``refusal: stop_reason``: ``status: "incomplete"``,
  ``incomplete_details.reason: "content_filter"`` and no output (streamed: ``response.incomplete``
  instead of ``response.completed``), the Responses counterpart of Chat's
  ``finish_reason: "content_filter"``.

Token counts follow the simulator's one rule: the prompt is the JSON text of
``[tools, instructions, *input items]`` (``sort_keys``; ``instructions`` is ``null`` when absent,
a string ``input`` counts as ``[{"role": "user", "content": input}]``), one token per
``chars_per_token`` characters. ``reasoning`` items sent back are part of that text (so counted
as input, as the API bills the reasoning items it keeps) but play no part in the answer; the
simulated model reasons for free (``reasoning_tokens`` is 0). Prompt caching is OpenAI's
automatic prefix caching, exactly as on the chat endpoint: the whole blocks of a prompt's prefix
that the same instance saw for the same model within the TTL are ``cached_tokens`` (by default
128-token blocks, prompts of at least 1,024 tokens, a 5-minute TTL: the instance's ``cache``
settings); writes cost nothing and are not reported (``cache_write_tokens`` is 0).

Errors have the OpenAI body ``{"error": {"message", "type", "param", "code"}}`` of the chat
endpoint (:func:`agentroute.sim.wire_openai.error`), except the context window, which the
Responses API reports as "Your input exceeds the context window of this model. …" with
``param: "input"``. Faults are the chat endpoint's: status errors before any byte of a stream,
``drop_mid_response`` cuts the body or the event stream halfway.

Not simulated, documented here so a test does not mistake it for the real thing: server-side
state (``previous_response_id``, ``conversation``, ``item_reference`` items and
``background`` are refused with a 400 saying so; ``store`` is echoed but nothing is stored, and
``GET …/v1/responses/{id}`` is a 404), built-in tools and item types other than ``message``,
``function_call``, ``function_call_output`` and ``reasoning`` (refused), ``max_output_tokens``
(validated and echoed, not enforced), ``tool_choice`` (validated and echoed; the scenario decides
whether to call a tool, as on the chat endpoint) and structured output (``text.format``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentroute.sim import wire_openai
from agentroute.sim.cache import Breakpoint
from agentroute.sim.faults import ErrorDetail, ErrorKind, Reply
from agentroute.sim.responses_input import ResponsesInput
from agentroute.sim.scenario import Move, text_of

__all__ = ["CALL_ID", "PATH", "RESPONSE_ID", "ResponsesRequest", "error", "parse", "to_chat_shape"]

PATH = "/v1/responses"
RESPONSE_ID = ("resp_", 48)
"""Prefix and random length of a response id; its items' ids share the random part."""
CALL_ID = ("call_", 24)

Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ResponsesRequest(ResponsesInput):
    """A validated Responses API request, with what the instance asks of it
    (:class:`~agentroute.sim.faults.WireRequest`)."""

    @property
    def conversation(self) -> list[Mapping[str, Any]]:
        """``instructions`` and the input items in the scenario's (Chat) shape."""
        return to_chat_shape(self.items, self.instructions)

    def prompt(self) -> tuple[str, tuple[Breakpoint, ...] | None]:
        """The serialized input (tools, instructions, items: a growing conversation keeps the
        earlier text a prefix) and no explicit breakpoints (OpenAI caches automatically)."""
        prompt = [list(self.tools), self.instructions, *self.items]
        return json.dumps(prompt, sort_keys=True, default=str), None

    def body(self, reply: Reply) -> bytes:
        """The ``response`` object (JSON bytes)."""
        status = "incomplete" if reply.refused else "completed"
        return json.dumps(_response(self, reply, status, _output(reply))).encode()

    def events(self, reply: Reply) -> list[tuple[bytes, int]]:
        """The SSE events of a streamed answer, each with the output tokens it carries."""
        return _Events(self, reply).render()


def parse(data: object) -> ResponsesRequest:
    """Validate the request body like the API does (see :mod:`.responses_input`)."""
    return ResponsesRequest.from_body(data)


def _ids(reply: Reply) -> tuple[str, str]:
    """The ids of the answer's message item and function-call item."""
    tail = reply.response_id.removeprefix(RESPONSE_ID[0])
    return f"msg_{tail}", f"fc_{tail}"


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [_text_part(text)] if status == "completed" else []
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _call(item_id: str, reply: Reply, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": reply.call_id,
        "name": reply.move.tool,
        "arguments": arguments,
    }


def _arguments(move: Move) -> str:
    return json.dumps(dict(move.arguments or {}))


def _output(reply: Reply) -> list[dict[str, Any]]:
    """The output items of a finished answer: the text (if any), then the tool call (if any)."""
    if reply.refused:
        return []
    message_id, call_id = _ids(reply)
    items: list[dict[str, Any]] = []
    if reply.move.text:
        items.append(_message(message_id, reply.move.text, "completed"))
    if reply.move.tool is not None:
        items.append(_call(call_id, reply, _arguments(reply.move), "completed"))
    return items


def _usage(reply: Reply) -> dict[str, Any]:
    usage = reply.usage
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.read_tokens, "cache_write_tokens": 0},
        "output_tokens": reply.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + reply.output_tokens,
    }


def _response(
    req: ResponsesInput, reply: Reply, status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ``response`` object in ``status`` (usage only once it is finished)."""
    finished = status != "in_progress"
    return {
        "id": reply.response_id,
        "object": "response",
        "created_at": reply.created,
        "status": status,
        "background": False,
        "completed_at": reply.created if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": "content_filter"} if status == "incomplete" else None,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": None,
        "metadata": dict(req.metadata),
        "model": req.model,
        "output": output,
        "parallel_tool_calls": req.parallel_tool_calls,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": req.store,
        "temperature": req.temperature,
        "text": {"format": {"type": "text"}},
        "tool_choice": req.tool_choice,
        "tools": [_echo_tool(t) for t in req.tools],
        "top_logprobs": 0,
        "top_p": req.top_p,
        "truncation": "disabled",
        "usage": _usage(reply) if finished else None,
        "user": None,
    }


def _echo_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A function tool as the API echoes it (``strict`` defaults to true in this API)."""
    return {"description": None, "parameters": None, "strict": True, **tool}


def _pieces(text: str, size: int) -> Iterator[str]:
    return (text[i : i + size] for i in range(0, len(text), size))


class _Events:
    """Builds one streamed answer's events, numbering them as they are added."""

    def __init__(self, req: ResponsesInput, reply: Reply) -> None:
        self.req = req
        self.reply = reply
        self.out: list[tuple[bytes, int]] = []

    def add(self, data: dict[str, Any], tokens: int = 0) -> None:
        event = {"type": data["type"], "sequence_number": len(self.out), **data}
        line = f"event: {data['type']}\ndata: {json.dumps(event)}\n\n"
        self.out.append((line.encode(), tokens))

    def tokens(self, piece: str) -> int:
        return max(1, len(piece) // self.reply.chars_per_token)

    def render(self) -> list[tuple[bytes, int]]:
        req, reply = self.req, self.reply
        started = _response(req, reply, "in_progress", [])
        self.add({"type": "response.created", "response": started})
        self.add({"type": "response.in_progress", "response": started})
        message_id, call_id = _ids(reply)
        index = 0
        if reply.move.text and not reply.refused:
            self._message(index, message_id, reply.move.text)
            index += 1
        if reply.move.tool is not None and not reply.refused:
            self._call(index, call_id)
        status = "incomplete" if reply.refused else "completed"
        final = _response(req, reply, status, _output(reply))
        self.add({"type": f"response.{status}", "response": final})
        return self.out

    def _message(self, index: int, item_id: str, text: str) -> None:
        at = {"item_id": item_id, "output_index": index}
        part = {**at, "content_index": 0}
        self.add(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": _message(item_id, text, "in_progress"),
            }
        )
        self.add({"type": "response.content_part.added", **part, "part": _text_part("")})
        for piece in _pieces(text, 16):
            delta = {"type": "response.output_text.delta", **part, "delta": piece, "logprobs": []}
            self.add(delta, self.tokens(piece))
        self.add({"type": "response.output_text.done", **part, "text": text, "logprobs": []})
        self.add({"type": "response.content_part.done", **part, "part": _text_part(text)})
        done = _message(item_id, text, "completed")
        self.add({"type": "response.output_item.done", "output_index": index, "item": done})

    def _call(self, index: int, item_id: str) -> None:
        reply = self.reply
        at = {"item_id": item_id, "output_index": index}
        added = _call(item_id, reply, "", "in_progress")
        self.add({"type": "response.output_item.added", "output_index": index, "item": added})
        arguments = _arguments(reply.move)
        for piece in _pieces(arguments, 12):
            delta = {"type": "response.function_call_arguments.delta", **at, "delta": piece}
            self.add(delta, self.tokens(piece))
        done_args = {"type": "response.function_call_arguments.done", **at, "arguments": arguments}
        self.add(done_args)
        done = _call(item_id, reply, arguments, "completed")
        self.add({"type": "response.output_item.done", "output_index": index, "item": done})


def to_chat_shape(
    items: Sequence[Mapping[str, Any]], instructions: str | None = None
) -> list[Mapping[str, Any]]:
    """Responses input items → Chat messages, the shape the scenarios (:mod:`.scenario`) read:
    ``instructions`` as a leading system message; one assistant turn per run of consecutive
    assistant ``message``/``function_call`` items (so a scripted scenario counts a text-plus-tool
    answer as one turn); each ``function_call_output`` as a ``role: tool`` message carrying its
    output text (so the airline scenario sees a tool's ``Error: …``); ``reasoning`` items left
    out."""
    out: list[Mapping[str, Any]] = []
    if instructions:
        out.append({"role": "system", "content": instructions})
    turn: dict[str, Any] | None = None  # the assistant turn that consecutive items extend
    for item in items:
        kind = item.get("type", "message")
        if kind == "reasoning":
            continue
        if kind == "function_call" or (kind == "message" and item.get("role") == "assistant"):
            if turn is None:
                turn = {"role": "assistant", "content": None}
                out.append(turn)
            if kind == "message":
                turn["content"] = (turn["content"] or "") + text_of(item.get("content"))
            else:
                call = {"name": item.get("name"), "arguments": item.get("arguments")}
                entry = {"id": item.get("call_id"), "type": "function", "function": call}
                turn.setdefault("tool_calls", []).append(entry)
            continue
        turn = None
        if kind == "function_call_output":
            output = text_of(item.get("output"))
            out.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": output})
        else:
            out.append({"role": item.get("role"), "content": text_of(item.get("content"))})
    return out


_WINDOW = (
    "Your input exceeds the context window of this model. Please adjust your input and try again."
)


def error(kind: ErrorKind, detail: ErrorDetail) -> tuple[int, Headers, bytes]:
    """Status, headers and body of an error answer: the chat endpoint's OpenAI shape, with the
    Responses API's own context-window error (``param: "input"``)."""
    status, headers, body = wire_openai.error(kind, detail)
    if kind == "context_window":
        error_body = {
            "message": _WINDOW,
            "type": "invalid_request_error",
            "param": "input",
            "code": "context_length_exceeded",
        }
        body = json.dumps({"error": error_body}).encode()
    return status, headers, body
