"""Secrets in config: ``env:NAME`` references resolved at use, never shown.

A config value written ``env:OPENROUTER_API_KEY`` becomes a :class:`Secret` that remembers only
the variable's *name*; the value is read from the environment when a call needs it, so a config
can be loaded, printed and checked on a machine that does not hold the keys. A literal secret
(not recommended) is kept but masked in every repr.

:func:`redact` masks every secret value known to this process (a set of strings, process-wide):
a literal secret from the moment it is created, an ``env:`` one as soon as a config holding it
is validated or a Router is built on it (if the variable is set then), and in any case when it
is resolved. So a key never shows in an error, a log event or a captured span, not even on the
first call and not for a provider that was never called. Values shorter than 6 characters are
not masked (they would mask ordinary words).

Resolved values lose surrounding whitespace: a key read from a file or set with ``echo`` often
ends in a newline, which no HTTP header may hold, and no key, token or URL begins or ends with
a space. A variable holding only whitespace counts as not set.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, GetCoreSchemaHandler
from pydantic_core import core_schema

from agentroute.errors import ConfigurationError

ENV_PREFIX = "env:"
_MASK = "**********"
_MIN_MASKED = 6
_known: frozenset[str] = frozenset()
_longest_first: tuple[str, ...] = ()
"""The known values, longest first (so a key containing another is masked whole). Replaced,
never mutated: :func:`redact` may run in one thread while another learns a value."""


def _remember(value: str) -> None:
    """Know ``value`` from now on; for a URL (``redis://user:pw@host``), its password too."""
    global _known, _longest_first
    found = {value}
    if "@" in value and "://" in value:
        with contextlib.suppress(ValueError):  # not a URL after all
            found.add(urlsplit(value).password or "")
    new = {v for v in found if len(v) >= _MIN_MASKED} - _known
    if new:
        _known = _known | new
        _longest_first = tuple(sorted(_known, key=len, reverse=True))


class Secret:
    """A secret config value: an environment reference or a masked literal."""

    __slots__ = ("_literal", "env")

    def __init__(self, *, env: str | None = None, literal: str | None = None) -> None:
        if (env is None) == (literal is None):
            raise ValueError("a Secret is either an env reference or a literal")
        self.env = env
        self._literal = literal
        if literal is not None:
            _remember(literal.strip())

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
        """The value, without surrounding whitespace. Raises ConfigurationError naming the
        variable (never a value) if it is unset or blank."""
        if self.env is None:
            value = (self._literal or "").strip()
        else:
            value = (os.environ.get(self.env) or "").strip()
            if not value:
                suffix = f" (needed by {where})" if where else ""
                raise ConfigurationError(f"environment variable {self.env} is not set{suffix}")
        _remember(value)
        return value

    def remember(self) -> None:
        """Make :func:`redact` mask this secret's value from now on, if it has one here (an
        ``env:`` reference whose variable is unset is learnt when it is resolved)."""
        if self.is_available():
            self.resolve()

    def is_available(self) -> bool:
        """Whether :meth:`resolve` would succeed (without reading the value out)."""
        return self.env is None or bool((os.environ.get(self.env) or "").strip())

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


def remember_secrets(value: Any) -> None:
    """:meth:`Secret.remember` every Secret in ``value``: a pydantic model (a config), a
    mapping or a list, at any depth."""
    for secret in _secrets_in(value):
        secret.remember()


def _secrets_in(value: Any) -> Iterator[Secret]:
    if isinstance(value, Secret):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets_in(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secrets_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _secrets_in(item)


def redact(text: str) -> str:
    """Replace every secret value known in this process (see the module) with a mask, and
    the password of any URL quoted in ``text`` (one that was never a known secret, too)."""
    for value in _longest_first:
        if value in text:
            text = text.replace(value, _MASK)
    if "@" in text:
        text = _URL_PASSWORD.sub(rf"\1{_MASK}@", text)
    return text
