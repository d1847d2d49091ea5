"""Whether a function handed to ``Router.wrap()`` gives an awaitable when called, told before
it is ever called.

``wrap()`` awaits every call. A plain ``def`` would run on the event loop, blocking it for the
whole model call, and its answer (a billed request) could only be thrown away afterwards; so it
is refused at ``wrap()`` time instead. Accepted, looking through partials, bound methods,
callable objects and decorators that keep ``__wrapped__``:

* an ``async def`` function or method (also a ``classmethod``/``staticmethod``);
* a callable object whose class has ``async def __call__``;
* a ``functools.partial`` of any of these;
* a plain ``def`` that says it returns an awaitable: a decorator that copies ``__wrapped__``
  from an ``async def`` (``functools.wraps``, as the ``openai``/``anthropic`` SDKs' own
  ``create`` methods do), a return annotation ``Awaitable``/``Coroutine``/``Future``/``Task``,
  or (Python 3.12+) ``inspect.markcoroutinefunction``.

An ``async def`` generator is refused (its call is iterated, never awaited), and so is a
``def`` returning a coroutine without saying so (a lambda included): write it ``async def``.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from agentroute.errors import ConfigurationError

__all__ = ["require_async"]

_AWAITABLE_NAMES = frozenset({"Awaitable", "Coroutine", "Future", "Task", "CoroutineType"})
_MAX_UNWRAP = 32


def require_async(fn: object, name: str) -> None:
    """Raise :class:`ConfigurationError` unless calling ``fn`` gives an awaitable (as far as
    its definition tells)."""
    if not callable(fn):
        raise ConfigurationError(
            f"wrap() needs an async function, got {type(fn).__name__} ({name})"
        )
    problem = _why_not_async(fn)
    if problem is not None:
        raise ConfigurationError(
            f"wrap(): {name} {problem}. wrap() awaits every call: pass an `async def` "
            "function or method, an object with `async def __call__`, or a functools.partial "
            "of one (a plain def would block the event loop for the whole model call). A def "
            "that returns a coroutine can say so with a `-> Awaitable[...]` annotation. From "
            "sync code, run the async agent loop with anyio.run()/asyncio.run()."
        )


def _why_not_async(fn: object) -> str | None:
    """None when ``fn`` is async as far as can be told, else what it is instead."""
    for _ in range(_MAX_UNWRAP):
        if inspect.iscoroutinefunction(fn):
            return None
        if inspect.isasyncgenfunction(fn):
            return "is an async generator function (its call is iterated, not awaited)"
        if isinstance(fn, functools.partial):
            fn = fn.func
            continue
        if inspect.ismethod(fn):
            fn = fn.__func__
            continue
        if _returns_awaitable(fn):
            return None
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None and callable(wrapped):
            fn = wrapped
            continue
        if inspect.isfunction(fn) or inspect.isbuiltin(fn) or inspect.isclass(fn):
            break
        fn = type(fn).__call__  # a callable object: its class's __call__ (a method, or slot)
    return "is not an async function"


def _returns_awaitable(fn: object) -> bool:
    """Whether ``fn``'s return annotation names an awaitable type (also written as a string)."""
    annotations = getattr(fn, "__annotations__", None)
    if not isinstance(annotations, dict):
        return False
    ret: Any = annotations.get("return")
    if ret is None:
        return False
    if isinstance(ret, str):
        head = ret.split("[", 1)[0].strip().rsplit(".", 1)[-1]
        return head in _AWAITABLE_NAMES
    origin = typing.get_origin(ret) or ret
    return isinstance(origin, type) and issubclass(origin, collections.abc.Awaitable)


def qualified_name(fn: Callable[..., Any] | object) -> str:
    """A readable name for ``fn`` in messages: its qualified name, through partials."""
    inner = fn.func if isinstance(fn, functools.partial) else fn
    found = getattr(inner, "__qualname__", None)
    if isinstance(found, str):
        return found if inner is fn else f"partial({found})"
    return type(fn).__qualname__ + " object"
