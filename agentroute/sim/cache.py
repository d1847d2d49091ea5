"""A provider-side prefix cache model, shared by the in-process and HTTP simulators.

It mimics OpenAI-style automatic prefix caching: a prompt's tokens are hashed in blocks; the
longest run of leading blocks already seen by *this deployment* within the TTL is a cache read,
and only prompts of at least ``min_tokens`` are cached (OpenAI: 1,024 tokens, then 128-token
blocks). A deployment's cache is its own: a call moved to another deployment starts cold,
which is exactly the loss that session affinity avoids.

It also models Anthropic-style explicit caching (:meth:`PrefixCache.lookup_marked`): only the
prefix ending at a ``cache_control`` breakpoint is cacheable; the longest cached prefix ending at
a breakpoint or at one of the 20 block boundaries before it is read, the prefix up to the last
breakpoint is written, each entry lives for its breakpoint's TTL (5 minutes by default, or 1
hour) and a read refreshes it.

Tokens are counted here as "units" of ``chars_per_token`` characters of the serialized
prompt, which is close enough for a simulator and costs no tokenizer. TTLs are read from the
simulator's :class:`~agentroute.clock.Clock` (a :class:`~agentroute.testing.FakeClock` in a
test that lets entries expire without waiting).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from agentroute.clock import Clock, SystemClock

__all__ = ["Breakpoint", "CacheOutcome", "MarkedOutcome", "PrefixCache"]


@dataclass(frozen=True, slots=True)
class CacheOutcome:
    prompt_tokens: int
    cached_tokens: int
    written_tokens: int


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A ``cache_control`` marker: the prompt prefix ``[:end]`` (characters) may be cached for
    ``ttl_s`` seconds (``None``: the cache's own TTL); ``one_hour`` marks a ``ttl: "1h"`` marker.
    ``lookback`` lists the ends of the earlier blocks whose prefixes are also looked up."""

    end: int
    ttl_s: float | None = None
    one_hour: bool = False
    lookback: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MarkedOutcome:
    """Anthropic-style accounting of one prompt: every token is exactly one of cache read,
    cache write or uncached input (``uncached_tokens``, Anthropic's own ``input_tokens``)."""

    prompt_tokens: int
    read_tokens: int
    written_tokens: int
    written_1h_tokens: int = 0

    @property
    def uncached_tokens(self) -> int:
        return self.prompt_tokens - self.read_tokens - self.written_tokens


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
        clock: Clock | None = None,
    ) -> None:
        self.ttl_s = ttl_s
        self.block_tokens = block_tokens
        self.min_tokens = min_tokens
        self.chars_per_token = chars_per_token
        self._max_blocks = max_blocks
        self._now = (clock or SystemClock()).now
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._marked: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # (used at, ttl)

    def tokens(self, text: str) -> int:
        return max(1, len(text) // self.chars_per_token)

    def lookup(self, prompt: str) -> CacheOutcome:
        """Report how much of ``prompt`` was cached, then remember its blocks."""
        total = self.tokens(prompt)
        if total < self.min_tokens:
            return CacheOutcome(total, 0, 0)
        now = self._now()
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

    def lookup_marked(self, prompt: str, breakpoints: Sequence[Breakpoint]) -> MarkedOutcome:
        """Explicit (Anthropic-style) caching of ``prompt`` at its ``breakpoints``.

        For each breakpoint, its own prefix and those ending at its ``lookback`` boundaries are
        looked up (Anthropic checks up to 20 earlier block boundaries, which is what lets a
        breakpoint that moves to the newest message hit the previous turn's entry); the longest
        prefix alive is read. If the last breakpoint's prefix is longer, the rest of it is
        written. Prefixes shorter than ``min_tokens`` are neither read nor written. Every
        cacheable breakpoint prefix is then remembered, and a read refreshes its entry's TTL.
        """
        total = self.tokens(prompt)
        marks = sorted((b for b in breakpoints if 0 < b.end <= len(prompt)), key=lambda b: b.end)
        if not marks:
            return MarkedOutcome(total, 0, 0)
        now = self._now()
        cpt = self.chars_per_token
        keys = self._prefix_keys(prompt, {e for b in marks for e in (b.end, *b.lookback)})
        read_end = 0
        for end in sorted({e for b in marks for e in (b.end, *b.lookback)}, reverse=True):
            entry = self._marked.get(keys[end])
            if entry is not None and now - entry[0] <= entry[1]:
                read_end = end
                self._marked[keys[end]] = (now, entry[1])
                break
        read = read_end // cpt
        last = marks[-1]
        written = written_1h = 0
        if last.end // cpt >= self.min_tokens and last.end > read_end:
            written = last.end // cpt - read
            hour_ends = [b.end for b in marks if b.one_hour and b.end > read_end]
            if hour_ends:
                written_1h = max(hour_ends) // cpt - read
        for mark in marks:
            if mark.end // cpt >= self.min_tokens:
                key = keys[mark.end]
                self._marked[key] = (now, self.ttl_s if mark.ttl_s is None else mark.ttl_s)
                self._marked.move_to_end(key)
        while len(self._marked) > self._max_blocks:
            self._marked.popitem(last=False)
        return MarkedOutcome(total, read, written, written_1h)

    @staticmethod
    def _prefix_keys(prompt: str, ends: set[int]) -> dict[int, bytes]:
        """A hash of ``prompt[:end]`` for each end, in one incremental pass over the prompt."""
        digest = hashlib.blake2b(digest_size=16)
        keys: dict[int, bytes] = {}
        at = 0
        for end in sorted(e for e in ends if 0 < e <= len(prompt)):
            digest.update(prompt[at:end].encode())
            at = end
            keys[end] = b"m" + digest.copy().digest()
        return keys
