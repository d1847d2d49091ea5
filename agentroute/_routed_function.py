"""The function ``Router.wrap()`` returns: a wrapped function's calls bound, checked and sent
down the router's chain to a :class:`~agentroute.providers.function.FunctionTerminal`.

Everything that can be worked out from the function and the config is worked out here, once:
whether it is async (:mod:`agentroute._async_callable`), how its parameters map to a routed call
(:mod:`agentroute._call_shape`), whether its client retries by itself
(:mod:`agentroute._sdk_retries`). Per call, the common case (the messages as the one positional
argument) binds nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias

from agentroute._async_callable import qualified_name, require_async
from agentroute._call_checks import check_messages
from agentroute._call_shape import CallShape
from agentroute._catalog import Catalog
from agentroute._sdk_retries import RetryWatch
from agentroute._steps import RouterChains
from agentroute._types import CallMode, CallNext, Message, ModelCall
from agentroute.errors import ConfigurationError
from agentroute.providers.function import FunctionTerminal, UsageOf
from agentroute.session import SessionState
from agentroute.telemetry.logs import RouteEvents

__all__ = ["routed_function"]


Begin: TypeAlias = Callable[
    [
        Sequence[Message],
        Sequence[Mapping[str, Any]] | None,
        Mapping[str, Any],
        CallMode,
        Mapping[str, Any] | None,
    ],
    ModelCall,
]


@dataclasses.dataclass(frozen=True, slots=True)
class Steps:
    """The router's side of a routed call, which the routed function runs as ``Router._step``
    does (inline: one call and one coroutine less per call)."""

    begin: Begin
    """The session's next step as a ModelCall (``Router._call``)."""
    failed: Callable[[ModelCall], None]
    """The call raised (``Router._step_failed``)."""
    answered: Callable[[SessionState | None], None]
    """The call of this session returned (the implicit-session table is told)."""


def routed_function(
    fn: Callable[..., Awaitable[Any]],
    *,
    catalog: Catalog,
    chains: Callable[[CallNext], RouterChains],
    steps: Steps,
    events: RouteEvents,
    model_param: str,
    messages_param: str | None,
    tools_param: str,
    usage_of: UsageOf | None,
    deployment_param: str | None = None,
) -> Callable[..., Awaitable[Any]]:
    """``fn`` routed: see :meth:`agentroute.Router.wrap`.

    Raises:
        ConfigurationError: ``fn`` is not an async callable, has no such parameters, or
            cannot take a configured keyword argument; ``usage_of`` is not callable.
    """
    name = qualified_name(fn)
    require_async(fn, name)
    if usage_of is not None and not callable(usage_of):
        raise ConfigurationError(
            "wrap(): usage_of must be a callable (response) -> Usage | None, got "
            f"{type(usage_of).__name__}"
        )
    configured = catalog.configured_kwargs()
    if deployment_param is not None and (
        not isinstance(deployment_param, str) or deployment_param == model_param
    ):
        raise ConfigurationError(
            "wrap(): deployment_param must be the name of a parameter of the function other "
            f"than the model's, got {deployment_param!r}"
        )
    extra = () if deployment_param is None else (deployment_param,)
    shape = CallShape.of(
        fn,
        name=name,
        model_param=model_param,
        messages_param=messages_param,
        supplied={label: (*kwargs, *extra) for label, kwargs in configured.items()},
    )

    def terminal(by_position: bool) -> FunctionTerminal:
        return FunctionTerminal(
            fn,
            catalog=catalog,
            shape=shape,
            usage_of=usage_of,
            by_position=by_position,
            events=events,
            deployment_param=deployment_param,
        )

    # each terminal's chains: a call takes the one with only the steps that can act on it
    by_name = chains(terminal(False))
    # the messages through *args, as the caller passed them: a second terminal puts them back so
    positional = (
        chains(terminal(True)) if shape.var_positional and not shape.messages_named else by_name
    )
    watch = RetryWatch(fn, name, configured, events)
    dropped = shape.dropped
    first = shape.messages_first
    by_keyword = shape.messages_keyword
    msg_name = shape.messages_param
    # a call takes a fast path (no binding) only when it provably binds: its keywords are
    # taken, and the required ones are there; anything else goes to bind(), which says why not
    open_keywords = shape.any_keyword
    keywords = shape.keywords
    required = shape.required
    begin, failed, answered = steps.begin, steps.failed, steps.answered

    async def routed(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            for key in dropped:  # the router supplies these: a caller's value is replaced
                kwargs.pop(key, None)
        fits = (open_keywords or kwargs.keys() <= keywords) and (
            not required or required <= kwargs.keys()
        )
        if fits and first and len(args) == 1 and msg_name not in kwargs:
            messages, call_params, by_position = args[0], kwargs, False
        elif fits and by_keyword and not args and msg_name in kwargs:
            messages, call_params, by_position = kwargs.pop(msg_name), kwargs, False
        else:
            messages, call_params, by_position = shape.bind(args, kwargs)
        messages = check_messages(messages)
        if not watch.done and (call_params or not watch.reads_params_only):
            watch.check(call_params)
        call = begin(messages, call_params.get(tools_param), call_params, "wrap", None)
        # Router._step's body, inlined (one call and one coroutine less per routed call)
        state = call.session
        run = (positional if by_position else by_name).pick(
            state.metadata if state is not None else None
        )
        try:
            result = await run(call)
        except BaseException:
            failed(call)
            raise
        answered(state)
        return result.raw

    # a callable object's own attributes (its client, its key) are not copied onto ``routed``
    updated = ("__dict__",) if inspect.isfunction(fn) else ()
    functools.update_wrapper(routed, fn, updated=updated)
    routed.__signature__ = shape.signature  # type: ignore[attr-defined]
    return routed
