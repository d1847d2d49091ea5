"""``@value_object``: an immutable slots dataclass that is cheap to construct.

Every routed call builds about ten value objects (the call and its copies, the signals, the
decision, attempt records, the result and its copies). A
``@dataclass(frozen=True, slots=True)`` instance is slow to build, because its ``__init__`` goes
through ``object.__setattr__`` once per field; assigning through the slots' own descriptors
costs a fraction of that. Against the per-call overhead budget (docs/architecture.md,
"Performance goals"; measured in ``benchmarks/results/overhead.md``) the difference matters.

So this decorator makes a regular slots dataclass (fields, ``dataclasses.replace``,
``asdict``, repr, equality and hashing all as usual), then installs an ``__init__`` that
assigns through the slot descriptors, and a ``__setattr__``/``__delattr__`` that raise
``dataclasses.FrozenInstanceError`` — the same behaviour as ``frozen=True``. Type checkers see
a frozen dataclass through ``dataclass_transform(frozen_default=True)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, dataclass_transform

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def _frozen_setattr(self: object, name: str, value: object) -> NoReturn:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> NoReturn:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _fast_init(cls: type[Any]) -> Callable[..., None]:
    """Compile an ``__init__`` that sets each slot through its descriptor."""
    fields = dataclasses.fields(cls)
    namespace: dict[str, Any] = {}
    params, body = [], []
    for f in fields:
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is not _MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
            body.append(f"    _set_{f.name}(self, {f.name})")
        elif f.default_factory is not _MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            namespace["_SENTINEL"] = _MISSING
            params.append(f"{f.name}=_SENTINEL")
            body.append(
                f"    _set_{f.name}(self, _factory_{f.name}() if {f.name} is _SENTINEL "
                f"else {f.name})"
            )
        else:
            params.append(f.name)
            body.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["    pass"])
    exec(source, namespace)  # the same technique dataclasses itself uses
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _reduce(self: Any) -> tuple[Any, tuple[Any, ...]]:
    return (type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(self)))


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def value_object(cls: type[T]) -> type[T]:
    """Turn ``cls`` into an immutable, slotted, hashable dataclass with a fast ``__init__``."""
    made: type[Any] = dataclasses.dataclass(slots=True, unsafe_hash=True)(cls)
    for name, attr in (
        ("__init__", _fast_init(made)),
        ("__setattr__", _frozen_setattr),
        ("__delattr__", _frozen_delattr),
        ("__reduce__", _reduce),
    ):
        setattr(made, name, attr)
    return made
