"""Shared fixtures: every async test runs on asyncio and on trio (anyio's pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from agentroute import RouterConfig
from tests.helpers import config_dict


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def config() -> RouterConfig:
    return RouterConfig.from_mapping(config_dict())


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """The CLI configures structlog (an application may); keep that from leaking across tests."""
    yield
    structlog.reset_defaults()
