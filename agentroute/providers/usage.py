"""Read token usage from any provider response into one normalized :class:`~agentroute.Usage`.

Cost is computed from usage on every call, and the providers disagree on what their numbers
mean, so this module is the one place that knows the field names (DESIGN §5):

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

Which shape a usage object has is decided by the fields present, in this order: a
``prompt_tokens`` or ``completion_tokens`` field means Chat Completions; else a non-null
``input_tokens_details`` means the Responses API; else ``input_tokens`` / ``output_tokens`` mean
Anthropic (without any cache field the two readings agree, so a Responses usage without details
is read correctly too). Anything else carries no usage and gives ``None``.

The response may be an SDK object (a pydantic model of the ``openai`` / ``anthropic`` SDKs, whose
extra fields such as DeepSeek's are plain attributes), any object with attributes, or a mapping;
either the whole response (with a ``usage`` field, which also covers streaming events) or the
usage object itself. This runs on every call, so there is no validation layer and no SDK import:
one small getter reads mappings and attributes alike. ``None`` counts as 0; a value that is not a
non-negative integer raises ``ValueError`` naming the field (the caller translates it).
"""

from __future__ import annotations

from collections.abc import Mapping

from agentroute._types import Usage

__all__ = ["usage_from_response"]


def _get(obj: object, name: str) -> object:
    """``obj[name]`` for mappings, ``obj.name`` otherwise; ``None`` when absent."""
    if obj is None:
        return None
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


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
    return _int(_get(obj, name), f"{path}.{name}")


def usage_from_response(response: object) -> Usage | None:
    """The normalized usage carried by ``response``, or ``None`` if it carries none.

    Recognition rule (first match wins): ``prompt_tokens``/``completion_tokens`` → OpenAI Chat
    Completions (with OpenRouter's ``cache_write_tokens`` and DeepSeek's
    ``prompt_cache_hit_tokens``); non-null ``input_tokens_details`` → OpenAI Responses;
    ``input_tokens``/``output_tokens`` → Anthropic Messages (cache tokens added to the input).
    Raises ``ValueError`` naming the field when a count is not a non-negative integer.
    """
    if response is None:
        return None
    usage = _get(response, "usage")
    if usage is None:
        # Either a response without usage, or the usage object itself.
        usage = response
    elif isinstance(usage, (str, bytes, int, float)):
        raise ValueError(f"usage is not an object: {usage!r}")

    prompt = _get(usage, "prompt_tokens")
    completion = _get(usage, "completion_tokens")
    if prompt is not None or completion is not None:
        return _chat_completions(usage, prompt, completion)
    details = _get(usage, "input_tokens_details")
    if details is not None:
        return _responses(usage, details)
    if _get(usage, "input_tokens") is not None or _get(usage, "output_tokens") is not None:
        return _anthropic(usage)
    return None


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
