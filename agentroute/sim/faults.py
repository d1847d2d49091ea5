"""How one simulated provider instance treats a request: which fault, how slow, what answer.

:class:`~agentroute.sim.instance.Instance` turns a request into an *action* for the HTTP layer
(:mod:`.server`), using the vocabulary defined here: an :class:`Answer` (status, headers, body
or SSE events, pacing, possibly cut short), a :class:`Hold` (a timeout), or a :class:`Drop`
(close the socket), counted in :class:`InstanceStats` and :class:`RequestRecord`.

Faults are chosen by :class:`Faults`: first the ``schedule`` (request number → fault), then the
seeded ``rates``. One random draw is made for every request whatever the schedule says, so the
probabilistic faults of request *n* do not depend on the schedule: a run is reproducible from its
seed. Latency jitter has its own RNG for the same reason.

The wire formats (:mod:`.wire_openai`, :mod:`.wire_responses`, :mod:`.wire_anthropic`) are
handed to the instance as :class:`Wire` modules (dependency injection keeps this module free of
any format); they share the vocabulary defined here: :class:`ErrorDetail`,
:class:`InvalidRequest`, :class:`Reply`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeAlias

from agentroute.sim.cache import Breakpoint, MarkedOutcome
from agentroute.sim.config import FaultsConfig, FaultSpec, LatencyConfig
from agentroute.sim.scenario import Move

__all__ = [
    "Answer",
    "Drop",
    "ErrorDetail",
    "ErrorKind",
    "Faults",
    "Hold",
    "InstanceStats",
    "InvalidRequest",
    "Reply",
    "RequestRecord",
]

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

Headers: TypeAlias = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """What an error body may need to say."""

    request_id: str
    model: str = ""
    window: int = 0
    prompt_tokens: int = 0
    retry_after_s: float = 1.0
    message: str = ""
    param: str | None = None
    code: str | None = None


class InvalidRequest(Exception):
    """The request is malformed the way the real API would reject it (HTTP 400)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer, before rendering: the move, ids and token counts."""

    move: Move
    response_id: str
    call_id: str
    created: int
    usage: MarkedOutcome
    output_tokens: int
    refused: bool = False
    chars_per_token: int = 4


class WireRequest(Protocol):
    """A parsed request of either wire format."""

    @property
    def model(self) -> str: ...
    @property
    def stream(self) -> bool: ...
    @property
    def conversation(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def tools(self) -> Sequence[Mapping[str, Any]]: ...
    def prompt(self) -> tuple[str, tuple[Breakpoint, ...] | None]: ...
    def body(self, reply: Reply) -> bytes: ...
    def events(self, reply: Reply) -> list[tuple[bytes, int]]: ...


class Wire(Protocol):
    """A wire-format module: the endpoint ``PATH`` it answers (after the instance name), the
    shapes of its ids (prefix, random characters), and how to parse a request body and render an
    error."""

    PATH: str
    RESPONSE_ID: tuple[str, int]
    CALL_ID: tuple[str, int]

    def parse(self, data: object) -> WireRequest: ...
    def error(self, kind: ErrorKind, detail: ErrorDetail) -> tuple[int, Headers, bytes]: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """Send this: ``chunks`` is one body (``streaming=False``) or SSE events, each with the
    output tokens it carries; ``per_token_s`` paces them; ``cut`` closes the socket halfway."""

    status: int
    headers: Headers
    chunks: tuple[tuple[bytes, int], ...]
    streaming: bool = False
    delay_s: float = 0.0
    per_token_s: float = 0.0
    cut: bool = False


@dataclass(frozen=True, slots=True)
class Hold:
    """A timeout: wait ``delay_s`` (forever if ``None``) or until the client leaves, then send
    ``then``."""

    delay_s: float | None
    then: Answer | None = None


@dataclass(frozen=True, slots=True)
class Drop:
    """Close the connection without answering."""


@dataclass(frozen=True, slots=True)
class InstanceStats:
    """Counters of one instance. Tokens are counted as reported to the client: ``input_tokens``
    is all input (cache reads and writes included, OpenAI's convention)."""

    requests: int = 0
    answered: int = 0
    streams: int = 0
    faults: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What one request got: ``status`` 0 means no answer (dropped, or held until the client
    left); ``usage`` is set on successful answers."""

    number: int
    model: str
    stream: bool
    status: int
    fault: str | None = None
    usage: MarkedOutcome | None = None
    output_tokens: int = 0


class Faults:
    """The fault plan and latency model of one instance (it owns two seeded RNGs)."""

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
