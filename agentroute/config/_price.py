"""A model's price: :class:`Price`, USD per million tokens.

A module of its own, below the model sections, so that :mod:`agentroute.pricing` can build one
without importing them (a model whose price is not configured looks it up there). A provider
without a caching price gets ``cache_read`` = ``input`` (no discount) and ``cache_write`` =
``input`` (no premium); ``cache_write_1h`` defaults to ``cache_write``.
"""

from __future__ import annotations

import functools

from agentroute.config._fields import NonNeg, _Strict

__all__ = ["Price"]


class Price(_Strict):
    """USD per million tokens."""

    input: NonNeg
    output: NonNeg
    cache_read: NonNeg | None = None
    cache_write: NonNeg | None = None
    cache_write_1h: NonNeg | None = None

    @functools.cached_property
    def per_token(self) -> tuple[float, float, float, float, float]:
        """USD per token: (input, cache read, 5-minute cache write, 1-hour write, output)."""
        return (
            self.input * 1e-6,
            self.cache_read_or_input * 1e-6,
            self.cache_write_or_input * 1e-6,
            self.cache_write_1h_or_default * 1e-6,
            self.output * 1e-6,
        )

    @property
    def cache_read_or_input(self) -> float:
        return self.input if self.cache_read is None else self.cache_read

    @property
    def cache_write_or_input(self) -> float:
        return self.input if self.cache_write is None else self.cache_write

    @property
    def cache_write_1h_or_default(self) -> float:
        return self.cache_write_or_input if self.cache_write_1h is None else self.cache_write_1h
