"""The default transport (``default_client()`` → ``AutoTransport``) over real loopback HTTP.

Against the simulator, on asyncio (aiohttp's pool) and trio (httpx's pool, sharded): plain and
streamed calls, a timeout → ProviderTimeout, a refused or dropped connection →
ProviderConnectionError, and closing that leaves no aiohttp session behind. Plus the mapping of
aiohttp's own exceptions, as httpx-aiohttp chains them and as they come raw.
"""

from __future__ import annotations

import gc
import socket
import time
from contextlib import aclosing
from typing import Any

import aiohttp
import anyio
import httpx
import pytest

from agentroute import Target
from agentroute._types import ModelCall
from agentroute.errors import ProviderConnectionError, ProviderTimeout
from agentroute.providers.auto_transport import AutoTransport, ShardedHTTPTransport, _translated
from agentroute.providers.classify import classify_exception
from agentroute.providers.openai import OpenAIProvider
from agentroute.providers.transport import default_client
from agentroute.sim.server import Simulator, run_simulator
from tests.helpers import simulator_fixture

pytestmark = pytest.mark.anyio

CONFIG: dict[str, Any] = {
    "instances": {
        "ok": {"kind": "openai"},
        "slow": {"kind": "openai", "latency": {"base_ms": 50}},
        "hang": {"kind": "openai", "faults": {"schedule": {1: "timeout", 2: "timeout"}}},
        "drop": {"kind": "openai", "faults": {"schedule": {1: "drop"}}},
        "cut": {"kind": "openai", "faults": {"schedule": {1: "drop_mid_response"}}},
    }
}
TARGET = Target("small", "simple", "p", "openai", "gpt-4o-mini", 128_000)
CALL = ModelCall(messages=[{"role": "user", "content": "hello"}], target=TARGET)
LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=16, keepalive_expiry=60)


sim = simulator_fixture(CONFIG)


def provider(base_url: str, client: httpx.AsyncClient | None) -> OpenAIProvider:
    return OpenAIProvider(name="p", base_url=base_url, api_key="sk-test", client=client)


def auto(client: httpx.AsyncClient) -> AutoTransport:
    transport = client._transport
    assert isinstance(transport, AutoTransport)
    return transport


async def streamed(p: OpenAIProvider) -> list[Any]:
    async with aclosing(p.stream(CALL)) as chunks:
        return [chunk async for chunk in chunks]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_default_client_picks_the_pool_of_the_running_library(
    sim: Simulator, anyio_backend: str
) -> None:
    async with default_client() as client:
        assert auto(client).backend is None  # nothing chosen before the first request
        result = await provider(sim.base_url("ok"), client).send(CALL)
        assert result.text == "You said: hello"
        assert result.usage.input_tokens > 0
        assert auto(client).backend == ("aiohttp" if anyio_backend == "asyncio" else "httpx")
        for _ in range(3):
            await provider(sim.base_url("ok"), client).send(CALL)
    assert sim.connections == 1  # sequential calls reuse one kept-alive connection


async def test_streamed_answer_arrives_in_pieces_with_usage(sim: Simulator) -> None:
    async with default_client() as client:
        chunks = await streamed(provider(sim.base_url("ok"), client))
    assert len(chunks) > 1
    assert "".join(c.text for c in chunks) == "You said: hello"
    assert chunks[-1].usage is not None
    assert any(c.finish_reason == "stop" for c in chunks)


@pytest.mark.parametrize("mode", ["send", "stream"])
async def test_a_silent_server_is_a_provider_timeout(sim: Simulator, mode: str) -> None:
    async with default_client(timeout=0.3) as client:
        p = provider(sim.base_url("hang"), client)
        start = time.monotonic()
        with pytest.raises(ProviderTimeout) as err:
            await (p.send(CALL) if mode == "send" else streamed(p))
    assert time.monotonic() - start < 5
    assert isinstance(err.value.__cause__, httpx.TimeoutException)


@pytest.mark.parametrize("mode", ["send", "stream"])
async def test_a_refused_connection_is_a_connection_error(mode: str) -> None:
    async with default_client() as client:
        p = provider(f"http://127.0.0.1:{free_port()}/v1", client)
        with pytest.raises(ProviderConnectionError) as err:
            await (p.send(CALL) if mode == "send" else streamed(p))
    assert isinstance(err.value.__cause__, httpx.ConnectError)


async def test_a_connection_closed_before_the_answer_is_a_connection_error(sim: Simulator) -> None:
    async with default_client() as client:
        p = provider(sim.base_url("drop"), client)
        with pytest.raises(ProviderConnectionError):
            await p.send(CALL)
        assert (await p.send(CALL)).text == "You said: hello"  # the pool recovers


@pytest.mark.parametrize("mode", ["send", "stream"])
async def test_an_answer_cut_midway_is_a_connection_error(sim: Simulator, mode: str) -> None:
    async with default_client() as client:
        p = provider(sim.base_url("cut"), client)
        with pytest.raises(ProviderConnectionError):
            await (p.send(CALL) if mode == "send" else streamed(p))


async def test_closing_closes_the_pool_even_when_cancelled(sim: Simulator) -> None:
    client = default_client()
    await provider(sim.base_url("ok"), client).send(CALL)
    inner = auto(client)._inner
    session = getattr(inner, "client", None)  # httpx-aiohttp's ClientSession, on asyncio
    with anyio.CancelScope() as scope:
        scope.cancel()
        await client.aclose()
    assert auto(client)._inner is None
    if session is not None:
        assert isinstance(session, aiohttp.ClientSession)
        assert session.closed
    with pytest.raises(RuntimeError):
        await provider(sim.base_url("ok"), client).send(CALL)
    with pytest.raises(RuntimeError, match="closed"):
        await auto(client).handle_async_request(httpx.Request("GET", sim.url))
    gc.collect()  # an unclosed aiohttp session or connector would warn now (warnings are errors)


async def test_a_provider_closes_the_client_it_made(sim: Simulator) -> None:
    p = provider(sim.base_url("ok"), None)
    assert (await p.send(CALL)).text == "You said: hello"
    await p.aclose()
    assert p._endpoint.client.is_closed
    gc.collect()


async def test_an_unused_client_closes_without_a_pool() -> None:
    client = default_client()
    await client.aclose()
    assert auto(client).backend is None


async def test_the_sharded_pool_spreads_concurrent_requests(sim: Simulator) -> None:
    transport = ShardedHTTPTransport(limits=LIMITS)
    assert len(transport._shards) == 2
    async with httpx.AsyncClient(transport=transport) as client:
        p = provider(sim.base_url("slow"), client)
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(p.send, CALL)
        assert transport._load == [0, 0]
        assert sim.connections == 10
        await p.send(CALL)  # least loaded: the first shard, on a kept-alive connection
        assert sim.connections == 10


async def test_httpx_pool_on_asyncio_when_asked(sim: Simulator) -> None:
    transport = AutoTransport(limits=LIMITS, prefer_aiohttp=False)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await provider(sim.base_url("ok"), client).send(CALL)).text == "You said: hello"
    assert transport.backend == "httpx"


def test_one_client_per_async_library() -> None:
    client = default_client()

    async def call_sim() -> None:
        async with run_simulator(CONFIG) as simulator:
            await provider(simulator.base_url("ok"), client).send(CALL)

    anyio.run(call_sim, backend="trio")
    try:
        elsewhere = provider("http://127.0.0.1:1/v1", client)
        with pytest.raises(RuntimeError, match="first used on trio and now on asyncio"):
            anyio.run(elsewhere.send, CALL, backend="asyncio")
    finally:
        anyio.run(client.aclose, backend="trio")


def _request() -> httpx.Request:
    return httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")


AIOHTTP_ERRORS: list[tuple[Exception, type[httpx.TransportError], type[Exception]]] = [
    (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout, ProviderTimeout),
    (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout, ProviderTimeout),
    (aiohttp.ServerTimeoutError("read"), httpx.ReadTimeout, ProviderTimeout),
    (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError, ProviderConnectionError),
    (aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError, ProviderConnectionError),
    (aiohttp.ClientOSError(104, "reset"), httpx.ReadError, ProviderConnectionError),
    (aiohttp.ClientConnectionResetError("reset"), httpx.ReadError, ProviderConnectionError),
]


@pytest.mark.parametrize(("error", "mapped", "classified"), AIOHTTP_ERRORS)
def test_aiohttp_errors_map_as_httpx_own_transport_would(
    error: Exception, mapped: type[httpx.TransportError], classified: type[Exception]
) -> None:
    # httpx-aiohttp maps every ClientConnectionError to ConnectTimeout and chains the original
    chained = httpx.ConnectTimeout("as httpx-aiohttp maps it")
    chained.__cause__ = error
    for raised in (chained, error):
        result = _translated(raised, _request())
        assert type(result) is mapped
        assert result.__cause__ is error
        assert isinstance(classify_exception(result), classified)
    # raw, as a wrapped function calling aiohttp itself would raise it
    assert isinstance(classify_exception(error), classified)


def test_other_errors_are_left_alone() -> None:
    assert _translated(ValueError("a bug"), _request()) is None
    assert _translated(aiohttp.InvalidURL("nope"), _request()) is None
    assert _translated(httpx.UnsupportedProtocol("ftp"), _request()) is None
