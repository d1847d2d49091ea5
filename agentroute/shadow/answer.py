"""What a model answered — its text and its tool calls — read from any answer the router returns.

A shadowed step compares two answers to the same call: the one the user got and the reference
tier's. :func:`answer_of` reads each into an :class:`Answer`: the answer's text, and its tool
calls as ``(name, canonical arguments)`` pairs that compare equal when they ask for the same
thing (JSON arguments written with sorted keys and no spaces, whatever their key order or
spacing; argument text that is not JSON kept as its stripped self; absent or blank arguments
read as ``{}``, the empty object: a tool that takes none).

Where it reads from:

* ``result.text`` / ``result.tool_calls``, when either is set: what ``complete()`` and the
  built-in providers fill;
* else ``result.raw``, the answer as the wrapped function returned it (``wrap()``), duck typed
  — attributes or mapping keys, no SDK imported: an OpenAI ``ChatCompletion`` (its first
  choice's message), an OpenAI Responses ``Response`` (``output`` items: ``message`` text,
  ``function_call`` and ``custom_tool_call``), an Anthropic ``Message`` (``text`` and
  ``tool_use`` blocks), a LangChain ``AIMessage`` (``tool_calls``, and ``content`` as a string
  or blocks), a pydantic-ai ``ModelResponse`` (``text`` and ``tool-call`` parts), the dict form
  of each, an assistant message dict, or a plain string. A message (anything with
  ``role: "assistant"``, or LangChain's ``type: "ai"``) is read with
  :func:`agentroute.messages.as_message`, the reader the router uses for histories, so the
  shapes it takes there (SDK objects, LangChain's ``name``/``args`` tool calls) read the same
  here. A message that lists its ``tool_calls`` *and* has ``tool_use`` content blocks (a
  LangChain message from an Anthropic model) counts its calls once, from ``tool_calls``.

Anything else — a stream, an unknown type, a response without a choice — reads as ``None``:
nothing to compare. :func:`answer_of` never raises (a hostile object whose attributes raise
reads as ``None``), and it reads a bounded part of an answer: the first
:data:`MAX_TOOL_CALLS` tool calls, :data:`MAX_TEXT_CHARS` characters of text, and the first
:data:`MAX_ITEMS` blocks, items or parts of a list.
"""

from __future__ import annotations

from typing import Any

from agentroute._frozen import value_object
from agentroute._json_text import parse, safe_str, text_of
from agentroute._types import ModelResult
from agentroute.messages import as_message, field_of

__all__ = ["MAX_TEXT_CHARS", "MAX_TOOL_CALLS", "Answer", "answer_of", "canonical_arguments"]

MAX_TOOL_CALLS = 64
"""The tool calls of an answer that are read (the rest are ignored)."""
MAX_TEXT_CHARS = 20_000
"""The characters of an answer's text that are read."""
MAX_ITEMS = 256
"""The blocks of a content list, items of a Responses output or parts of a pydantic-ai
response that are looked at."""
MAX_NAME_CHARS = 1_000
"""The characters of a tool name that are kept."""
MAX_PARSED_ARGUMENTS = 1_000_000
"""Argument text longer than this is not parsed: it is kept as its stripped self."""

_TEXT_BLOCKS = ("text", "output_text")
_CANONICAL_SEPARATORS = (",", ":")


@value_object
class Answer:
    """A model's answer, as the shadow comparator sees it.

    ``text`` is ``None`` when the answer had no text (only tool calls, or nothing);
    ``tool_calls`` holds ``(tool name, canonical JSON of its arguments)`` in the answer's order
    (:func:`canonical_arguments`).
    """

    text: str | None
    tool_calls: tuple[tuple[str, str], ...] = ()


def canonical_arguments(arguments: object) -> str:
    """A tool call's arguments as canonical JSON text: ``json.dumps(parsed, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)``, whether they came as JSON text or as a value
    (an Anthropic ``input`` dict, LangChain's ``args``). Text that is not JSON (or nested deeper
    than the router parses) is kept stripped; ``None`` and blank text read as ``{}``. Never
    raises: values ``json`` cannot write are written by :func:`agentroute._json_text.text_of`.
    """
    value: Any = arguments
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        stripped = str.__str__(arguments).strip()
        if not stripped:
            return "{}"
        if len(stripped) > MAX_PARSED_ARGUMENTS:
            return stripped
        try:
            value = parse(stripped)
        except ValueError:
            return stripped
    return text_of(value, sort_keys=True, separators=_CANONICAL_SEPARATORS, ensure_ascii=False)


def answer_of(result: ModelResult) -> Answer | None:
    """The text and tool calls of ``result`` (module docstring); ``None`` when nothing can be
    read. Never raises."""
    try:
        text = result.text
        calls = result.tool_calls
        if text is not None or calls:
            reading = _Reading()
            reading.add_text(text)
            for call in _items(calls, MAX_TOOL_CALLS):
                reading.add_call(call.name, call.arguments)
            return reading.answer()
        return _read(result.raw)
    except Exception:  # a hostile object: its attributes, items or model_dump() raise
        return None


class _Reading:
    """The text and tool calls read so far, within the bounds."""

    __slots__ = ("calls", "chars", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.chars = 0
        self.calls: list[tuple[str, str]] = []

    def add_text(self, text: object) -> None:
        if not isinstance(text, str):
            return
        piece = str.__str__(text)[: MAX_TEXT_CHARS - self.chars]
        self.texts.append(piece)
        self.chars += len(piece)

    def add_call(self, name: object, arguments: object) -> None:
        if len(self.calls) >= MAX_TOOL_CALLS:
            return
        if isinstance(name, str):
            read = str.__str__(name)
        else:
            read = "" if name is None else safe_str(name)
        self.calls.append((read[:MAX_NAME_CHARS], canonical_arguments(arguments)))

    def answer(self) -> Answer:
        return Answer("".join(self.texts) if self.texts else None, tuple(self.calls))


def _items(value: object, limit: int = MAX_ITEMS) -> list[Any] | tuple[Any, ...]:
    """The first ``limit`` items of a list or tuple; ``()`` for anything else."""
    if isinstance(value, list | tuple):
        return value[:limit]
    return ()


def _read(raw: object) -> Answer | None:
    """An answer from the object a wrapped function returned (module docstring)."""
    if isinstance(raw, str):
        return Answer(str.__str__(raw)[:MAX_TEXT_CHARS])
    if raw is None or isinstance(raw, bytes | bytearray | int | float | list | tuple):
        return None
    choices = field_of(raw, "choices")
    if isinstance(choices, list | tuple):  # an OpenAI ChatCompletion
        message = field_of(choices[0], "message") if choices else None
        return None if message is None else _message(message)
    if field_of(raw, "role") is None:
        output = field_of(raw, "output")
        if isinstance(output, list | tuple):  # an OpenAI Responses Response
            return _responses(output)
        parts = field_of(raw, "parts")
        if isinstance(parts, list | tuple):  # a pydantic-ai ModelResponse
            return _pydantic_ai(parts)
    role, kind = field_of(raw, "role"), field_of(raw, "type")
    if role == "assistant" or (role is None and kind in ("ai", "AIMessageChunk")):
        return _message(raw)
    return None


def _message(message: object) -> Answer:
    """An assistant message in any shape the router reads in histories."""
    read = as_message(message, 0)
    reading = _Reading()
    listed = False
    for call in _items(read.get("tool_calls")):
        fn = field_of(call, "function")
        if fn is None:
            fn = field_of(call, "custom")  # an OpenAI custom (free-form) tool call
            if fn is None:
                continue
            reading.add_call(field_of(fn, "name"), field_of(fn, "input"))
        else:
            reading.add_call(field_of(fn, "name"), field_of(fn, "arguments"))
        listed = True
    _content(reading, read.get("content"), tool_use=not listed)
    if not reading.texts:
        reading.add_text(read.get("refusal"))
    return reading.answer()


def _content(reading: _Reading, content: object, *, tool_use: bool) -> None:
    """Text (and, when ``tool_use``, Anthropic ``tool_use`` calls) of a message's content."""
    if isinstance(content, str):
        reading.add_text(content)
        return
    for block in _items(content):
        if isinstance(block, str):
            reading.add_text(block)
            continue
        kind = field_of(block, "type")
        if kind in _TEXT_BLOCKS:
            reading.add_text(field_of(block, "text"))
        elif kind == "tool_use" and tool_use:
            reading.add_call(field_of(block, "name"), field_of(block, "input"))


def _responses(output: list[Any] | tuple[Any, ...]) -> Answer:
    reading = _Reading()
    for item in output[:MAX_ITEMS]:
        kind = field_of(item, "type")
        if kind == "function_call":
            reading.add_call(field_of(item, "name"), field_of(item, "arguments"))
        elif kind == "custom_tool_call":
            reading.add_call(field_of(item, "name"), field_of(item, "input"))
        elif kind == "message":
            _content(reading, field_of(item, "content"), tool_use=False)
    return reading.answer()


def _pydantic_ai(parts: list[Any] | tuple[Any, ...]) -> Answer:
    reading = _Reading()
    for part in parts[:MAX_ITEMS]:
        kind = field_of(part, "part_kind")
        if kind == "text":
            reading.add_text(field_of(part, "content"))
        elif kind == "tool-call":
            reading.add_call(field_of(part, "tool_name"), field_of(part, "args"))
    return reading.answer()
