"""Read token usage from any provider response into one normalized :class:`~agentroute.Usage`.

Cost is computed from usage on every call, and the providers disagree on what their numbers
mean, so this module is the one place that knows the field names:

* **OpenAI Chat Completions** (and compatible APIs): ``usage.prompt_tokens`` already *includes*
  cached tokens; ``prompt_tokens_details.cached_tokens`` is the cache-read part and
  ``completion_tokens_details.reasoning_tokens`` the reasoning part of ``completion_tokens``.
  **OpenRouter** adds ``prompt_tokens_details.cache_write_tokens`` (also in the ``openai`` SDK's
  ``PromptTokensDetails``). **DeepSeek** reports its cache at the top level of ``usage`` as
  ``prompt_cache_hit_tokens`` / ``prompt_cache_miss_tokens`` (``prompt_tokens`` = hit + miss);
  the hit count is the cache read.
* **OpenAI Responses API**: ``usage.input_tokens`` includes cached tokens;
  ``input_tokens_details.cached_tokens`` / ``.cache_write_tokens`` and
  ``output_tokens_details.reasoning_tokens``.
* **Anthropic Messages**: ``usage.input_tokens`` *excludes* the cache, so the normalized input is
  ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``; the optional
  ``cache_creation.ephemeral_1h_input_tokens`` is the one-hour part of the cache write (priced
  higher), and ``output_tokens_details.thinking_tokens`` the reasoning part of ``output_tokens``.
* **pydantic-ai** (``RequestUsage``, on ``ModelResponse.usage``) and **agentroute's own**
  :class:`~agentroute.Usage`: ``input_tokens`` *includes* ``cache_read_tokens`` and
  ``cache_write_tokens`` (``cache_write_1h_tokens`` the one-hour part); reasoning is
  ``output_reasoning_tokens`` (``details["reasoning_tokens"]`` in older versions). A
  ``RequestUsage`` whose ``unmeasured_requests`` covers all its requests says the response
  omitted usage: its zeros carry no information, so it reads as no usage.
* **LangChain** (``AIMessage.usage_metadata``): ``input_tokens`` is the sum of all input types,
  cache included; ``input_token_details.cache_read`` / ``.cache_creation`` (and
  langchain-anthropic's ``ephemeral_1h_input_tokens``), ``output_token_details.reasoning``.

Which shape a usage object has is decided by the fields present, in this order: a
``prompt_tokens`` or ``completion_tokens`` field means Chat Completions; else a non-null
``input_tokens_details`` means the Responses API; else Anthropic's own cache field names mean
Anthropic; else ``cache_read_tokens`` / ``cache_write_tokens`` mean pydantic-ai (or
:class:`~agentroute.Usage`); else ``input_token_details`` / ``output_token_details`` mean
LangChain; else ``input_tokens`` / ``output_tokens`` are read as Anthropic's (without a cache
field every reading agrees, so a Responses usage without details is read correctly too). Anything
else carries no usage and gives ``None``.

The response may be an SDK object (a pydantic model of the ``openai`` / ``anthropic`` SDKs, whose
extra fields such as DeepSeek's are plain attributes), any object with attributes, or a mapping;
either the whole response (with a ``usage`` field, which also covers streaming events, or
LangChain's ``usage_metadata``) or the usage object itself. A raw response of the ``openai`` /
``anthropic`` SDKs (``with_raw_response``, as LangChain's ``ChatOpenAI`` gets it: an object with
an ``http_response`` and a synchronous ``parse()``) is read through ``parse()``, whose result the
SDK caches for the caller. No framework is imported: everything is read by name.

This runs on every call, so there is no validation layer: one small getter reads mappings and
attributes alike, and the common SDK shapes are recognized by their first fields. ``None`` counts
as 0; a value that is not a non-negative integer raises ``ValueError`` naming the field (the
caller translates it).

:class:`StreamUsage` reads the usage of a streamed answer from its events, one at a time.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from agentroute._types import Usage

__all__ = ["StreamUsage", "usage_from_response"]


_ABSENT = object()


def _get(obj: object, name: str) -> object:
    """``obj[name]`` for mappings, ``obj.name`` otherwise; ``None`` when absent.

    An absent attribute of a pydantic model is costly through ``getattr`` (pydantic's
    ``__getattr__`` formats an error that is then thrown away), and recognizing a shape reads
    several absent names: so fields are looked up in the instance ``__dict__`` first, and a
    pydantic model's extras in its ``__pydantic_extra__``; only a name its class defines
    (a property) goes through ``getattr``."""
    if obj is None:
        return None
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(name)
    fields = getattr(obj, "__dict__", None)
    if fields is not None:
        value = fields.get(name, _ABSENT)
        if value is not _ABSENT:
            return value
    try:
        extra = obj.__pydantic_extra__  # type: ignore[attr-defined]
    except AttributeError:
        return getattr(obj, name, None)
    if extra and name in extra:
        return extra[name]
    kind = type(obj)
    defined = _DEFINED.get((kind, name))
    if defined is None:  # asked once per class and name (a pydantic class misses slowly too)
        defined = _DEFINED[(kind, name)] = any(name in k.__dict__ for k in kind.__mro__)
    return getattr(obj, name, None) if defined else None


_DEFINED: dict[tuple[type, str], bool] = {}
"""Whether a pydantic model class defines a name (a property, say): a few classes times the
few names read here."""


def _int(value: object, path: str) -> int:
    """A token count: ``None`` is 0, integral floats are accepted, anything else is an error."""
    if value is None:
        return 0
    if type(value) is int:
        count = value
    elif (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    ):
        count = int(value)
    else:
        raise ValueError(f"{path} is not an integer: {value!r}")
    if count < 0:
        raise ValueError(f"{path} is negative: {count}")
    return count


def _field(obj: object, name: str, path: str) -> int:
    """``obj``'s count ``name`` (see :func:`_int`); ``path`` names ``obj`` in an error. The
    usual value (absent, or a non-negative int) returns before the error path is formatted."""
    if obj is None:
        return 0
    value = _get(obj, name)
    if value is None:
        return 0
    if type(value) is int and value >= 0:
        return value
    return _int(value, f"{path}.{name}")


def usage_from_response(response: object) -> Usage | None:
    """The normalized usage carried by ``response``, or ``None`` if it carries none.

    Recognition rule (first match wins): ``prompt_tokens``/``completion_tokens`` → OpenAI Chat
    Completions (with OpenRouter's ``cache_write_tokens`` and DeepSeek's
    ``prompt_cache_hit_tokens``); non-null ``input_tokens_details`` → OpenAI Responses;
    ``cache_read_input_tokens``/``cache_creation_input_tokens`` → Anthropic Messages (cache
    tokens added to the input); ``cache_read_tokens``/``cache_write_tokens`` → pydantic-ai;
    ``input_token_details``/``output_token_details`` → LangChain; ``input_tokens``/
    ``output_tokens`` → Anthropic Messages.
    Raises ``ValueError`` naming the field when a count is not a non-negative integer.
    """
    if response is None:
        return None
    if type(response) is Usage:
        return response
    if type(response) is dict:  # the usual dict answer: its usage read without the dispatch
        usage = response.get("usage")
        if type(usage) is dict:
            prompt = usage.get("prompt_tokens")
            completion = usage.get("completion_tokens")
            if prompt is not None or completion is not None:
                return _chat_completions(usage, prompt, completion)
            return _read(usage)
    usage = _get(response, "usage")
    if usage is None:
        # LangChain's messages, a raw SDK response, the usage object itself, or no usage.
        usage = _get(response, "usage_metadata")
        if usage is None:
            parsed = _parsed(response)
            if parsed is not None:
                return usage_from_response(parsed)
            usage = response
    elif isinstance(usage, (str, bytes, int, float)):
        raise ValueError(f"usage is not an object: {usage!r}")
    return _read(usage)


def _read(usage: object) -> Usage | None:
    prompt = _get(usage, "prompt_tokens")
    completion = _get(usage, "completion_tokens")
    if prompt is not None or completion is not None:
        return _chat_completions(usage, prompt, completion)
    details = _get(usage, "input_tokens_details")
    if details is not None:
        return _responses(usage, details)
    if (
        _get(usage, "cache_read_input_tokens") is not None
        or _get(usage, "cache_creation_input_tokens") is not None
    ):
        return _anthropic(usage)
    if _has(usage, "cache_read_tokens", "cache_write_tokens"):
        return _inclusive(usage)
    if _has(usage, "input_token_details", "output_token_details"):
        return _langchain(usage)
    if _get(usage, "input_tokens") is not None or _get(usage, "output_tokens") is not None:
        return _anthropic(usage)
    return None


def _has(usage: object, first: str, second: str) -> bool:
    return _get(usage, first) is not None or _get(usage, second) is not None


def _parsed(response: object) -> object:
    """What a raw SDK response (``with_raw_response``) parses to, when it parses synchronously
    (``LegacyAPIResponse``); ``None`` for anything else."""
    if type(response) is dict or _get(response, "http_response") is None:
        return None
    parse = getattr(response, "parse", None)
    if not callable(parse) or inspect.iscoroutinefunction(parse):
        return None  # an async parse() is awaited by the caller (the wrap() terminal)
    return parse()


def _chat_completions(usage: object, prompt: object, completion: object) -> Usage:
    input_tokens = _int(prompt, "usage.prompt_tokens")
    details = _get(usage, "prompt_tokens_details")
    path = "usage.prompt_tokens_details"
    cache_read = _field(details, "cached_tokens", path)
    cache_write = _field(details, "cache_write_tokens", path)
    # DeepSeek: top-level hit/miss counts; prompt_tokens = hit + miss.
    hit = _field(usage, "prompt_cache_hit_tokens", "usage")
    if hit and not cache_read:
        cache_read = hit
    if prompt is None and hit:
        input_tokens = hit + _field(usage, "prompt_cache_miss_tokens", "usage")
    out_details = _get(usage, "completion_tokens_details")
    return Usage(
        input_tokens=input_tokens,
        output_tokens=_int(completion, "usage.completion_tokens"),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=_field(out_details, "reasoning_tokens", "usage.completion_tokens_details"),
    )


def _responses(usage: object, details: object) -> Usage:
    path = "usage.input_tokens_details"
    out_details = _get(usage, "output_tokens_details")
    return Usage(
        input_tokens=_field(usage, "input_tokens", "usage"),
        output_tokens=_field(usage, "output_tokens", "usage"),
        cache_read_tokens=_field(details, "cached_tokens", path),
        cache_write_tokens=_field(details, "cache_write_tokens", path),
        reasoning_tokens=_field(out_details, "reasoning_tokens", "usage.output_tokens_details"),
    )


def _anthropic(usage: object) -> Usage:
    cache_read = _field(usage, "cache_read_input_tokens", "usage")
    cache_write = _field(usage, "cache_creation_input_tokens", "usage")
    split = _get(usage, "cache_creation")
    path = "usage.cache_creation"
    write_1h = _field(split, "ephemeral_1h_input_tokens", path)
    if not cache_write and split is not None:
        cache_write = _field(split, "ephemeral_5m_input_tokens", path) + write_1h
    out_details = _get(usage, "output_tokens_details")
    path = "usage.output_tokens_details"
    reasoning = _field(out_details, "thinking_tokens", path) or _field(
        out_details, "reasoning_tokens", path
    )
    return Usage(
        input_tokens=_field(usage, "input_tokens", "usage") + cache_read + cache_write,
        output_tokens=_field(usage, "output_tokens", "usage"),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=min(write_1h, cache_write),
        reasoning_tokens=reasoning,
    )


def _inclusive(usage: object) -> Usage | None:
    """pydantic-ai's ``RequestUsage`` / ``RunUsage`` and agentroute's own ``Usage``: the input
    count already includes the cache reads and writes."""
    unmeasured = _field(usage, "unmeasured_requests", "usage")
    if unmeasured and unmeasured >= max(1, _field(usage, "requests", "usage")):
        return None  # the response omitted usage: these zeros are not a free call
    written = _field(usage, "cache_write_tokens", "usage")
    reasoning = _field(usage, "output_reasoning_tokens", "usage") or _field(
        usage, "reasoning_tokens", "usage"
    )
    if not reasoning:
        reasoning = _field(_get(usage, "details"), "reasoning_tokens", "usage.details")
    return Usage(
        input_tokens=_field(usage, "input_tokens", "usage"),
        output_tokens=_field(usage, "output_tokens", "usage"),
        cache_read_tokens=_field(usage, "cache_read_tokens", "usage"),
        cache_write_tokens=written,
        cache_write_1h_tokens=min(_field(usage, "cache_write_1h_tokens", "usage"), written),
        reasoning_tokens=reasoning,
    )


def _langchain(usage: object) -> Usage:
    """LangChain's ``usage_metadata``: ``input_tokens`` is the sum of every input type."""
    details = _get(usage, "input_token_details")
    path = "usage.input_token_details"
    written = _field(details, "cache_creation", path)
    return Usage(
        input_tokens=_field(usage, "input_tokens", "usage"),
        output_tokens=_field(usage, "output_tokens", "usage"),
        cache_read_tokens=_field(details, "cache_read", path),
        cache_write_tokens=written,
        cache_write_1h_tokens=min(_field(details, "ephemeral_1h_input_tokens", path), written),
        reasoning_tokens=_field(
            _get(usage, "output_token_details"), "reasoning", "usage.output_token_details"
        ),
    )


_ANTHROPIC_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "output_tokens_details",
)
_RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class StreamUsage:
    """The usage of one streamed answer, read from its events as they pass (:meth:`feed`).

    * **Anthropic** (``messages.create(stream=True)``, and the raw events under
      ``messages.stream()``): ``message_start`` carries the input and cache counts,
      ``message_delta`` the cumulative output (and, where the API sends them, updated input and
      cache counts: a field present there replaces the earlier one); ``message_stop`` ends it.
    * **OpenAI Responses**: ``response.completed`` (or ``.incomplete`` / ``.failed``) carries the
      whole response and its usage.
    * **OpenAI Chat Completions** (and compatible APIs): the chunk with a ``usage`` (only with
      ``stream_options={"include_usage": True}``; the last one, with no choices). A provider
      that reports usage on every chunk reports running totals: the last one counts.
    * **LangChain** message chunks: ``usage_metadata`` pieces, which add up (the way
      LangChain's own ``AIMessageChunk`` addition sums them).

    ``usage`` is ``None`` while no event has carried any; ``complete`` says that the event that
    ends the answer's usage report has passed (a stream closed after it lost nothing).
    Raises ``ValueError`` naming the field, as :func:`usage_from_response` does.
    """

    __slots__ = ("_anthropic", "_last", "_summed", "complete")

    def __init__(self) -> None:
        self._anthropic: dict[str, object] | None = None
        self._last: Usage | None = None
        self._summed: Usage | None = None
        self.complete = False

    @property
    def usage(self) -> Usage | None:
        """The answer's usage as far as the events seen have reported it."""
        return self._last if self._summed is None else self._summed

    def feed(self, event: object) -> None:
        """Take the usage ``event`` carries, if any."""
        kind = _get(event, "type")
        if kind == "message_start":
            self._anthropic = {}
            self._merge(_get(_get(event, "message"), "usage"))
        elif kind == "message_delta":
            self._merge(_get(event, "usage"))
        elif kind == "message_stop":
            self.complete = True
        elif type(kind) is str and kind.startswith("response."):
            response = _get(event, "response")
            usage = _get(response, "usage")
            if usage is not None:
                self._last = _read(usage)
            if kind in _RESPONSE_ENDS:
                self.complete = True
        else:
            usage = _get(event, "usage")
            if usage is not None:
                if isinstance(usage, (str, bytes, int, float)):
                    raise ValueError(f"usage is not an object: {usage!r}")
                if not callable(usage):  # pydantic-ai's streamed response has a usage() method
                    self._last = _read(usage)
                    self.complete = not _get(event, "choices")
                return
            metadata = _get(event, "usage_metadata")
            if metadata is not None:
                piece = _read(metadata)
                if piece is not None:
                    self._summed = piece if self._summed is None else self._summed + piece

    def _merge(self, usage: object) -> None:
        """Fold an Anthropic event's usage into the counts so far (a present field wins)."""
        if usage is None:
            return
        fields = self._anthropic if self._anthropic is not None else {}
        for name in _ANTHROPIC_FIELDS:
            value = _get(usage, name)
            if value is not None:
                fields[name] = value
        self._anthropic = fields
        self._last = _anthropic(fields)
