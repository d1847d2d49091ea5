"""What every section of the config is built from: its number types and its base model.

A float or int field refuses ``true``/``false``; no float anywhere may be NaN or infinite;
unknown fields are errors, and values are frozen once validated.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = ["Integer", "NonNeg", "Number", "Positive"]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


Number = Annotated[float, BeforeValidator(_not_bool)]
"""The type of every float field: ``true``/``false`` are refused (pydantic would read them as
1.0 and 0.0, YAML reads ``yes``/``on`` as true); NaN and the infinities are refused for every
float of the config by ``allow_inf_nan=False`` on the models. Numbers written as text (YAML
reads ``1e-6``, without a dot, as a string) are still read."""
Integer = Annotated[int, BeforeValidator(_not_bool)]
"""The type of every int field: ``context_window: true`` is refused, not read as 1."""
NonNeg = Annotated[Number, Field(ge=0)]
Positive = Annotated[Number, Field(gt=0)]


class _Strict(BaseModel):
    """Base of the config's models: unknown fields are errors, values are frozen, and no float
    anywhere may be NaN or infinite (a NaN weight or threshold routed every call to the top
    tier; an infinite price made costs NaN, so no budget ever tripped)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
