"""Token counts of a call: a fast estimate by default, an exact BPE count when installed.

The policy needs the size of every call (for the context-window rule and the
``context_fraction`` signal) at every step, so the default must be cheap. The usual rule of
thumb, characters / 4, is far off per call on the τ-bench conversations (JSON tool output has
far more tokens per character than prose), and further off on code. The default estimate
instead counts four character classes — ASCII letters, digits, whitespace, other — with
weights fitted by least squares against the exact o200k_base count of the τ-bench messages
(roughly: one token per word plus one per punctuation mark). Its per-call error there is a few
percent (also when fitted on half the runs and tested on the other half), and it stays close on
English prose and Python code; it costs four C-level passes over the text.
``benchmarks/token_estimate.py`` measures both; the figures are in
``benchmarks/results/token_estimate.md``.

The exact counter uses the ``bpe-openai`` package (``pip install 'agentroute[tokens]'``): it
embeds OpenAI's ``o200k_base``/``cl100k_base`` vocabularies, so it works with no network —
``tiktoken`` would download its vocabulary files at first use, which fails on machines that
reach only a package index. Other providers' tokenizers differ from OpenAI's by a few percent;
both counters are estimates for them, which is why the window rule keeps a margin.
"""

from __future__ import annotations

import string
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from agentroute._json_text import safe_str, text_of
from agentroute.errors import ConfigurationError
from agentroute.messages import as_message, is_content_parts

__all__ = [
    "CHARS_PER_TOKEN",
    "MESSAGE_OVERHEAD",
    "WEIGHTS",
    "CharsPerTokenCounter",
    "EstimateCounter",
    "ExactCounter",
    "TokenCounter",
    "count_message",
    "count_tools",
    "first_user_text",
    "make_counter",
    "message_text",
]

MESSAGE_OVERHEAD = 4
"""Tokens each message costs beyond its text (role and separators), as OpenAI documents."""

CHARS_PER_TOKEN = 4.0


class TokenCounter(Protocol):
    """Counts tokens of a text."""

    def count(self, text: str) -> int: ...


_DROP_LETTERS = str.maketrans("", "", string.ascii_letters)
_DROP_DIGITS = str.maketrans("", "", string.digits)
_LETTER_BYTES = string.ascii_letters.encode("ascii")
_DIGIT_BYTES = string.digits.encode("ascii")
WEIGHTS = (0.103, 0.557, 0.680, 0.583)
"""Tokens per ASCII letter, digit, other character, whitespace (space or newline)."""


class EstimateCounter:
    """Character-class estimate (see the module docstring); no dependency, cheap
    (``benchmarks/results/token_estimate.md``)."""

    name = "estimate"

    def count(self, text: str) -> int:
        n = len(text)
        if n == 0:
            return 0
        if text.isascii():  # the usual text: the same counts over its bytes, several times faster
            data = text.encode("ascii")
            letters = n - len(data.translate(None, _LETTER_BYTES))
            digits = n - len(data.translate(None, _DIGIT_BYTES))
            spaces = data.count(b" ") + data.count(b"\n")
        else:
            letters = n - len(text.translate(_DROP_LETTERS))
            digits = n - len(text.translate(_DROP_DIGITS))
            spaces = text.count(" ") + text.count("\n")
        other = n - letters - digits - spaces
        w_letter, w_digit, w_other, w_space = WEIGHTS
        return (
            int(letters * w_letter + digits * w_digit + other * w_other + spaces * w_space + 0.5)
            or 1
        )


class CharsPerTokenCounter:
    """The rule of thumb ``ceil(len / 4)``, kept as the baseline the benchmark compares."""

    name = "chars/4"

    def count(self, text: str) -> int:
        return int(len(text) / CHARS_PER_TOKEN + 0.999)


class ExactCounter:
    """OpenAI BPE counts through ``bpe-openai`` (offline; o200k_base by default)."""

    name = "exact"

    def __init__(self, encoding: str = "o200k_base") -> None:
        with warnings.catch_warnings():
            # bpe-openai 0.1.x loads its vocabulary with importlib.resources.open_binary,
            # deprecated since Python 3.11: its warning, not ours to fix.
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                import bpe_openai
            except ImportError:
                raise ConfigurationError(
                    "exact token counting needs the 'tokens' extra: "
                    "pip install 'agentroute[tokens]'"
                ) from None
            codec = bpe_openai.get_encoding(encoding)
        self._encode: Callable[[str], Sequence[int]] = codec.encode

    def count(self, text: str) -> int:
        return len(self._encode(text))


def make_counter(kind: Literal["estimate", "exact", "auto"] = "estimate") -> TokenCounter:
    """``estimate``; ``exact`` (raises if not installed); ``auto``: exact when installed."""
    if kind == "estimate":
        return EstimateCounter()
    if kind == "exact":
        return ExactCounter()
    try:
        return ExactCounter()
    except ConfigurationError:
        return EstimateCounter()


def message_text(message: Mapping[str, Any]) -> str:
    """The text of one message that a provider tokenizes: content, tool calls, tool ids.

    ``message`` is one read by :func:`~agentroute.messages.as_message`: a chat message (OpenAI
    or Anthropic shape), or a Responses input item (no ``role``; read by its ``type``).
    """
    if "role" not in message:
        return _item_text(message)
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif message.get("role") == "tool" and content is not None:
        text = _result_text(content)
    elif isinstance(content, list):
        text = "".join(_block_text(b) for b in content)
    else:
        text = ""
    calls = message.get("tool_calls")
    if calls:
        for call in calls:
            fn = call.get("function") or call.get("custom") or {}
            args = fn.get("arguments")
            if args is None:
                args = fn.get("input", "")
            text += safe_str(fn.get("name", "")) + _as_text(args)
    return text


def first_user_text(messages: Sequence[object]) -> str:
    """The text of the conversation's first user message ("" when there is none), whatever
    shape the messages are in (see :mod:`agentroute.messages`)."""
    for i, item in enumerate(messages):
        message = as_message(item, i)
        if message.get("role") == "user":
            return message_text(message)
    return ""


def _as_text(value: object) -> str:
    """A string as is; any other value as its JSON text, at any depth, never failing."""
    return value if isinstance(value, str) else text_of(value)


def _result_text(content: object) -> str:
    """A tool result's text: its parts' text, or its data's JSON text
    (:func:`~agentroute.messages.is_content_parts`)."""
    if content is None:
        return ""
    if is_content_parts(content):
        assert isinstance(content, list | tuple)
        return "".join(_block_text(b) for b in content)
    return _as_text(content)


def _item_text(item: Mapping[str, Any]) -> str:
    """The text of a Responses input item other than a message."""
    kind = item.get("type")
    if kind in ("function_call", "custom_tool_call"):
        return safe_str(item.get("name", "")) + _as_text(
            item.get("arguments", item.get("input", ""))
        )
    if kind in ("function_call_output", "custom_tool_call_output"):
        return _result_text(item.get("output"))
    if kind == "reasoning":
        summary = item.get("summary")
        return "".join(_block_text(b) for b in summary) if isinstance(summary, list) else ""
    if kind == "item_reference":
        return ""
    return text_of(item)  # a hosted tool's call or output: its record, roughly


def _block_text(block: Any) -> str:
    if not isinstance(block, Mapping):
        return _as_text(block)
    kind = block.get("type")
    if kind == "text":
        return _as_text(block.get("text", ""))
    if kind == "tool_use":
        return safe_str(block.get("name", "")) + text_of(block.get("input", {}))
    if kind == "tool_result":
        return _result_text(block.get("content"))
    if kind in ("image", "image_url", "input_image"):
        return "x" * 340  # providers bill a small image at roughly 85 tokens; a rough floor
    return _as_text(block.get("text", ""))


def count_message(counter: TokenCounter, message: Mapping[str, Any]) -> int:
    return counter.count(message_text(message)) + MESSAGE_OVERHEAD


def count_tools(counter: TokenCounter, tools: Sequence[Mapping[str, Any]] | None) -> int:
    """Tool schemas are sent as JSON with every call; count their serialized text (whatever
    ``tools`` holds: a wrapped function's own ``tools`` argument is counted, never refused)."""
    if tools is None:
        return 0
    if isinstance(tools, list | tuple):
        if not tools:
            return 0
        tools = list(tools)
    return counter.count(text_of(tools, separators=(",", ":")))
