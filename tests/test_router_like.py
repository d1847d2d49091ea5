"""The integrations see a router through the RouterLike protocol: the Router is one, the
protocol says what the Router's methods say, and no integration imports the router module."""

from __future__ import annotations

import inspect

import pytest

from agentroute import Router
from agentroute._router_like import RouterLike
from tests.helpers import make_router
from tests.test_layers import GRAPH, MODULES


def test_a_router_is_router_like() -> None:
    router = make_router()
    assert isinstance(router, RouterLike)
    assert not isinstance(object(), RouterLike)


@pytest.mark.parametrize("name", ["wrap", "bind_session"])
def test_the_protocol_says_what_the_router_says(name: str) -> None:
    """Same parameters (names, kinds, defaults) as Router's own method: the protocol cannot
    drift from the router it stands for."""
    mine = inspect.signature(getattr(RouterLike, name)).parameters
    routers = inspect.signature(getattr(Router, name)).parameters
    assert [(p.name, p.kind, p.default) for p in mine.values()] == [
        (p.name, p.kind, p.default) for p in routers.values()
    ]


def test_the_router_config_is_the_protocols_config() -> None:
    router = make_router()
    seen: RouterLike = router
    assert seen.config is router.config


def test_no_integration_imports_the_router() -> None:
    integrations = [m for m in MODULES if m.startswith("agentroute.integrations")]
    assert "agentroute.integrations.openai" in integrations
    importing = {
        m: GRAPH[m]["agentroute.router"] for m in integrations if "agentroute.router" in GRAPH[m]
    }
    assert not importing, f"integrations import agentroute.router: {importing}"
