"""pydantic validation errors as one readable message: ``field.path: reason`` per problem.

Shared by the router's config (:mod:`agentroute.config`) and the simulator's
(:mod:`agentroute.sim.config`); input values are never echoed, so a secret in a bad field
does not reach an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pydantic import ValidationError

__all__ = ["format_validation_error"]


def format_validation_error(
    exc: ValidationError,
    source: str,
    *,
    unions: Mapping[str, tuple[str, ...]] = MappingProxyType({}),
) -> str:
    """One line per problem, ``field.path: reason``; input values are never echoed.

    ``unions`` names the discriminated-union fields (field → its ``kind`` values): pydantic
    puts the chosen kind in the error path right after the field, a level the file does not
    have, so it is taken out there (and only there); a bad or missing kind is reported with
    the allowed values, never with the value given.
    """
    lines: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        parts = [p for p in err["loc"] if p != "[key]"]
        i = 1
        while i < len(parts):
            field = parts[i - 1]
            if isinstance(field, str) and parts[i] in unions.get(field, ()):
                del parts[i]
            else:
                i += 1
        loc = ".".join(str(p) for p in parts)
        msg = err["msg"].removeprefix("Value error, ")
        kinds = unions.get(str(parts[-1]), ()) if parts else ()
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "union_tag_invalid":
            msg = f"kind must be one of {', '.join(map(repr, kinds))}"
        elif err["type"] == "union_tag_not_found":
            msg = f"needs a kind, one of {', '.join(map(repr, kinds))}"
        for part in msg.split("\n"):
            lines.append(f"{loc}: {part}" if loc else part)
    head = f"invalid {source}: {len(lines)} problem{'s' if len(lines) != 1 else ''}"
    return "\n  ".join([head, *lines])
