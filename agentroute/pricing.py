"""Cost of one response from its normalized :class:`~agentroute.Usage` and the model's prices.

cost = uncached input × input + cache reads × cache_read + 5-minute cache writes × cache_write
+ 1-hour cache writes × cache_write_1h + output × output, all prices in USD per million tokens.
``Usage.input_tokens`` already includes cached tokens (DESIGN §5), so the uncached part is what
is left after taking the cache reads and writes out: charging the full input price on all of
``input_tokens`` *and* the cache price on the reads is the classic double-count this avoids.
"""

from __future__ import annotations

from agentroute._types import Usage
from agentroute.config import Price

__all__ = ["cost_usd"]

_PER_TOKEN = 1e-6


def cost_usd(usage: Usage, price: Price) -> float:
    """USD cost of ``usage`` at ``price`` (per million tokens)."""
    write_1h = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
    write_5m = usage.cache_write_tokens - write_1h
    total = (
        usage.uncached_input_tokens * price.input
        + usage.cache_read_tokens * price.cache_read_or_input
        + write_5m * price.cache_write_or_input
        + write_1h * price.cache_write_1h_or_default
        + usage.output_tokens * price.output
    )
    return total * _PER_TOKEN
