"""The ``telemetry`` section: whether spans carry message content, structlog events, and the
routing log with the outcomes' retention."""

from __future__ import annotations

from pydantic import Field

from agentroute.config._fields import Positive, _Strict

__all__ = ["TelemetryConfig"]


class TelemetryConfig(_Strict):
    capture_content: bool = False
    log_events: bool | None = None
    """structlog events: ``None`` (auto) emits them once the application has configured
    structlog, so an unconfigured app gets no output from the library; ``true``/``false``
    force them on or off."""
    routing_log: str | None = Field(default=None, min_length=1)
    """A file the router appends one JSON line per session to (docs/routing-log.md); ``None``:
    no routing log. ``Router(routing_log=...)`` wins over it."""
    outcome_ttl_s: Positive = 7 * 86400.0
    """How long an ended session's summary (start and highest tier, its routing-log record id,
    its last route span) stays in the state store, so that ``router.record_outcome(id)`` from
    another process can attach an outcome to it."""
