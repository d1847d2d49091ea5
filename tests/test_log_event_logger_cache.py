"""The event sink binds structlog's logger once per configuration, not once per event.

Binding assembles a bound logger from structlog's configuration; the sink keeps the one it
built while the configuration holds, and builds another when the application reconfigures
structlog (``configure``, ``reset_defaults``, ``capture_logs``), so events always follow the
configuration in force, level filter included.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
import structlog

from agentroute.telemetry import logs
from agentroute.telemetry.logs import RouteEvents
from agentroute.testing import capture_logs


def _keeping(level: int) -> list[Mapping[str, Any]]:
    seen: list[Mapping[str, Any]] = []

    def keep(logger: Any, method: str, event: Any) -> Any:
        seen.append(event)
        raise structlog.DropEvent

    structlog.configure(
        processors=[keep], wrapper_class=structlog.make_filtering_bound_logger(level)
    )
    return seen


def test_the_structlog_configuration_is_readable() -> None:
    # the sink learns of a reconfiguration from structlog's configuration object: if a
    # structlog upgrade moves it, every event would bind anew (correct, but slow)
    assert logs._STRUCTLOG_CONFIG is not None


def test_one_logger_per_configuration() -> None:
    _keeping(logging.INFO)
    events = RouteEvents()
    first = events.logger_for(logging.INFO)
    assert first is not None and events.logger_for(logging.WARNING) is first
    _keeping(logging.INFO)  # configured again: a new logger
    assert events.logger_for(logging.INFO) is not first


def test_a_reconfigured_level_is_followed_at_once() -> None:
    seen = _keeping(logging.INFO)
    events = RouteEvents()
    assert events.logger_for(logging.DEBUG) is None
    seen = _keeping(logging.DEBUG)
    events.sdk_retries("fn", "AsyncOpenAI", 2)
    assert events.logger_for(logging.DEBUG) is not None
    assert [e["event"] for e in seen] == ["route.sdk_retries"]
    structlog.reset_defaults()
    assert events.logger_for(logging.CRITICAL) is None  # not configured: nothing


def test_capture_logs_inside_a_configuration_captures_then_gives_back() -> None:
    seen = _keeping(logging.INFO)
    events = RouteEvents()
    events.outcome_unknown_session("a")
    with capture_logs() as captured:
        events.outcome_unknown_session("b")
    events.outcome_unknown_session("c")
    assert [e["session_id"] for e in captured] == ["b"]
    assert [e["session_id"] for e in seen] == ["a", "c"]


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO])
def test_a_stdlib_loggers_level_is_asked_per_event(level: int) -> None:
    structlog.configure(
        processors=[structlog.stdlib.render_to_log_kwargs],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
    )
    stdlib = logging.getLogger("agentroute")
    before = stdlib.level
    try:
        stdlib.setLevel(logging.WARNING)
        events = RouteEvents()
        assert events.logger_for(level) is None
        stdlib.setLevel(level)  # the same structlog configuration, a new stdlib level
        assert events.logger_for(level) is not None
    finally:
        stdlib.setLevel(before)
