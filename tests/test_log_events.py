"""structlog events: silent until the app configures structlog; forced on/off by config."""

from __future__ import annotations

import logging

import pytest
import structlog

from agentroute import Router
from agentroute.testing import ScriptedProvider, capture_logs
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio


def router(log_events: bool | None) -> Router:
    data = config_dict(telemetry={"log_events": log_events})
    return Router(data, providers={"alpha": ScriptedProvider(default="ok")})


async def test_an_unconfigured_app_gets_no_output(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.reset_defaults()
    assert not structlog.is_configured()
    await router(None).complete(CONVERSATION)
    assert capsys.readouterr().out == ""


async def test_events_flow_once_the_app_configured_structlog() -> None:
    with capture_logs() as events:
        await router(None).complete(CONVERSATION)
    names = [e["event"] for e in events]
    assert names == ["route.decision", "route.attempt", "route.affinity"]
    assert events[0]["tier"] == "simple" and events[1]["outcome"] == "ok"
    # small has a cache_read price below its input price: the first call pins its deployment
    assert (events[2]["pin"], events[2]["deployment"]) == ("new", "alpha/small-1")


async def test_forced_on_and_off(capsys: pytest.CaptureFixture[str]) -> None:
    with capture_logs() as events:
        await router(False).complete(CONVERSATION)
    assert events == []
    structlog.reset_defaults()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(),
    )
    await router(True).complete(CONVERSATION)
    assert "route.decision" in capsys.readouterr().out
