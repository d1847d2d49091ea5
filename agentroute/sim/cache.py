"""A provider-side prefix cache model, shared by the in-process and HTTP simulators.

It mimics OpenAI-style automatic prefix caching: a prompt's tokens are hashed in blocks; the
longest run of leading blocks already seen by *this deployment* within the TTL is a cache read,
and only prompts of at least ``min_tokens`` are cached (OpenAI: 1,024 tokens, then 128-token
blocks). A deployment's cache is its own: a call moved to another deployment starts cold,
which is exactly the loss that session affinity avoids.

Tokens are counted here as "units" of ``chars_per_token`` characters of the serialized
prompt, which is close enough for a simulator and costs no tokenizer.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CacheOutcome:
    prompt_tokens: int
    cached_tokens: int
    written_tokens: int


class PrefixCache:
    """Block-hash prefix cache with idle TTL and a bound on remembered blocks."""

    def __init__(
        self,
        *,
        ttl_s: float = 300.0,
        block_tokens: int = 128,
        min_tokens: int = 1024,
        chars_per_token: int = 4,
        max_blocks: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.block_tokens = block_tokens
        self.min_tokens = min_tokens
        self.chars_per_token = chars_per_token
        self._max_blocks = max_blocks
        self._clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def tokens(self, text: str) -> int:
        return max(1, len(text) // self.chars_per_token)

    def lookup(self, prompt: str) -> CacheOutcome:
        """Report how much of ``prompt`` was cached, then remember its blocks."""
        total = self.tokens(prompt)
        if total < self.min_tokens:
            return CacheOutcome(total, 0, 0)
        now = self._clock()
        block_chars = self.block_tokens * self.chars_per_token
        digest = hashlib.blake2b(digest_size=16)
        cached_blocks = 0
        still_hitting = True
        n_blocks = len(prompt) // block_chars
        for i in range(n_blocks):
            digest.update(prompt[i * block_chars : (i + 1) * block_chars].encode())
            key = digest.copy().digest()
            seen_at = self._seen.get(key)
            if still_hitting and seen_at is not None and now - seen_at <= self.ttl_s:
                cached_blocks += 1
            else:
                still_hitting = False
            self._seen[key] = now
            self._seen.move_to_end(key)
        while len(self._seen) > self._max_blocks:
            self._seen.popitem(last=False)
        cached = cached_blocks * self.block_tokens
        written = n_blocks * self.block_tokens - cached
        return CacheOutcome(total, cached, written)
