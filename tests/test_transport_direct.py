"""A provider's own client (none injected) posts through aiohttp directly on asyncio.

The same behaviour as through ``httpx.AsyncClient`` (tests/test_transport.py): answers and
streams (lines split as httpx splits them), the headers on the wire, timeouts,
refused/dropped/cut connections and HTTP errors classified with the httpx error chained, and a
closed provider refusing. On trio the provider's client goes through httpx's pool, so every
test here runs on both and asserts the same outcome; on asyncio httpx's client layer is shown
not to be used at all.
"""

from __future__ import annotations

import json
import socket
from contextlib import aclosing
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from agentroute import Target
from agentroute._types import ModelCall
from agentroute.errors import (
    ProviderConnectionError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from agentroute.providers import transport
from agentroute.providers.auto_transport import AutoTransport
from agentroute.providers.openai import OpenAIProvider
from agentroute.sim.server import Simulator
from tests.helpers import simulator_fixture

pytestmark = pytest.mark.anyio

CONFIG: dict[str, Any] = {
    "instances": {
        "ok": {"kind": "openai"},
        "hang": {"kind": "openai", "faults": {"schedule": {1: "timeout"}}},
        "drop": {"kind": "openai", "faults": {"schedule": {1: "drop"}}},
        "cut": {"kind": "openai", "faults": {"schedule": {1: "drop_mid_response"}}},
        "limited": {
            "kind": "openai",
            "faults": {"schedule": {1: {"kind": "rate_limit", "retry_after_s": 7}}},
        },
    }
}
TARGET = Target("small", "simple", "p", "openai", "gpt-4o-mini", 128_000)
CALL = ModelCall(messages=[{"role": "user", "content": "hello"}], target=TARGET)

sim = simulator_fixture(CONFIG)


@pytest.fixture
def httpx_sends(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """The requests that went through httpx's client layer (AutoTransport) in the test."""
    sent: list[httpx.Request] = []
    original = AutoTransport.handle_async_request

    async def spy(self: AutoTransport, request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return await original(self, request)

    monkeypatch.setattr(AutoTransport, "handle_async_request", spy)
    return sent


def own(base_url: str) -> OpenAIProvider:
    return OpenAIProvider(name="p", base_url=base_url, api_key="sk-test")


async def streamed(p: OpenAIProvider) -> list[Any]:
    async with aclosing(p.stream(CALL)) as chunks:
        return [chunk async for chunk in chunks]


async def read_request(stream: SocketStream) -> tuple[dict[str, str], bytes]:
    """One whole request (read to its end, so closing afterwards resets nothing)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    while len(body) < int(fields["content-length"]):
        body += await stream.receive()
    return fields, body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_own_client_answers_without_httpx_on_asyncio(
    sim: Simulator, anyio_backend: str, httpx_sends: list[httpx.Request]
) -> None:
    p = own(sim.base_url("ok"))
    try:
        for _ in range(3):
            result = await p.send(CALL)
            assert result.text == "You said: hello"
            assert result.usage.input_tokens > 0
    finally:
        await p.aclose()
    assert len(httpx_sends) == (0 if anyio_backend == "asyncio" else 3)
    assert sim.connections == 1  # one kept-alive connection either way


async def test_the_headers_on_the_wire(anyio_backend: str) -> None:
    """The client's User-Agent and Accept, the provider's auth, JSON content type; a canned
    answer read as on the httpx path."""
    heads: list[dict[str, str]] = []
    bodies: list[Any] = []
    answer = json.dumps(
        {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
    ).encode()

    async def serve(stream: SocketStream) -> None:
        fields, body = await read_request(stream)
        heads.append(fields)
        bodies.append(json.loads(body))
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(answer)}\r\nconnection: close\r\n\r\n".encode()
            + answer
        )
        await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        p = OpenAIProvider(
            name="p",
            base_url=f"http://127.0.0.1:{port}/v1",
            api_key="sk-test",
            headers={"X-Extra": "1"},
        )
        try:
            assert (await p.send(CALL)).text == "ok"
        finally:
            await p.aclose()
            tg.cancel_scope.cancel()
    (fields,) = heads
    assert fields["authorization"] == "Bearer sk-test"
    assert fields["x-extra"] == "1"
    assert fields["content-type"] == "application/json"
    assert fields["user-agent"] == httpx.AsyncClient().headers["user-agent"]
    assert fields["accept"] == "*/*"
    assert bodies == [{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}]


async def test_own_client_streams_without_httpx_on_asyncio(
    sim: Simulator, anyio_backend: str, httpx_sends: list[httpx.Request]
) -> None:
    p = own(sim.base_url("ok"))
    try:
        for _ in range(2):
            chunks = await streamed(p)
            assert len(chunks) > 1
            assert "".join(c.text for c in chunks) == "You said: hello"
            assert chunks[-1].usage is not None
            assert any(c.finish_reason == "stop" for c in chunks)
    finally:
        await p.aclose()
    assert len(httpx_sends) == (0 if anyio_backend == "asyncio" else 2)
    assert sim.connections == 1


async def test_stream_lines_split_as_httpx_splits_them(anyio_backend: str) -> None:
    """CRLF, CR and LF line endings, and a character split across two packets."""
    first = {"choices": [{"delta": {"content": "caf\u00e9"}, "finish_reason": None}]}
    last = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
    wire = (
        f"data: {json.dumps(first, ensure_ascii=False)}\r\n\r\n: comment\r"
        f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n"
    ).encode()
    cut = wire.index("é".encode()) + 1

    async def serve(stream: SocketStream) -> None:
        await read_request(stream)
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        )
        for piece in (wire[:cut], wire[cut:]):
            await stream.send(piece)
            await anyio.sleep(0.01)
        await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        p = own(f"http://127.0.0.1:{port}/v1")
        try:
            chunks = await streamed(p)
        finally:
            await p.aclose()
            tg.cancel_scope.cancel()
    assert [(c.text, c.finish_reason) for c in chunks] == [("café", None), ("", "stop")]


@pytest.mark.parametrize("mode", ["send", "stream"])
async def test_a_silent_server_is_a_provider_timeout(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    made = transport.default_client
    monkeypatch.setattr(transport, "default_client", lambda: made(timeout=0.3))
    p = own(sim.base_url("hang"))
    try:
        with pytest.raises(ProviderTimeout) as err:
            await (p.send(CALL) if mode == "send" else streamed(p))
    finally:
        await p.aclose()
    assert isinstance(err.value.__cause__, httpx.ReadTimeout)


@pytest.mark.parametrize("mode", ["send", "stream"])
async def test_a_refused_connection_is_a_connection_error(mode: str) -> None:
    p = own(f"http://127.0.0.1:{free_port()}/v1")
    try:
        with pytest.raises(ProviderConnectionError) as err:
            await (p.send(CALL) if mode == "send" else streamed(p))
    finally:
        await p.aclose()
    assert isinstance(err.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize("mode", ["send", "stream"])
@pytest.mark.parametrize("instance", ["drop", "cut"])
async def test_a_dropped_or_cut_answer_is_a_connection_error(
    sim: Simulator, instance: str, mode: str
) -> None:
    p = own(sim.base_url(instance))
    try:
        with pytest.raises(ProviderConnectionError) as err:
            await (p.send(CALL) if mode == "send" else streamed(p))
        if instance == "drop" or mode == "send":
            assert isinstance(err.value.__cause__, httpx.TransportError)
        assert (await p.send(CALL)).text == "You said: hello"  # the pool recovers
    finally:
        await p.aclose()


@pytest.mark.parametrize("mode", ["send", "stream"])
async def test_an_http_error_is_classified_with_its_retry_after(sim: Simulator, mode: str) -> None:
    p = own(sim.base_url("limited"))
    try:
        with pytest.raises(RateLimited) as err:
            await (p.send(CALL) if mode == "send" else streamed(p))
    finally:
        await p.aclose()
    assert err.value.status_code == 429
    assert err.value.retry_after == pytest.approx(7.0, abs=0.01)


async def test_an_answer_that_is_not_json_is_unavailable(anyio_backend: str) -> None:
    async def serve(stream: SocketStream) -> None:
        await read_request(stream)
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 9\r\n"
            b"connection: close\r\n\r\n<html>hi!"
        )
        await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        p = own(f"http://127.0.0.1:{port}/v1")
        try:
            with pytest.raises(ProviderUnavailable, match="not JSON: '<html>hi!'"):
                await p.send(CALL)
        finally:
            await p.aclose()
            tg.cancel_scope.cancel()


async def test_a_closed_provider_refuses(sim: Simulator) -> None:
    p = own(sim.base_url("ok"))
    await p.send(CALL)
    await p.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await p.send(CALL)
