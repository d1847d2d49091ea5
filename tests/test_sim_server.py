"""The simulator's HTTP plumbing: concurrency, keep-alive, body limits, malformed requests,
latency, and a shutdown that leaves nothing running."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import anyio
import httpx
import openai
import pytest

from agentroute.sim.server import Simulator, run_simulator
from tests.helpers import simulator_fixture

pytestmark = pytest.mark.anyio

CONFIG: dict[str, Any] = {
    "max_body_bytes": 4096,
    "instances": {
        "oa": {"kind": "openai", "latency": {"base_ms": 20}},
        "an": {"kind": "anthropic", "latency": {"base_ms": 20}},
        "paced": {"kind": "openai", "latency": {"base_ms": 50, "per_output_token_ms": 10}},
        "held": {"kind": "openai", "faults": {"schedule": {1: "timeout"}}},
    },
}
USER = [{"role": "user", "content": "hello"}]


sim = simulator_fixture(CONFIG)


async def test_fifty_concurrent_sdk_calls_per_format(sim: Simulator) -> None:
    results: list[str] = []
    async with (
        openai.AsyncOpenAI(base_url=sim.base_url("oa"), api_key="k", max_retries=0) as o,
        anthropic.AsyncAnthropic(base_url=sim.base_url("an"), api_key="k", max_retries=0) as a,
    ):

        async def one_openai(i: int) -> None:
            messages = [{"role": "user", "content": f"call {i}"}]
            r = await o.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
            results.append(r.choices[0].message.content or "")

        async def one_anthropic(i: int) -> None:
            m = await a.messages.create(
                model="m", max_tokens=8, messages=[{"role": "user", "content": f"call {i}"}]
            )
            results.append(m.content[0].text)  # type: ignore[union-attr]

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for i in range(50):
                    tg.start_soon(one_openai, i)
                    tg.start_soon(one_anthropic, i)
    assert sorted(results) == sorted([f"You said: call {i}" for i in range(50)] * 2)
    assert sim.stats("oa").answered == 50 == sim.stats("an").answered
    assert sim.connections > 2  # they really ran side by side


async def test_keep_alive_reuses_one_connection(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url("oa")) as c:
        for _ in range(5):
            r = await c.post("/chat/completions", json={"model": "m", "messages": USER})
            assert r.status_code == 200
    assert sim.connections == 1


async def test_chunked_request_body_is_read(sim: Simulator) -> None:
    payload = json.dumps({"model": "m", "messages": USER}).encode()

    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 10):
            yield payload[i : i + 10]

    async with httpx.AsyncClient() as c:
        r = await c.post(sim.base_url("oa") + "/chat/completions", content=body())
    assert (
        r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "You said: hello"
    )


async def test_body_over_the_limit_is_refused_in_the_instance_shape(sim: Simulator) -> None:
    big = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x" * 500_000}]}
    async with httpx.AsyncClient() as c:
        r = await c.post(sim.base_url("an") + "/v1/messages", json=big)
        assert r.status_code == 413
        assert r.json()["error"]["type"] == "request_too_large"
        assert r.headers.get("connection") == "close"
        ok = await c.post(sim.base_url("an") + "/v1/messages", json={**big, "messages": USER})
    assert ok.status_code == 200


async def test_paths_methods_and_bodies_that_are_wrong(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as c:
        index = await c.get("/")
        unknown = await c.post("/nope/v1/chat/completions", json={})
        wrong_endpoint = await c.post("/oa/v1/messages", json={})
        wrong_method = await c.get("/oa/v1/chat/completions")
        not_json = await c.post("/oa/v1/chat/completions", content=b"{not json")
        no_messages = await c.post("/oa/v1/chat/completions", json={"model": "m"})
        an_not_found = await c.post("/an/v1/chat/completions", json={})
    assert index.json()["instances"]["an"] == {"kind": "anthropic", "base_url": sim.base_url("an")}
    assert unknown.status_code == 404 and "no such simulator instance" in unknown.text
    assert wrong_endpoint.status_code == 404 == wrong_method.status_code
    assert wrong_endpoint.json()["error"]["message"] == "Invalid URL (POST /oa/v1/messages)"
    assert (
        not_json.status_code == 400 and not_json.json()["error"]["type"] == "invalid_request_error"
    )
    assert no_messages.json()["error"] == {
        "message": "Missing required parameter: 'messages'.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "missing_required_parameter",
    }
    assert an_not_found.json()["error"]["type"] == "not_found_error"


async def test_expect_100_continue_and_idle_connections() -> None:
    config = {**CONFIG, "idle_timeout_s": 0.1}
    body = json.dumps({"model": "m", "messages": USER}).encode()
    head = (
        b"POST /oa/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    async with (
        run_simulator(config) as simulator,
        await anyio.connect_tcp("127.0.0.1", simulator.port) as stream,
    ):
        await stream.send(head)
        assert (await stream.receive()).startswith(b"HTTP/1.1 100 ")
        await stream.send(body)
        reply = b""
        with anyio.fail_after(5):  # the answer, then the idle connection is closed
            try:
                while True:
                    reply += await stream.receive()
            except anyio.EndOfStream:
                pass
    assert reply.startswith(b"HTTP/1.1 200 ") and b"You said: hello" in reply


async def test_malformed_http_gets_a_400(sim: Simulator) -> None:
    async with await anyio.connect_tcp("127.0.0.1", sim.port) as stream:
        await stream.send(b"THIS IS NOT HTTP\r\n\r\n")
        reply = b""
        with anyio.fail_after(5):
            try:
                while True:
                    reply += await stream.receive()
            except anyio.EndOfStream:
                pass
    assert reply.startswith(b"HTTP/1.1 400 ")


async def test_latency_before_the_answer_and_between_stream_chunks(sim: Simulator) -> None:
    async with openai.AsyncOpenAI(base_url=sim.base_url("paced"), api_key="k", max_retries=0) as c:
        start = anyio.current_time()
        r = await c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
        took = anyio.current_time() - start
    assert r.usage is not None
    assert took >= 0.05 + 0.01 * r.usage.completion_tokens - 0.005


async def test_stopping_closes_held_connections_and_the_port() -> None:
    errors: list[BaseException] = []
    with anyio.fail_after(3):
        async with anyio.create_task_group() as tg, run_simulator(CONFIG) as simulator:
            port = simulator.port

            async def held_request() -> None:
                url = simulator.base_url("held") + "/chat/completions"
                try:
                    async with httpx.AsyncClient(timeout=10) as c:
                        await c.post(url, json={"model": "m", "messages": USER})
                except httpx.HTTPError as exc:
                    errors.append(exc)

            tg.start_soon(held_request)
            # the simulator has no event to wait on: poll until the request is being held
            while not simulator.records("held"):  # noqa: ASYNC110
                await anyio.sleep(0.01)
        # leaving run_simulator cancelled the held connection: the client saw it at once
    assert len(errors) == 1 and isinstance(errors[0], httpx.RemoteProtocolError | httpx.ReadError)
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


async def test_a_simulator_bug_is_a_500_and_the_server_keeps_serving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with run_simulator(CONFIG) as simulator, httpx.AsyncClient() as c:
        url = simulator.base_url("oa") + "/chat/completions"

        def boom(*args: Any) -> Any:
            raise KeyError("bug")

        with monkeypatch.context() as patch:
            patch.setattr(simulator.instances["oa"], "handle", boom)
            broken = await c.post(url, json={"model": "m", "messages": USER})
        fine = await c.post(url, json={"model": "m", "messages": USER})
    assert broken.status_code == 500 and "KeyError" in broken.text
    assert fine.status_code == 200
    assert [type(e) for e in simulator.internal_errors] == [KeyError]
