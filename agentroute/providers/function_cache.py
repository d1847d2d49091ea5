"""Prompt-cache markers on the call a ``Router.wrap()``-ed function makes.

The built-in providers place the cache markers on every request they build; a wrapped function
builds its own, so without this step an Anthropic session caches nothing while affinity and the
step-down "cache loss" arithmetic count on a warm cache. Before each attempt the wrap() terminal
hands the call here, and the function gets the same markers the built-in providers send.

**Anthropic breakpoints** are placed when the deployment's provider is ``kind: anthropic``, or
when the call is in the Messages API's shape whatever the kind says (a wrap()-only config often
leaves the default ``kind: openai``): its tools have an ``input_schema``, its ``system`` param is
a list of blocks, or one of its last two messages holds a ``tool_use``, ``tool_result``,
``thinking`` or ``redacted_thinking`` block. A string ``system`` alone does not tell: that param
is provider-neutral in this library (``complete()`` turns it into an OpenAI system message), and
a wrapped OpenAI function that takes one must keep getting a string; set ``kind: anthropic``.
They go where the built-in provider puts them (:mod:`agentroute.providers.convert_cache`): the
last tool, the system prompt, the last block of the last message that can carry one; for a
history in OpenAI's shape (as LiteLLM takes it for an Anthropic model) the system prompt is the
last of its leading ``system``/``developer`` messages. The marker lasts an hour when the
provider's ``cache_ttl_s`` is 3600 or more. None is added when the call already carries one (a
top-level ``cache_control`` param, or one on a tool, a system block or any message block): the
caller manages caching. ``providers.<name>.cache_breakpoints: false`` turns them off.

The caller's objects are never changed (the agent resends them): the function gets a new
messages list, tools list or system list only where a marker goes, holding copies of just the
marked message and block; every other message is passed as the same object. A tool, message or
block that is not a mapping (an SDK object) is left as it is and gets no marker; converting it
could change what the SDK sends. The tools are the argument the router read them from
(``wrap(fn, tools_param=...)``).

**OpenAI ``prompt_cache_key``** follows ``providers.<name>.prompt_cache_key`` for ``kind:
openai`` calls that are not in Anthropic's shape: ``true`` sends the session key (hashed past 64
characters, as the built-in provider does); ``null`` (the default) sends it only where the
router can see the call goes to the official API, which is the field's documented default: the
deployment's ``base_url`` kwarg is on ``api.openai.com``. Without one the function's own client
decides where the call goes, which the router cannot see, and other servers (and other SDKs
behind a wrapped function) may reject the argument. It is passed only to a function that takes
a ``prompt_cache_key`` keyword (by name or ``**kwargs``), and a key the caller passed wins.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from agentroute._catalog import Catalog
from agentroute._types import ModelCall, Target
from agentroute.providers.convert_cache import (
    add_cache_breakpoints,
    cache_marker,
    has_cache_control,
    mark_last_block,
)
from agentroute.providers.openai import _cache_key_for

__all__ = ["WrapCacheMarkers"]

_ANTHROPIC_BLOCKS = frozenset({"tool_use", "tool_result", "thinking", "redacted_thinking"})
_SYSTEM_ROLES = frozenset({"system", "developer"})
_CACHE_KEY = "prompt_cache_key"


@dataclasses.dataclass(frozen=True, slots=True)
class _ProviderCaching:
    """One provider's cache settings, resolved once."""

    anthropic: bool  # kind: anthropic
    marker: Mapping[str, str] | None  # the breakpoint marker; None: breakpoints off
    cache_key: bool | None  # prompt_cache_key as configured (None: official API only)


class WrapCacheMarkers:
    """Adds the cache markers to a wrapped function's call (see the module docstring)."""

    def __init__(self, catalog: Catalog, fn: Callable[..., Any]) -> None:
        self._providers = {
            name: _ProviderCaching(
                anthropic=p.kind == "anthropic",
                marker=None if p.cache_breakpoints is False else cache_marker(p.cache_ttl_s),
                cache_key=p.prompt_cache_key,
            )
            for name, p in catalog.config.providers.items()
        }
        self._takes_cache_key = _takes_keyword(fn, _CACHE_KEY)

    def prepare(self, call: ModelCall, target: Target, kwargs: dict[str, Any]) -> ModelCall:
        """Put the markers into ``kwargs`` (the function's own keyword arguments, a fresh dict)
        and return ``call`` with the messages the function gets (``call`` itself when they are
        unchanged)."""
        caching = self._providers[target.provider]
        tools_key = _tools_key(call) if call.tools else None
        tools = kwargs.get(tools_key) if tools_key is not None else None
        if caching.anthropic or _anthropic_shaped(call.messages, kwargs.get("system"), tools):
            if caching.marker is None:
                return call
            messages = _place_breakpoints(call.messages, kwargs, tools_key, caching.marker)
            return (
                call if messages is call.messages else dataclasses.replace(call, messages=messages)
            )
        if (
            caching.cache_key is not False
            and self._takes_cache_key
            and call.session is not None
            and _CACHE_KEY not in kwargs
            and (
                caching.cache_key
                or ((url := kwargs.get("base_url")) is not None and _official_openai(url))
            )
        ):
            kwargs[_CACHE_KEY] = _cache_key_for(call.session.key)
        return call


def _place_breakpoints(
    messages: Sequence[Any],
    kwargs: dict[str, Any],
    tools_key: str | None,
    marker: Mapping[str, str],
) -> Sequence[Any]:
    """The messages with their breakpoints; tools and system replaced in ``kwargs``."""
    system = kwargs.get("system")
    body: dict[str, Any] = {"messages": messages, "system": system}
    if tools_key is not None:
        body["tools"] = kwargs[tools_key]
    if "cache_control" in kwargs or has_cache_control(body):
        return messages
    add_cache_breakpoints(body, marker)
    if tools_key is not None:
        kwargs[tools_key] = body["tools"]
    marked: Sequence[Any] = body["messages"]
    if system is not None:
        kwargs["system"] = body["system"]
        return marked
    return _mark_system_message(marked, marker)


def _mark_system_message(messages: Sequence[Any], marker: Mapping[str, str]) -> Sequence[Any]:
    """A history in OpenAI's shape: the marker on the last of its leading system messages."""
    end = 0
    while (
        end < len(messages)
        and isinstance(messages[end], Mapping)
        and messages[end].get("role") in _SYSTEM_ROLES
    ):
        end += 1
    if end == 0 or end == len(messages):  # no system message, or it is the last message
        return messages
    marked = mark_last_block(messages[end - 1], marker)
    if marked is None:
        return messages
    out = list(messages)
    out[end - 1] = marked
    return out


def _tools_key(call: ModelCall) -> str | None:
    """The argument the router read the call's tools from (``wrap(tools_param=...)``)."""
    tools = call.tools
    if not tools:
        return None
    return next((key for key, value in call.params.items() if value is tools), None)


def _type(item: object) -> str | None:
    """A block's ``type`` when it is a string (a tool's data may hold anything)."""
    kind = item.get("type") if isinstance(item, Mapping) else getattr(item, "type", None)
    return kind if isinstance(kind, str) else None


def _anthropic_shaped(messages: Sequence[Any], system: Any, tools: Any) -> bool:
    """Whether a call is in the Messages API's shape (see the module docstring). Runs on every
    wrap() attempt: the plain cases (no tools, no system, string or empty contents) are
    decided by exact type checks before any ABC ``isinstance``."""
    if (
        tools
        and isinstance(tools, list | tuple)
        and any(isinstance(t, Mapping) and "input_schema" in t for t in tools)
    ):
        return True
    if (
        system is not None
        and type(system) is not str
        and isinstance(system, list | tuple)
        and system
        and _type(system[0]) == "text"
    ):
        return True
    n = len(messages)
    for index in range(n - 2 if n > 2 else 0, n):
        message = messages[index]
        if type(message) is dict:
            content = message.get("content")
            if content is None or type(content) is str:
                continue  # the usual OpenAI message: no blocks
        elif isinstance(message, Mapping):
            content = message.get("content")
        else:
            content = getattr(message, "content", None)
        if isinstance(content, list | tuple) and any(
            _type(block) in _ANTHROPIC_BLOCKS for block in content
        ):
            return True
    return False


@functools.lru_cache(maxsize=64)
def _official_host(base_url: str) -> bool:
    return urlsplit(base_url).hostname == "api.openai.com"


def _official_openai(base_url: object) -> bool:
    """Whether a ``base_url`` kwarg is the official OpenAI API (none: unknown, so no)."""
    return isinstance(base_url, str) and _official_host(base_url)


def _takes_keyword(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # no signature to read: do not pass anything extra
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
