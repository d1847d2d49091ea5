"""Cost of one response from its normalized :class:`~agentroute.Usage` and the model's prices,
and the price database lookup for models configured without a price.

cost = uncached input × input + cache reads × cache_read + 5-minute cache writes × cache_write
+ 1-hour cache writes × cache_write_1h + output × output, all prices in USD per million tokens.
``Usage.input_tokens`` already includes cached tokens, so the uncached part is what
is left after taking the cache reads and writes out: charging the full input price on all of
``input_tokens`` *and* the cache price on the reads is the classic double-count this avoids.

**Prices from genai-prices.** A model configured without ``price`` gets one from the
`genai-prices <https://github.com/pydantic/genai-prices>`_ database (the optional extra
``agentroute[prices]``), looked up once, when the config is validated (:func:`lookup_price`).
The package is imported only then: its data is slow to load, and pulls in an HTTP client
of its own, so it is neither imported with agentroute nor a core dependency.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agentroute._types import Usage
from agentroute.clock import wall_time
from agentroute.config._price import Price

if TYPE_CHECKING:
    from genai_prices.types import ModelPrice

__all__ = ["PriceNotFound", "cost_usd", "lookup_price"]


def cost_usd(usage: Usage, price: Price) -> float:
    """USD cost of ``usage`` at ``price`` (per million tokens)."""
    fresh, read, write, write_1h_price, output = price.per_token
    written = usage.cache_write_tokens
    write_1h = min(usage.cache_write_1h_tokens, written)
    return (
        max(0, usage.input_tokens - usage.cache_read_tokens - written) * fresh
        + usage.cache_read_tokens * read
        + (written - write_1h) * write
        + write_1h * write_1h_price
        + usage.output_tokens * output
    )


class PriceNotFound(LookupError):
    """The price database has no token price for a reference (the message says why)."""


@functools.cache
def lookup_price(ref: str, *, guess_provider: bool = False) -> Price:
    """The current price of ``ref`` in the genai-prices database.

    ``ref`` is ``"provider:model"`` — a genai-prices provider id (``anthropic``, ``openai``,
    ``openrouter``, ``deepseek``, …; aliases it knows are accepted) and the model name as sent
    to that provider — or a bare ``"model"``, whose provider genai-prices guesses from the name
    (``claude-…`` → Anthropic). With ``guess_provider``, an unknown provider id also falls back
    to that guess (used for a deployment's provider, whose name is the user's own).

    The price taken is the one in force today. Tiered prices (by prompt length) give their base
    tier; a price that changes with the time of day (DeepSeek's off-peak discount) is taken at
    its highest, so budgets err on the safe side. Cache prices genai-prices does not list keep
    the :class:`~agentroute.config.Price` defaults (the input price).

    Raises:
        PriceNotFound: genai-prices is not installed, or has no token price for ``ref``.
    """
    try:
        from genai_prices import data_snapshot
    except ImportError:
        raise PriceNotFound(
            "genai-prices is not installed (pip install 'agentroute[prices]')"
        ) from None
    snapshot = data_snapshot.get_snapshot()  # the bundled data, or what UpdatePrices fetched
    provider_id, sep, model_ref = ref.partition(":")
    if not sep:
        provider_id, model_ref = "", ref
    if not model_ref:
        raise PriceNotFound(f"{ref!r} names no model (expected 'provider:model' or 'model')")
    if provider_id and data_snapshot.find_provider_by_id(snapshot.providers, provider_id) is None:
        if not guess_provider:
            raise PriceNotFound(f"genai-prices knows no provider {provider_id!r} (in {ref!r})")
        provider_id = ""
    try:
        provider, model = snapshot.find_provider_model(model_ref, None, provider_id or None, None)
    except LookupError:
        where = f"provider {provider_id!r}" if provider_id else "any provider"
        raise PriceNotFound(f"genai-prices has no model {model_ref!r} for {where}") from None
    prices = _current(model.prices, datetime.fromtimestamp(wall_time(), UTC))  # today's
    values = {key: _base(getattr(prices, f"{key}_mtok", None)) for key in _KEYS}
    if values["input"] is None or values["output"] is None:
        raise PriceNotFound(
            f"genai-prices has no input/output token price for {provider.id}:{model.id}"
        )
    return Price(**{k: v for k, v in values.items() if v is not None})


_KEYS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
"""Our price fields; genai-prices names them ``<key>_mtok`` (USD per million tokens)."""


def _current(prices: Any, now: datetime) -> ModelPrice:
    """The model's prices in force at ``now``; of the prices that apply at some time of the
    day, the highest."""
    from genai_prices.types import ModelPrice, StartDateConstraint, TimeOfDateConstraint

    if isinstance(prices, ModelPrice):
        return prices
    # Conditional prices: the last one in force wins. A time-of-day price may or may not be in
    # force at a given call, so it is a candidate and the search goes on to the ones before.
    candidates: list[ModelPrice] = []
    for conditional in reversed(prices):
        constraint = conditional.constraint
        if isinstance(constraint, TimeOfDateConstraint):
            candidates.append(conditional.prices)
        elif constraint is None or (
            isinstance(constraint, StartDateConstraint) and constraint.active(now)
        ):
            candidates.append(conditional.prices)
            break
    if not candidates:  # nothing in force yet: genai-prices takes the first
        candidates.append(prices[0].prices)
    return max(
        candidates,
        key=lambda p: (_base(p.input_mtok) or 0.0, _base(p.output_mtok) or 0.0),
    )


def _base(value: Any) -> float | None:
    """A price as a float: a plain Decimal, or the base of tiered prices."""
    if value is None:
        return None
    return float(getattr(value, "base", value))
