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
    "AttemptRecord",
    "OutcomeLine",
    "OutcomeRecord",
    "RoutingLogLine",
    "SessionLine",
    "StepRecord",
    "Tokens",
]


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


RoutingLogLine: TypeAdapter[SessionLine | OutcomeLine] = TypeAdapter(
    Annotated[SessionLine | OutcomeLine, Field(discriminator="kind")]
)
"""Validates one line of either kind."""
