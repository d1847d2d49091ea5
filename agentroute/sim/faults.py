"""What goes wrong, and how slowly: fault choice, content triggers and latency of one instance.

Faults are chosen per request, first from the instance's ``schedule`` (by request number), then
from its seeded probabilistic ``rates``. One random draw is made for every request whatever the
schedule says, so the probabilistic faults of request *n* do not depend on what was scheduled
before it: a run is reproducible from its seed. Latency jitter has its own RNG for the same
reason.

What each fault does on the wire is the server's job (:mod:`agentroute.sim.server`); the error
bodies are the wire modules' (:mod:`~agentroute.sim.wire_openai`,
:mod:`~agentroute.sim.wire_anthropic`). The shared vocabulary lives here: :class:`ErrorDetail`
(what an error body needs to say) and :class:`InvalidRequest` (a request the real API would
reject with a 400).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, TypeAlias

from agentroute.sim.config import FaultKind, FaultsConfig, FaultSpec, LatencyConfig

__all__ = ["ErrorDetail", "ErrorKind", "Faults", "InvalidRequest"]

ErrorKind: TypeAlias = Literal[
    "rate_limit",
    "server_error",
    "unavailable",
    "overloaded",
    "context_window",
    "content_policy",
    "invalid_request",
    "authentication",
    "not_found",
    "too_large",
]
"""Every error answer the wire modules can render."""

ERROR_FAULTS: frozenset[FaultKind] = frozenset(
    {"rate_limit", "server_error", "unavailable", "overloaded", "context_window", "content_policy"}
)
"""Fault kinds answered with an HTTP error status (the others act on the connection)."""


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """What an error body may need: the model and its window, the prompt's size, the
    Retry-After delay, a message and the offending parameter (for invalid requests)."""

    request_id: str
    model: str = ""
    window: int = 0
    prompt_tokens: int = 0
    retry_after_s: float = 1.0
    message: str = ""
    param: str | None = None


class InvalidRequest(Exception):
    """The request is malformed the way the real API would reject it (HTTP 400)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class Faults:
    """The fault plan and latency model of one instance (mutable: it owns two seeded RNGs)."""

    def __init__(self, faults: FaultsConfig, latency: LatencyConfig) -> None:
        self.config = faults
        self.latency = latency
        self._rng = random.Random(faults.seed)
        self._jitter = random.Random(faults.seed + 1)
        self._triggers = tuple(t.lower() for t in faults.content_policy_triggers)

    def pick(self, number: int) -> FaultSpec | None:
        """The fault for request ``number`` (1-based), or ``None`` for a normal answer."""
        draw = self._rng.random()
        scheduled = self.config.schedule.get(number)
        if scheduled is not None:
            return scheduled
        edge = 0.0
        for kind, rate in self.config.rates.items():
            edge += rate
            if draw < edge:
                return self.config.spec(kind)
        return None

    def trigger(self, text: str) -> str | None:
        """The configured content-policy trigger word found in ``text``, if any."""
        lowered = text.lower()
        return next((t for t in self._triggers if t in lowered), None)

    def first_byte_s(self) -> float:
        """Seconds before the answer starts: the base latency ± jitter (never negative)."""
        jitter = self.latency.jitter_ms
        base = self.latency.base_ms + (self._jitter.uniform(-jitter, jitter) if jitter else 0.0)
        return max(0.0, base) / 1000.0

    def per_token_s(self) -> float:
        return self.latency.per_output_token_ms / 1000.0
