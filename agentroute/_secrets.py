"""Secrets in config: ``env:NAME`` references resolved at use, never shown.

A config value written ``env:OPENROUTER_API_KEY`` becomes a :class:`Secret` that remembers only
the variable's *name*; the value is read from the environment when a call needs it, so a config
can be loaded, printed and checked on a machine that does not hold the keys. A literal secret
(not recommended) is kept but masked in every repr. Values that were resolved are remembered
(process-wide, as a set of strings) so error messages coming back from providers can be
scrubbed of them with :func:`redact`.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from agentroute.errors import ConfigurationError

ENV_PREFIX = "env:"
_MASK = "**********"
_seen_values: set[str] = set()


class Secret:
    """A secret config value: an environment reference or a masked literal."""

    __slots__ = ("_literal", "env")

    def __init__(self, *, env: str | None = None, literal: str | None = None) -> None:
        if (env is None) == (literal is None):
            raise ValueError("a Secret is either an env reference or a literal")
        self.env = env
        self._literal = literal

    @classmethod
    def parse(cls, text: str) -> Secret:
        """``env:NAME`` → reference; anything else → masked literal."""
        if text.startswith(ENV_PREFIX):
            name = text[len(ENV_PREFIX) :].strip()
            if not name:
                raise ValueError("'env:' needs a variable name, e.g. env:OPENAI_API_KEY")
            return cls(env=name)
        return cls(literal=text)

    def resolve(self, where: str = "") -> str:
        """The value. Raises ConfigurationError naming the variable (never a value) if unset."""
        if self.env is None:
            value = self._literal or ""
        else:
            found = os.environ.get(self.env)
            if not found:
                suffix = f" (needed by {where})" if where else ""
                raise ConfigurationError(f"environment variable {self.env} is not set{suffix}")
            value = found
        if len(value) >= 6:
            _seen_values.add(value)
        return value

    def is_available(self) -> bool:
        """Whether :meth:`resolve` would succeed (without reading the value out)."""
        return self.env is None or bool(os.environ.get(self.env))

    @property
    def display(self) -> str:
        """What may be shown: ``env:NAME`` for a reference, a mask for a literal."""
        return f"{ENV_PREFIX}{self.env}" if self.env else _MASK

    def __repr__(self) -> str:
        return f"Secret({self.display!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Secret) and other.env == self.env and other._literal == self._literal
        )

    def __hash__(self) -> int:
        return hash((self.env, self._literal))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: Any) -> Secret:
            if isinstance(value, Secret):
                return value
            if isinstance(value, str):
                return cls.parse(value)
            raise ValueError("must be a string such as 'env:NAME'")

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: s.display),
        )


_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]*:)[^@\s]+@")
"""The password of a URL quoted in a message (``redis://user:pw@host``)."""


def redact(text: str) -> str:
    """Replace every secret value resolved so far in this process with a mask, and the
    password of any URL quoted in ``text`` (one that was never a resolved secret, too)."""
    for value in _seen_values:
        if value in text:
            text = text.replace(value, _MASK)
    if "@" in text:
        text = _URL_PASSWORD.sub(rf"\1{_MASK}@", text)
    return text
