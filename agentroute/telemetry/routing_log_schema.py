"""The routing log's schema, version 1, as pydantic models (docs/routing-log.md).

A reader validates a line with ``RoutingLogLine.validate_json(line)`` (a
:class:`pydantic.TypeAdapter` over the two kinds of line, told apart by ``kind``);
``RoutingLogLine.json_schema()`` gives the JSON Schema. Every model refuses unknown fields, so a
line of a later schema that added one fails loudly rather than being misread; a reader that
wants to accept later versions checks ``schema`` first.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "REASON_MAX_CHARS",
    "AttemptRecord",
    "OutcomeLine",
    "OutcomeRecord",
    "RoutingLogLine",
    "SessionLine",
    "ShadowLine",
    "ShadowRecord",
    "StepRecord",
    "Tokens",
    "clip_reason",
]


REASON_MAX_CHARS = 300
"""The longest shadow comparison ``reason`` a line holds."""


def clip_reason(text: str) -> str:
    """``text`` cut to :data:`REASON_MAX_CHARS` (its last character then ``…``)."""
    if len(text) <= REASON_MAX_CHARS:
        return text
    return text[: REASON_MAX_CHARS - 1] + "…"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tokens(_Model):
    input: int = Field(ge=0)
    """All input tokens, cache reads and writes included."""
    cached: int = Field(ge=0)
    """Of ``input``, read from the prompt cache."""
    cache_write: int = Field(ge=0)
    """Of ``input``, written to the prompt cache."""
    output: int = Field(ge=0)


class OutcomeRecord(_Model):
    success: bool | None
    score: float | None = Field(ge=0.0, le=1.0)
    label: str | None = Field(max_length=200)
    recorded_at: float
    """Wall-clock seconds since the epoch."""


class AttemptRecord(_Model):
    number: int = Field(ge=1)
    model: str
    deployment: str
    """``provider/provider's model name``."""
    outcome: Literal["ok", "error", "cancelled"]
    error_type: str | None
    status_code: int | None
    duration_s: float = Field(ge=0.0)


class ShadowRecord(_Model):
    """A shadowed step (``shadow:`` in the config): the same call sent to the reference tier
    in the background, and how far its answer agreed with the one the user got
    (:mod:`agentroute.shadow`). Names and numbers only: the comparator's ``reason`` names tools
    and argument keys, never a value or a text."""

    served_tier: str
    served_model: str | None
    cause: str | None
    """The served step's decision cause."""
    reference_tier: str
    reference_model: str | None
    """The model that answered the shadow call (else the last one tried)."""
    agreement: float | None = Field(ge=0.0, le=1.0)
    """``None``: no comparison (the shadow call failed, or an answer could not be read)."""
    reason: str = Field(max_length=REASON_MAX_CHARS)
    judge: bool
    """The application's judge gave ``agreement`` (else the default comparator)."""
    cost_usd: float = Field(ge=0.0)
    """The shadow call's cost: in the shadow ledger, never in the session's."""
    error_type: str | None
    """Why the shadow call gave no answer (``ProviderTimeout``, ``TimeoutError``...)."""


class StepRecord(_Model):
    step: int = Field(ge=1)
    time: float
    """When the step's call ended (wall-clock seconds since the epoch)."""
    tier: str | None
    """``None``: the call failed before its decision was recorded (rare)."""
    previous_tier: str | None
    model: str | None
    """The model that answered (else the last one tried)."""
    deployment: str | None
    cause: str | None
    score: float | None
    contributions: dict[str, float]
    tokens: Tokens | None
    """The step's billed usage; ``None`` when no attempt was billed (all failed, or a stream
    still open when its call returned: its usage is in the session's totals only)."""
    cost_usd: float = Field(ge=0.0)
    attempts: list[AttemptRecord]
    tool_errors: int = Field(ge=0)
    """Tool errors first seen at this step (new since the previous step)."""
    tool_errors_total: int = Field(ge=0)
    error_type: str | None
    """The call's error type when it failed (``AllAttemptsFailed``, a cancellation...)."""
    shadow: ShadowRecord | None = None
    """The step's shadow comparison, when it was sampled and finished before the session's line
    was written (a later one is a ``shadow`` line)."""


class SessionLine(_Model):
    schema_: Literal[1] = Field(alias="schema")
    kind: Literal["session"]
    record_id: str
    session_id: str
    agent: str | None
    user: str | None
    explicit: bool
    started_at: float
    """When the session's first step (or outcome) was recorded (wall clock)."""
    ended_at: float
    end_reason: Literal["exit", "evicted", "expired", "router_closed"]
    start_tier: str | None
    highest_tier: str | None
    tiers_reached: list[str]
    step_count: int = Field(ge=0)
    total_cost_usd: float = Field(ge=0.0)
    tokens: Tokens
    outcome: OutcomeRecord | None
    steps: list[StepRecord]


class OutcomeLine(_Model):
    schema_: Literal[1] = Field(alias="schema")
    kind: Literal["outcome"]
    record_id: str
    session_id: str
    session_known: bool
    session_record: str | None
    """The ``record_id`` of the session's line, when known."""
    agent: str | None
    start_tier: str | None
    highest_tier: str | None
    outcome: OutcomeRecord


class ShadowLine(_Model):
    """A shadow comparison that finished after its session's line was written."""

    schema_: Literal[1] = Field(alias="schema")
    kind: Literal["shadow"]
    record_id: str
    session_id: str
    session_record: str | None
    """The ``record_id`` of the session's line (``None``: the session wrote none)."""
    step: int = Field(ge=1)
    shadow: ShadowRecord


RoutingLogLine: TypeAdapter[SessionLine | OutcomeLine | ShadowLine] = TypeAdapter(
    Annotated[SessionLine | OutcomeLine | ShadowLine, Field(discriminator="kind")]
)
"""Validates one line of any kind."""
