"""The ``telemetry`` section: whether spans carry message content, and structlog events."""

from __future__ import annotations

from agentroute.config._fields import _Strict

__all__ = ["TelemetryConfig"]


class TelemetryConfig(_Strict):
    capture_content: bool = False
    log_events: bool | None = None
    """structlog events: ``None`` (auto) emits them once the application has configured
    structlog, so an unconfigured app gets no output from the library; ``true``/``false``
    force them on or off."""
