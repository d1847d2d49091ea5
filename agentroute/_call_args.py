"""Reading the arguments of a routed call: the messages' shape, and a wrapped function's
arguments bound by name (the slow path of ``Router.wrap()``)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from agentroute.errors import ConfigurationError

__all__ = ["bind_arguments", "check_messages"]


def bind_arguments(
    sig: inspect.Signature, messages_param: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Slow path of wrap(): name every argument, then take the messages out."""
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise ConfigurationError(f"bad arguments for the wrapped function: {exc}") from None
    named: dict[str, Any] = {}
    for key, value in bound.arguments.items():
        kind = sig.parameters[key].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise ConfigurationError("wrap() cannot route a function called with *args")
        else:
            named[key] = value
    if messages_param not in named:
        raise ConfigurationError(f"the wrapped function was called without {messages_param!r}")
    return named.pop(messages_param), named


def check_messages(messages: Any) -> None:
    """Reject anything that is not a sequence of messages; each message's own shape is checked
    when the routing step first reads it (once per session, see the signal extractor)."""
    if type(messages) is not list and (
        isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence)
    ):
        raise ConfigurationError(
            f"messages must be a list of message mappings, got {type(messages).__name__}"
        )
