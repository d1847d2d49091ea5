"""Reading the arguments of a routed call: the messages' shape, and a wrapped function's
arguments bound by name (the slow path of ``Router.wrap()``)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from agentroute._types import Message
from agentroute.errors import ConfigurationError
from agentroute.messages import TextInput

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


def check_messages(messages: Any) -> Sequence[Message]:
    """The messages of a call as the router reads them: a sequence of messages as given, or a
    plain string (the Responses API's ``input="…"``) as one user message (:class:`TextInput`;
    a wrapped function gets the string back). Anything else is refused here; each message's
    own shape is checked when the routing step first reads it (once per session, see the
    signal extractor)."""
    if type(messages) is list:
        return messages
    if isinstance(messages, str):
        return TextInput(messages)
    if isinstance(messages, bytes | bytearray | Mapping) or not isinstance(messages, Sequence):
        raise ConfigurationError(
            "messages must be a list of messages (or a string, one user message), "
            f"got {type(messages).__name__}"
        )
    return messages
