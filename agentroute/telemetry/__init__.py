"""Telemetry: structlog events now; OpenTelemetry spans and metrics (DESIGN §7)."""
