"""Loopback HTTP throughput: calls/s of agentroute's provider path beside plain clients and LiteLLM.

The goal (docs/architecture.md, "Performance goals"): at concurrency 50 and 200, the built-in
provider path within 10% of the fastest plain client measured in the same run. Against a raw
OpenAI-compatible server on 127.0.0.1 (a subprocess: a bare asyncio protocol answering
``POST /v1/chat/completions`` with a fixed small ``chat.completion`` including usage, so it is
not the bottleneck — its CPU use is reported), side by side in one run, at concurrency 1, 50
and 200, first on asyncio:

* ``httpx (defaults)``: ``httpx.AsyncClient()`` — 100 connections, 20 kept alive;
* ``httpx (tuned limits)``: 256 connections, all kept alive;
* ``aiohttp``: ``aiohttp.ClientSession`` with a 256-connection connector;
* ``agentroute (default transport)``: ``Router.complete()`` → ``OpenAIProvider.send`` with the
  client the provider makes itself (:func:`agentroute.providers.transport.default_client`) — the
  whole routed path: routing, session, fallback, request building, HTTP, JSON, normalization;
* ``agentroute, sharded httpx pool (the trio path)``: the same over
  ``AutoTransport(prefer_aiohttp=False)``, what trio (or a missing httpx-aiohttp) gets;
* ``agentroute, one tuned httpx pool (the old default)``: ``Router(http_client=<tuned httpx>)``;
* ``agentroute router, a hand-made provider on a plain aiohttp session``: the OpenAI provider's
  request building and parsing with its own ``aiohttp.ClientSession`` — what the shipped direct
  path (:mod:`agentroute.providers.transport`, "The direct aiohttp path") is measured against;
* ``agentroute (default transport), baseline commit`` (with ``--baseline REF``, asyncio only):
  the same default-transport variant with the agentroute of git revision ``REF`` (extracted by
  ``benchmarks/_baseline.py``), in a worker subprocess whose cells interleave with this run's;
* ``LiteLLM Router``: ``litellm.Router.acompletion`` with the server as an OpenAI-compatible
  ``api_base``, run in its own virtualenv (``benchmarks/.venv-litellm``, made on first use) as a
  worker subprocess; skipped with a printed reason when it cannot be installed.

then on trio, the variants that run there (the httpx ones, agentroute's default, the old
default). Every plain client sends the same JSON body and decodes the JSON answer. Each cell is a
fixed number of calls (2,000 at c ≥ 50, 300 at c = 1) over ``c`` workers, with a time cap. One
warm-up cell per variant first (connections opened), then interleaved rounds (the order rotates
each round) so machine noise lands on all alike; median and best calls/s over rounds.

    python benchmarks/http_throughput.py            # full run, writes results/http_throughput.md
    python benchmarks/http_throughput.py --quick    # smoke run (CI): few calls, no LiteLLM

Only the standard library is imported at module level: the LiteLLM worker runs this same file in
the LiteLLM virtualenv, which has no agentroute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _report import publish

HERE = Path(__file__).resolve().parent
LITELLM_VENV = HERE / ".venv-litellm"
LITELLM_SPEC = "litellm"
INSTALL_TIMEOUT_S = 900.0
MODEL = "bench-model"
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say ok."},
]
BODY = {"model": MODEL, "messages": MESSAGES}
ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    },
    separators=(",", ":"),
).encode()

Call = Callable[[], Awaitable[object]]


# The server (a subprocess) -------------------------------------------------------------------


class _Protocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive on one connection: Content-Length bodies, canned answers."""

    requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            lines = head.split("\r\n")
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection":
                    close = value.strip().lower() == "close"
                elif name == "transfer-encoding":
                    self.transport.write(_response(411, b"{}", close=True))
                    self.transport.close()
                    return
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            method, path = [*lines[0].split(" "), "", ""][:2]
            _Protocol.requests += 1
            if method == "POST" and path.rstrip("/").endswith("/chat/completions"):
                self.transport.write(_CANNED_KEEP if not close else _response(200, ANSWER, True))
            elif method == "GET" and path == "/stats":
                cpu = time.process_time()
                stats = json.dumps({"cpu_s": cpu, "requests": _Protocol.requests}).encode()
                self.transport.write(_response(200, stats, close))
            else:
                self.transport.write(_response(404, b'{"error":"not found"}', close))
            if close:
                self.transport.close()
                return


def _response(status: int, body: bytes, close: bool = False) -> bytes:
    reason = {200: "OK", 404: "Not Found", 411: "Length Required"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n" + ("connection: close\r\n" if close else "") + "\r\n"
    ).encode() + body


_CANNED_KEEP = _response(200, ANSWER)


def serve() -> None:
    """Run the server on a free 127.0.0.1 port; print the port; stop when stdin closes."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Protocol, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # parent gone or done
        server.close()

    asyncio.run(main())


@contextlib.contextmanager
def server_process() -> Any:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Running one cell ----------------------------------------------------------------------------


@dataclass
class Cell:
    done: int
    errors: int
    elapsed: float
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


async def run_cell(call: Call, concurrency: int, calls: int, cap_s: float) -> Cell:
    """``calls`` calls over ``concurrency`` workers (fewer if ``cap_s`` runs out first)."""
    import anyio  # here: the LiteLLM virtualenv has it (openai needs it), this module's top not

    started = done = errors = 0
    first_error = ""
    start = time.perf_counter()
    deadline = start + cap_s

    async def worker() -> None:
        nonlocal started, done, errors, first_error
        while started < calls and time.perf_counter() < deadline:
            started += 1
            try:
                await call()
            except Exception as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:200]
            else:
                done += 1

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return Cell(done, errors, time.perf_counter() - start, first_error)


# The LiteLLM worker (runs in the LiteLLM virtualenv) -----------------------------------------


def litellm_worker(base_url: str) -> None:
    """Read ``CONCURRENCY CALLS CAP_S`` lines from stdin; print each cell's result as JSON."""
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    router = litellm.Router(
        model_list=[
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"openai/{MODEL}",
                    "api_base": f"{base_url}/v1",
                    "api_key": "sk-bench",
                },
            }
        ],
        num_retries=0,
    )

    async def call() -> object:
        return await router.acompletion(model=MODEL, messages=MESSAGES)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        version = getattr(litellm, "__version__", None)
        if version is None:
            from importlib.metadata import version as dist_version

            version = dist_version("litellm")
        print(json.dumps({"ready": True, "version": version}), flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            concurrency, calls, cap = line.split()
            cell = await run_cell(call, int(concurrency), int(calls), float(cap))
            print(json.dumps(cell.__dict__), flush=True)

    asyncio.run(main())


def baseline_worker(base_url: str) -> None:
    """In the baseline's worker (its agentroute first on ``PYTHONPATH``): the default-transport
    variant, cell by cell as :func:`litellm_worker` does, on asyncio."""
    import logging

    import structlog

    import agentroute
    from agentroute import Router

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with Router(router_config(base_url)) as router:
            print(json.dumps({"ready": True, "version": agentroute.__file__}), flush=True)
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                concurrency, calls, cap = line.split()
                cell = await run_cell(
                    lambda: router.complete(MESSAGES), int(concurrency), int(calls), float(cap)
                )
                print(json.dumps(cell.__dict__), flush=True)

    asyncio.run(main())


def litellm_python() -> tuple[Path | None, str]:
    """The LiteLLM virtualenv's python (made and filled on first use), or None and why not."""
    python = LITELLM_VENV / "bin" / "python"
    check = [str(python), "-c", "import litellm"]
    env = litellm_env()
    if python.exists() and subprocess.run(check, env=env, capture_output=True).returncode == 0:
        return python, ""
    print(f"installing {LITELLM_SPEC} into {LITELLM_VENV} (once; up to {INSTALL_TIMEOUT_S:.0f} s)")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", LITELLM_SPEC],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        subprocess.run(check, env=env, check=True, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        return None, f"installing LiteLLM timed out after {exc.timeout:.0f} s"
    except (subprocess.CalledProcessError, OSError) as exc:
        return None, f"installing or importing LiteLLM failed: {exc}"
    return python, ""


def litellm_env() -> dict[str, str]:
    """LiteLLM's environment: its price map from the package (no download at import), and any
    stray request not to 127.0.0.1 sent to a closed local proxy port, so it fails here."""
    env = dict(os.environ)
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_TELEMETRY="False",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        ALL_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


class LiteLLM:
    """A worker subprocess (LiteLLM's, or the baseline commit's agentroute), driven cell by
    cell from the benchmark's loop."""

    def __init__(self, proc: asyncio.subprocess.Process, version: str) -> None:
        self.proc = proc
        self.version = version

    @classmethod
    async def start(
        cls,
        python: Path,
        base_url: str,
        flag: str = "--litellm-worker",
        env: dict[str, str] | None = None,
    ) -> LiteLLM:
        proc = await asyncio.create_subprocess_exec(
            str(python),
            __file__,
            flag,
            base_url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env if env is not None else litellm_env(),
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 180)
        if not line:
            raise RuntimeError(f"the worker ({flag}) exited before it was ready")
        return cls(proc, json.loads(line)["version"])

    async def cell(self, concurrency: int, calls: int, cap_s: float) -> Cell:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(f"{concurrency} {calls} {cap_s}\n".encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), cap_s + 60)
        if not line:
            raise RuntimeError("the LiteLLM worker died")
        return Cell(**json.loads(line))

    async def aclose(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# The variants --------------------------------------------------------------------------------

Runner = Callable[[int, int, float], Awaitable[Cell]]
PLAIN = ("httpx (defaults)", "httpx (tuned limits)", "aiohttp")
AGENTROUTE = "agentroute (default transport)"
SHARDED = "agentroute, sharded httpx pool (the trio path)"
OLD = "agentroute, one tuned httpx pool (the old default)"
CEILING = "agentroute router, a hand-made provider on a plain aiohttp session"
BASELINE = "agentroute (default transport), baseline commit"
BASELINE_REF: list[str] = []
LITELLM = "LiteLLM Router"
SKIPPED: list[str] = []
BASELINE_ENV: dict[str, str] = {}
LOAD: list[float] = []
VERSIONS: dict[str, str] = {}


def router_config(base_url: str) -> dict[str, Any]:
    return {
        "providers": {"p": {"kind": "openai", "base_url": f"{base_url}/v1", "api_key": "sk-b"}},
        "models": {
            "m": {
                "context_window": 128_000,
                "price": {"input": 0.15, "output": 0.6},
                "deployments": [{"provider": "p", "name": MODEL}],
            }
        },
        "tiers": {"simple": ["m"]},
    }


@contextlib.asynccontextmanager
async def variants(
    base_url: str, backend: str, with_litellm: bool
) -> AsyncIterator[dict[str, Runner]]:
    """The variants runnable on ``backend`` (aiohttp and LiteLLM only on asyncio)."""
    import httpx

    from agentroute import Router
    from agentroute.providers.auto_transport import AutoTransport

    url = f"{base_url}/v1/chat/completions"
    tuned = httpx.Limits(max_connections=256, max_keepalive_connections=256, keepalive_expiry=60)
    config = router_config(base_url)
    headers = {"Authorization": "Bearer sk-b"}

    def cell_of(call: Call) -> Runner:
        return lambda c, n, cap: run_cell(call, c, n, cap)

    def httpx_call(client: httpx.AsyncClient) -> Call:
        async def call() -> object:
            response = await client.post(url, json=BODY, headers=headers)
            response.raise_for_status()
            return response.json()

        return call

    async with contextlib.AsyncExitStack() as stack:
        enter = stack.enter_async_context
        runners: dict[str, Runner] = {
            PLAIN[0]: cell_of(httpx_call(await enter(httpx.AsyncClient()))),
            PLAIN[1]: cell_of(httpx_call(await enter(httpx.AsyncClient(limits=tuned)))),
        }
        if backend == "asyncio":
            import aiohttp

            session = await enter(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)))

            async def aiohttp_call() -> object:
                async with session.post(url, json=BODY, headers=headers) as response:
                    response.raise_for_status()
                    return await response.json()

            runners[PLAIN[2]] = cell_of(aiohttp_call)
            VERSIONS["aiohttp"] = aiohttp.__version__
        router = await enter(Router(config))
        runners[AGENTROUTE] = cell_of(lambda: router.complete(MESSAGES))
        if backend == "asyncio":
            sharded = await enter(
                httpx.AsyncClient(
                    transport=AutoTransport(limits=tuned, prefer_aiohttp=False), timeout=600
                )
            )
            sharded_router = await enter(Router(config, http_client=sharded))
            runners[SHARDED] = cell_of(lambda: sharded_router.complete(MESSAGES))
        old = await enter(httpx.AsyncClient(limits=tuned, timeout=600))
        old_router = await enter(Router(config, http_client=old))
        runners[OLD] = cell_of(lambda: old_router.complete(MESSAGES))
        if backend == "asyncio":
            ceiling = await enter(Router(config, providers={"p": aiohttp_provider(session, url)}))
            runners[CEILING] = cell_of(lambda: ceiling.complete(MESSAGES))
        if BASELINE_ENV and backend == "asyncio":
            base = await LiteLLM.start(
                Path(sys.executable), base_url, "--baseline-worker", BASELINE_ENV
            )
            stack.push_async_callback(base.aclose)
            runners[BASELINE] = base.cell
        if with_litellm and backend == "asyncio":
            python, reason = litellm_python()
            if python is None:
                print(f"LiteLLM skipped: {reason}")
                SKIPPED.append(reason)
            else:
                worker = await LiteLLM.start(python, base_url)
                stack.push_async_callback(worker.aclose)
                VERSIONS["litellm"] = worker.version
                runners[LITELLM] = worker.cell
        VERSIONS["httpx"] = httpx.__version__
        yield runners


def aiohttp_provider(session: Any, url: str) -> Any:
    """The built-in OpenAI provider's request building and parsing, its HTTP done by aiohttp
    directly: what the routed path would cost without ``httpx.AsyncClient`` in it."""
    from agentroute.providers.openai import OpenAIProvider

    class AiohttpProvider(OpenAIProvider):
        async def send(self, call: Any, /) -> Any:
            body = json.dumps(self.build_request(call)).encode()
            headers = {**self.request_headers(), "Content-Type": "application/json"}
            async with session.post(url, data=body, headers=headers) as response:
                data = json.loads(await response.read())
            return self.parse_response(data)

    return AiohttpProvider(name="p", base_url=None, api_key="sk-b")


# Where the time goes (one call at a time, asyncio) ------------------------------------------

Part = tuple[str, float, str]
"""A row of the breakdown: what, microseconds per call, how it was measured."""


async def per_call_us(call: Call, n: int, repeats: int = 3) -> float:
    """Microseconds per call of ``n`` sequential calls, the best of ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            await call()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


async def breakdown(base_url: str, n: int) -> list[Part]:
    """The routed call's pieces timed one by one (sequential calls, best of five interleaved
    rounds): the
    HTTP round trip by the plain client, httpx's client layer, the routed path without HTTP,
    and the provider's own request and answer work; the routed call end to end by both paths."""
    import logging

    import aiohttp
    import httpx
    import structlog

    from agentroute import Router, Target
    from agentroute._types import ModelCall
    from agentroute.providers.openai import OpenAIProvider
    from agentroute.providers.transport import default_client

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    url = f"{base_url}/v1/chat/completions"
    headers = {"Authorization": "Bearer sk-b"}
    config = router_config(base_url)
    provider = OpenAIProvider(name="p", base_url=f"{base_url}/v1", api_key="sk-b")
    target = Target("m", "simple", "p", "openai", MODEL, 128_000)
    call = ModelCall(messages=MESSAGES, target=target)
    answer = provider.parse_response(json.loads(ANSWER))

    class Canned(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=ANSWER, request=request)

    class Stub(OpenAIProvider):
        async def send(self, call: Any, /) -> Any:
            return answer

    async def sync(fn: Callable[[], object]) -> object:
        return fn()

    parts: list[Part] = []
    async with contextlib.AsyncExitStack() as stack:
        enter = stack.enter_async_context
        session = await enter(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)))
        old_client = await enter(default_client())
        canned = await enter(httpx.AsyncClient(transport=Canned()))
        stack.push_async_callback(provider.aclose)
        routed = await enter(Router(config))
        old_routed = await enter(Router(config, http_client=await enter(default_client())))
        no_http = await enter(
            Router(config, providers={"p": Stub(name="p", base_url=None, api_key="sk-b")})
        )

        async def plain() -> object:
            async with session.post(url, data=json.dumps(BODY).encode(), headers=headers) as r:
                return json.loads(await r.read())

        def over_httpx(client: httpx.AsyncClient) -> Call:
            async def post() -> object:
                request = client.build_request("POST", url, content=b"{}", headers=headers)
                return (await client.send(request)).json()

            return post

        timed: list[tuple[str, Call, str]] = [
            (
                "routed call, default transport (this commit: aiohttp directly)",
                lambda: routed.complete(MESSAGES),
                "`Router.complete()`, end to end",
            ),
            (
                "routed call through `httpx.AsyncClient` over aiohttp (the baseline's default)",
                lambda: old_routed.complete(MESSAGES),
                "`Router(http_client=default_client())`: httpx's client layer kept",
            ),
            ("plain aiohttp round trip", plain, "post, read, `json.loads`"),
            (
                "httpx client over aiohttp, round trip",
                over_httpx(old_client),
                "`default_client()`: `build_request`, `send`, `.json()`",
            ),
            (
                "httpx's client layer alone",
                over_httpx(canned),
                "the same on a transport answering from memory (no I/O)",
            ),
            (
                "routed call without HTTP",
                lambda: no_http.complete(MESSAGES),
                "routing, session, fallback, attempt, usage and cost; a provider answering a "
                "parsed result",
            ),
            (
                "request: body built and JSON-encoded",
                lambda: sync(lambda: provider.encoded_request(call)),
                "`OpenAIProvider.encoded_request`",
            ),
            (
                "request: headers (key resolved, checked)",
                lambda: sync(provider.request_headers),
                "`HTTPProvider.request_headers`",
            ),
            (
                "answer: JSON parsed, result and usage built",
                lambda: sync(lambda: provider.parse_response(json.loads(ANSWER))),
                "`json.loads` + `OpenAIProvider.parse_response`",
            ),
        ]
        for _, fn, _ in timed:
            await per_call_us(fn, max(50, n // 10), repeats=1)  # warm-up
        us = {name: float("inf") for name, _, _ in timed}
        for _ in range(5):  # interleaved rounds: the machine's load lands on every piece alike
            for name, fn, _ in timed:
                us[name] = min(us[name], await per_call_us(fn, n, repeats=1))
        parts = [(name, us[name], how) for name, _, how in timed]
    names = [name for name, _, _ in timed]
    own = sum(us[x] for x in names[5:])
    parts.append(
        (
            "rest of the routed call (end to end − plain aiohttp − routed without HTTP − "
            "request and answer work)",
            us[names[0]] - us[names[2]] - own,
            "the direct path's glue (session lookup, aiohttp's per-request options), scheduling",
        )
    )
    parts.append(
        (
            "removed by this commit's direct path: httpx over aiohttp − plain aiohttp",
            us[names[3]] - us[names[2]],
            "httpx's client layer, the httpx-aiohttp adapter, AutoTransport's error mapping",
        )
    )
    return parts


def breakdown_lines(parts: list[Part]) -> list[str]:
    lines = ["| piece | µs per call | how measured |", "|---|---:|---|"]
    lines += [f"| {name} | {value:,.1f} | {how} |" for name, value, how in parts]
    return lines


@dataclass
class Plan:
    concurrencies: tuple[int, ...] = (1, 50, 200)
    rounds: int = 5
    calls: dict[int, int] = field(default_factory=lambda: {1: 300, 50: 2000, 200: 2000})
    warmup: int = 200
    cap_s: float = 30.0


async def server_cpu(base_url: str) -> float:
    """The server process's CPU seconds so far (GET /stats on a fresh connection)."""
    import anyio

    host, port = base_url.removeprefix("http://").split(":")
    async with await anyio.connect_tcp(host, int(port)) as stream:
        await stream.send(b"GET /stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        data = b""
        with contextlib.suppress(anyio.EndOfStream):
            while True:
                data += await stream.receive()
    return float(json.loads(data.split(b"\r\n\r\n", 1)[1])["cpu_s"])


async def measure(
    base_url: str, plan: Plan, backend: str, with_litellm: bool
) -> dict[int, dict[str, Any]]:
    """Warm-up, then ``plan.rounds`` interleaved rounds of every variant, per concurrency."""
    import logging

    import structlog

    # As an application would: agentroute's debug events (one per decision and attempt) dropped.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    results: dict[int, dict[str, Any]] = {}
    async with variants(base_url, backend, with_litellm) as runners:
        names = list(runners)
        for c in plan.concurrencies:
            calls = plan.calls[c]
            for name in names:  # warm-up: open the connections, import lazily loaded code
                await runners[name](c, min(plan.warmup, calls), plan.cap_s)
            cells: dict[str, list[Cell]] = {name: [] for name in names}
            server_busy: list[float] = []
            for r in range(plan.rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    cpu0, t0 = await server_cpu(base_url), time.perf_counter()
                    cell = await runners[name](c, calls, plan.cap_s)
                    cpu1, t1 = await server_cpu(base_url), time.perf_counter()
                    cells[name].append(cell)
                    server_busy.append((cpu1 - cpu0) / (t1 - t0))
                    print(
                        f"  {backend} c={c:<3} round {r + 1}/{plan.rounds} {name:<62} "
                        f"{cell.rate:8.0f} calls/s"
                        + (f"  ({cell.errors} errors: {cell.first_error})" if cell.errors else ""),
                        flush=True,
                    )
            results[c] = {"cells": cells, "server_busy": max(server_busy)}
    return results


# The report ----------------------------------------------------------------------------------

Results = dict[int, dict[str, Any]]


def medians(cells: dict[str, list[Cell]]) -> dict[str, float]:
    return {name: statistics.median(x.rate for x in cs) for name, cs in cells.items()}


def table(results: Results) -> list[str]:
    lines = [
        "| concurrency | variant | median calls/s | best calls/s | median ÷ fastest plain | "
        "calls per cell | errors |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for c, result in results.items():
        cells: dict[str, list[Cell]] = result["cells"]
        median = medians(cells)
        fastest = max(median[name] for name in PLAIN if name in median)
        for name, cs in cells.items():
            mark = " **(fastest plain)**" if median[name] == fastest else ""
            lines.append(
                f"| {c} | {name}{mark} | {median[name]:,.0f} | {max(x.rate for x in cs):,.0f} | "
                f"{median[name] / fastest:.2f} | {max(x.done for x in cs):,} | "
                f"{sum(x.errors for x in cs)} |"
            )
    return lines


def goal_lines(results: Results) -> list[str]:
    lines = []
    for c in (50, 200):
        if c not in results:
            continue
        median = medians(results[c]["cells"])
        fastest = max((n for n in PLAIN if n in median), key=lambda n: median[n])
        ratio = median[AGENTROUTE] / median[fastest]
        verdict = "met" if ratio >= 0.9 else "NOT met"
        lines.append(
            f"- c={c}: agentroute {median[AGENTROUTE]:,.0f} calls/s = {ratio:.2f} × {fastest} "
            f"({median[fastest]:,.0f}); {median[AGENTROUTE] / median[OLD]:.1f} × the old default "
            f"({median[OLD]:,.0f}): goal (≥ 0.90 × fastest plain) {verdict}."
        )
    return lines


def reading_lines(runs: dict[str, Results]) -> list[str]:
    """What the tables say beyond the goal, with this run's numbers."""
    lines = []
    for c in (50, 200):
        if c not in runs["asyncio"]:
            continue
        m = medians(runs["asyncio"][c]["cells"])
        fastest = max(m[n] for n in PLAIN)
        parts = [
            f"c={c}: the default transport makes the routed path {m[AGENTROUTE] / m[OLD]:.1f} × "
            f"the old default and reaches {m[AGENTROUTE] / fastest:.2f} of plain aiohttp; a "
            f"hand-made provider on a plain aiohttp session reaches {m[CEILING] / fastest:.2f}"
        ]
        if LITELLM in m:
            parts.append(f"agentroute runs {m[AGENTROUTE] / m[LITELLM]:.0f} × LiteLLM's Router")
        if c in runs.get("trio", {}):
            t = medians(runs["trio"][c]["cells"])
            best = max(t[n] for n in PLAIN if n in t)
            parts.append(
                f"on trio agentroute's sharded pool runs {t[AGENTROUTE] / best:.1f} × plain httpx"
            )
        lines.append("- " + "; ".join(parts) + ".")
    return lines


def baseline_lines(results: Results) -> list[str]:
    """This commit's default transport beside the baseline commit's, cell by cell."""
    lines = [
        "| concurrency | baseline median calls/s | this commit median calls/s | after ÷ before | "
        "baseline ÷ fastest plain | this commit ÷ fastest plain |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for c, result in results.items():
        m = medians(result["cells"])
        if BASELINE not in m:
            continue
        fastest = max(m[name] for name in PLAIN if name in m)
        lines.append(
            f"| {c} | {m[BASELINE]:,.0f} | {m[AGENTROUTE]:,.0f} | "
            f"{m[AGENTROUTE] / m[BASELINE]:.2f} | {m[BASELINE] / fastest:.2f} | "
            f"{m[AGENTROUTE] / fastest:.2f} |"
        )
    return lines


def report(
    runs: dict[str, Results], command: str, plan: Plan, parts: list[Part] | None = None
) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in sorted(VERSIONS.items()))
    lines = [
        "# Loopback HTTP throughput",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()}; {versions}. Server: a raw asyncio "
        "protocol in a subprocess on 127.0.0.1 answering a canned chat.completion (with usage).",
        "",
        f"Each cell: up to {plan.calls[max(plan.calls)]:,} calls at c ≥ 50 and "
        f"{plan.calls[min(plan.calls)]:,} at c = 1, within {plan.cap_s:.0f} s; one warm-up cell "
        f"per variant, then {plan.rounds} interleaved rounds (order rotating). 'Fastest plain' = "
        "the best median among httpx (defaults), httpx (tuned limits) and aiohttp. agentroute "
        "variants run `Router.complete()` (routing, session, fallback, the OpenAI provider, "
        "usage and cost; debug log events dropped by the app's structlog config).",
    ]
    if LOAD:
        lines += [
            "",
            f"Load: 1-minute load average {LOAD[0]:.1f} at the start and {LOAD[-1]:.1f} at the "
            "end (2 cores; the machine may be shared with other work — figures are wall clock: "
            "compare rows within one run, where the interleaved rounds spread the load alike).",
        ]
    for backend, results in runs.items():
        busy = ", ".join(f"c={c}: {r['server_busy']:.0%}" for c, r in results.items())
        lines += [
            "",
            f"## {backend}",
            "",
            *table(results),
            "",
            f"Server CPU use in the busiest cell (the server is not the bottleneck while well "
            f"below 100%): {busy}.",
        ]
    if BASELINE_REF and BASELINE in runs["asyncio"][max(runs["asyncio"])]["cells"]:
        lines += [
            "",
            f"## Before and after (asyncio): baseline {BASELINE_REF[0].split()[0]}",
            "",
            f"The baseline (`{BASELINE_REF[0]}`) ran its default-transport variant in a worker "
            "subprocess (its `agentroute` first on `PYTHONPATH`, extracted by "
            "`benchmarks/_baseline.py`), one cell per round among this run's, against the same "
            "server; the row 'agentroute (default transport), baseline commit' above.",
            "",
            *baseline_lines(runs["asyncio"]),
        ]
    if parts:
        lines += [
            "",
            "## Where the time goes (asyncio, one call at a time)",
            "",
            "Each piece timed alone in this process before the rounds above: sequential calls, "
            "best of five interleaved rounds (wall clock; under concurrency every piece costs "
            "more per call).",
            "",
            *breakdown_lines(parts),
        ]
    lines += [
        "",
        "## Goal",
        "",
        "The goal: agentroute's provider path within 10% of the fastest plain client at "
        "concurrency 50 and 200 (ratio ≥ 0.90), asyncio:",
        "",
        *goal_lines(runs["asyncio"]),
        "",
        "## Reading",
        "",
        *reading_lines(runs),
        "",
        "The transport was the first bottleneck: httpx's own pool costs more per request the more",
        "requests are in flight (see 'one tuned httpx pool'). The second was httpx's client layer",
        "on top of aiohttp (request and response models, header normalization, cookie jar, auth",
        "and redirect steps) and the httpx-aiohttp adapter: 'where the time goes' measures it per",
        "call one at a time, and it grows under load. The default transport now posts through",
        "aiohttp's session directly (a provider's own client on asyncio, plain and streamed",
        "calls; `http_client=` still goes through httpx), which removes that layer: it runs",
        "about as fast as the hand-made aiohttp provider. What remains between it and plain",
        "aiohttp is the routed call itself (routing, session, fallback with its attempt deadline,",
        "usage and cost: 'routed call without HTTP', more with real I/O and under concurrency),",
        "and, much smaller, the provider's own request and answer work (tens of µs of the",
        "routed path's cost, a few µs each). On trio the default stays on httpx's sharded pool.",
    ]
    if SKIPPED:
        lines += ["", f"LiteLLM skipped: {SKIPPED[0]}"]
    elif LITELLM not in runs["asyncio"][max(runs["asyncio"])]["cells"]:
        lines += ["", "LiteLLM left out of this run (`--no-litellm` or `--quick`)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; no LiteLLM; no file")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--litellm-worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline", metavar="REF", help="also run the default transport of git revision REF"
    )
    parser.add_argument(
        "--no-breakdown", action="store_true", help="leave out the 'where the time goes' table"
    )
    args = parser.parse_args()
    if args.serve:
        return serve()
    if args.litellm_worker:
        return litellm_worker(args.litellm_worker)
    if args.baseline_worker:
        return baseline_worker(args.baseline_worker)
    folder: Path | None = None
    if args.baseline:
        from _baseline import baseline_env, extract

        folder, described = extract(args.baseline)
        BASELINE_ENV.update(baseline_env(folder))
        BASELINE_REF.append(described)
    import anyio

    plan = Plan(rounds=args.rounds)
    if args.quick:
        plan = Plan(rounds=1, calls={1: 50, 50: 200, 200: 200}, warmup=50, cap_s=5.0)
    with_litellm = not (args.quick or args.no_litellm)
    LOAD.append(os.getloadavg()[0])
    try:
        with server_process() as base_url:
            parts = None
            if not args.no_breakdown:
                parts = anyio.run(breakdown, base_url, 200 if args.quick else 3000)
            runs = {
                backend: anyio.run(measure, base_url, plan, backend, with_litellm, backend=backend)
                for backend in ("asyncio", "trio")
            }
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    LOAD.append(os.getloadavg()[0])
    command = "python " + " ".join(["benchmarks/http_throughput.py", *sys.argv[1:]])
    text = report(runs, command, plan, parts)
    print()
    publish("http_throughput", text, write=not args.quick)


if __name__ == "__main__":
    main()
