"""Shared fixtures: every async test runs on asyncio and on trio (anyio's pytest plugin)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

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


_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and not (
        host.startswith("127.") or host in ("::1", "localhost") or self.family == socket.AF_UNIX
    ):
        raise RuntimeError(f"tests must not reach the network (tried {address!r})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test: a connection to anything but loopback fails loudly."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
