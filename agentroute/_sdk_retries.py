"""Telling, where it can, that a wrapped function's client retries failed requests by itself.

The ``openai`` and ``anthropic`` SDK clients retry twice by default (``max_retries=2``), and
LiteLLM's ``acompletion`` too. Behind ``Router.wrap()`` that hides faults from the router: three
failed requests look like one slow failure, the deployment's failure count and cooldown lag,
and the call's deadline is spent on the same deployment instead of on the next one. ``wrap()``
cannot change the caller's client, so it says so, once per wrapped function: a ``UserWarning``
on the first call that shows it, and a ``route.sdk_retries`` structlog event (at warning level,
under the same rule as the router's other events). The cure is ``max_retries=0`` on the client
(LiteLLM: ``num_retries=0``, which sets its SDK client's ``max_retries`` too, or
``max_retries=0`` without ``num_retries``), leaving retries to the router.

What is looked at (names and counts only; nothing else of those objects is read):

* at ``wrap()``: the function itself (a bound method of an SDK resource such as
  ``client.chat.completions.create`` → its client; a method of any object → that object and
  its attributes; a ``functools.partial``'s arguments; the variables its code reads from its
  closure and module), and every deployment's configured ``kwargs``;
* on each call, until it has warned: the call's keyword arguments (a client passed in, or
  ``max_retries``/``num_retries`` above 0).

An object counts as a retrying client when its ``max_retries`` (or its ``_client``'s, for an SDK
resource) is an integer above 0.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import warnings
from collections.abc import Callable, Mapping
from types import FunctionType, ModuleType
from typing import Any

from agentroute.telemetry.logs import RouteEvents

__all__ = ["RetryWatch"]

_PLAIN = frozenset({str, bytes, int, float, bool, type(None), list, dict, tuple, set})
_COUNT_KEYS = frozenset({"max_retries", "num_retries"})
_MAX_UNWRAP = 16


class RetryWatch:
    """Watches one wrapped function's calls for a client that retries by itself; warns once.

    Attributes:
        done: it has warned (the routed function stops calling :meth:`check`).
        reads_params_only: only a call's own arguments can show a retrying client (neither
            the function, the config nor LiteLLM's default does), so :meth:`check` finds
            nothing in a call without arguments and the routed function skips it.
    """

    __slots__ = ("_events", "_litellm", "_name", "_static", "done", "reads_params_only")

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        configured: Mapping[str, Mapping[str, Any]],
        events: RouteEvents,
    ) -> None:
        self._name = name
        self._events = events
        litellm = _is_litellm(fn)
        self._static = (
            _in_function(fn) or _in_config(configured) or (_litellm_global() if litellm else None)
        )
        self._litellm = litellm and not all(map(_litellm_quiet, configured.values()))
        self.done = False
        self.reads_params_only = self._static is None and not self._litellm

    def check(self, params: Mapping[str, Any]) -> None:
        """Warn (once) if this call's function, config or arguments show a retrying client."""
        found = self._static
        if (
            found is None
            and params
            # the common call (plain data only, no retry count) is told apart in C
            and not (
                _COUNT_KEYS.isdisjoint(params) and _PLAIN.issuperset(map(type, params.values()))
            )
        ):
            found = _in_call(params)
        if found is None and self._litellm and not _litellm_quiet(params):
            found = ("LiteLLM's default (neither num_retries nor max_retries set to 0)", 2)
        if found is None:
            return
        self.done = True
        where, count = found
        warnings.warn(
            f"agentroute: the client behind {self._name} retries failed requests by itself "
            f"({where}: {count} retries): the router sees one slow failure where there were "
            f"{count + 1}, so cooldowns lag and the deadline goes to one deployment. Create "
            "the client with max_retries=0 and let the router retry and fall back.",
            UserWarning,
            stacklevel=3,
        )
        self._events.sdk_retries(self._name, where, count)


def _retries_of(obj: object) -> tuple[int, str]:
    """``max_retries`` of an SDK client, or of the client behind an SDK resource, with what
    holds it (``AsyncOpenAI``, ``AsyncCompletions of AsyncOpenAI``); ``(0, "")`` for anything
    else. Modules, classes and functions are not clients (``openai.max_retries`` configures
    the module's own default client, which a function reading ``openai`` need not use)."""
    if type(obj) in _PLAIN or isinstance(obj, (type, ModuleType, FunctionType)):
        return 0, ""
    try:
        count = getattr(obj, "max_retries", None)
        if type(count) is int and count > 0:
            return count, type(obj).__name__
        client = getattr(obj, "_client", None)
        count = getattr(client, "max_retries", None)
        if type(count) is int and count > 0:
            return count, f"{type(obj).__name__} of {type(client).__name__}"
    except Exception:  # an object whose attributes cannot be read holds no client we can see
        return 0, ""
    return 0, ""


def _counted(key: str, value: object) -> int:
    return value if key in _COUNT_KEYS and type(value) is int and value > 0 else 0


def _in_values(values: Mapping[str, Any], where: str) -> tuple[str, int] | None:
    for key, value in values.items():
        count = _counted(key, value)
        if count:
            return f"{where} {key}={value}", count
        count, holder = _retries_of(value)
        if count:
            return f"{where} {key!r} ({holder})", count
    return None


def _in_call(params: Mapping[str, Any]) -> tuple[str, int] | None:
    return _in_values(params, "the call's argument")


def _in_config(configured: Mapping[str, Mapping[str, Any]]) -> tuple[str, int] | None:
    for label, kwargs in configured.items():
        found = _in_values(kwargs, f"the kwargs of {label}:")
        if found is not None:
            return found
    return None


def _in_object(obj: object, where: str) -> tuple[str, int] | None:
    count, holder = _retries_of(obj)
    if count:
        return f"{where} ({holder})", count
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        named = {k: v for k, v in attrs.items() if isinstance(k, str)}
        return _in_values(named, f"{where}'s attribute")
    return None


def _in_function(fn: object) -> tuple[str, int] | None:
    """A retrying client held by the function: bound to it, partial'd into it, or read by its
    code from its closure or module."""
    for _ in range(_MAX_UNWRAP):
        if isinstance(fn, functools.partial):
            found = _in_values(
                {**{f"#{i}": v for i, v in enumerate(fn.args)}, **fn.keywords},
                "the partial's argument",
            )
            if found is not None:
                return found
            fn = fn.func
        elif inspect.ismethod(fn):
            found = _in_object(fn.__self__, "the method's object")
            if found is not None:
                return found
            fn = fn.__func__
        elif inspect.isfunction(fn):
            return _in_code(fn)
        else:  # a callable object: its attributes, then its __call__
            found = _in_object(fn, "the callable object")
            if found is not None:
                return found
            return None
    return None


def _in_code(fn: Callable[..., Any]) -> tuple[str, int] | None:
    try:
        seen = inspect.getclosurevars(fn)
    except (TypeError, ValueError):  # pragma: no cover - not a plain function after all
        return None
    return _in_values({**seen.globals, **seen.nonlocals}, f"{fn.__qualname__} reads")


def _is_litellm(fn: object) -> bool:
    """Whether ``fn`` is LiteLLM's own (its module is in the ``litellm`` package)."""
    inner = fn.func if isinstance(fn, functools.partial) else fn
    with contextlib.suppress(ValueError):  # a __wrapped__ cycle
        inner = inspect.unwrap(inner)  # type: ignore[arg-type]
    module = getattr(inner, "__module__", None)
    return isinstance(module, str) and (module == "litellm" or module.startswith("litellm."))


def _litellm_quiet(values: Mapping[str, Any]) -> bool:
    """Whether a LiteLLM call with these arguments makes one request: ``num_retries``, when
    given, sets the SDK client's ``max_retries`` too (LiteLLM's ``completion``), so
    ``num_retries=0`` is enough; else ``max_retries=0``."""
    count = values.get("num_retries")
    return count == 0 if count is not None else values.get("max_retries") == 0


def _litellm_global() -> tuple[str, int] | None:
    """LiteLLM's process-wide ``litellm.num_retries``, when set above 0."""
    count = getattr(sys.modules.get("litellm"), "num_retries", None)
    return ("litellm.num_retries", count) if type(count) is int and count > 0 else None
