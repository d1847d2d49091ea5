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
