"""Telemetry: structlog events (:mod:`.logs`), OpenTelemetry spans (:mod:`.spans`) and metrics
(:mod:`.metrics`); every attribute name in :mod:`.attributes`. The library uses the
OpenTelemetry API only and never configures a global provider (docs/architecture.md,
"Telemetry")."""

__all__: list[str] = []
