"""The checks a routed call's inputs get before any routing: the messages (a list of messages,
or a string as one user message) and, for ``Router.complete()`` and ``stream()``, the tools and
the hints. Each refusal is a :class:`~agentroute.errors.ConfigurationError` naming the argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentroute._types import Message
from agentroute.errors import ConfigurationError
from agentroute.messages import TextInput
from agentroute.providers.convert_tools import checked_tools

__all__ = ["check_messages", "check_options"]


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


def check_options(tools: object, hints: object) -> None:
    """Refuse ``tools`` that are not a list of tool definitions (mappings) and ``hints`` that
    are not a mapping, for :meth:`~agentroute.Router.complete` and ``stream()``, whose
    providers convert the tools (a wrapped function's own ``tools`` are only counted).

    Raises:
        ConfigurationError: naming the argument (and the tool's index).
    """
    checked_tools(tools)
    if hints is not None and not isinstance(hints, Mapping):
        raise ConfigurationError(
            f"hints must be a mapping (e.g. {{'min_tier': 'simple'}}), got {type(hints).__name__}"
        )
