"""RedisStateStore against a real ``redis-server``: the StateStore contract, two OS processes
sharing one Redis (store to store, and router to router), secrets, closing, lazy import.

A session fixture starts its own ``redis-server`` (loopback, a free port, no persistence, a
password) and stops it by PID at the end. Without the binary these tests skip, unless
``AGENTROUTE_REQUIRE_REDIS=1`` (as in CI), where they fail. Each test gets its own namespace.
Time is real: the contract runs on short real TTLs (``UNIT`` below).

The async tests run on asyncio only: ``redis.asyncio`` does not run under trio (it needs a
running asyncio loop), so the store refuses trio with a ConfigurationError — tested below by
running it on trio on purpose.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agentroute import Router
from agentroute.clock import SystemClock
from agentroute.errors import ConfigurationError, ProviderUnavailable
from agentroute.middleware.affinity import PinEvent
from agentroute.state import MemoryStateStore, StateStore
from agentroute.state.failopen import FailOpenStore
from agentroute.state.redis import DEFAULT_POOL_SIZE
from agentroute.testing import CallRecorder, MockProvider, capture_logs, text_result
from tests.helpers import CONVERSATION, config_dict
from tests.state_contract import Advance, Now, StateStoreContract

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
M1, MB = "alpha/mid-1", "beta/mid-b"
MEDIUM = {"min_tier": "medium", "max_tier": "medium"}


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only (see the module docstring)."""
    return "asyncio"


# The server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    port: int
    password: str

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _unavailable(reason: str) -> None:
    if os.environ.get("AGENTROUTE_REQUIRE_REDIS") == "1":
        pytest.fail(f"{reason} (AGENTROUTE_REQUIRE_REDIS=1: the Redis tests must run)")
    pytest.skip(f"{reason}; install redis-server to run the Redis state store tests")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server ``.ci/run`` started (``AGENTROUTE_REDIS_PORT``/``_PASSWORD``), or one of
    our own on a free loopback port, stopped by its PID at the end."""
    given = os.environ.get("AGENTROUTE_REDIS_PORT")
    if given:
        if not _listening(int(given)):
            pytest.fail(f"AGENTROUTE_REDIS_PORT={given}: no redis-server listens there")
        yield Server(int(given), os.environ.get("AGENTROUTE_REDIS_PASSWORD", ""))
        return
    proc, server = _start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        _stop_redis(proc)


def _start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], Server]:
    """A ``redis-server`` of our own on a free loopback port (no persistence, a password)."""
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not on PATH")
    try:
        import redis  # noqa: F401
    except ImportError:
        _unavailable("the 'redis' package is not installed (pip install 'agentroute[redis]')")
    assert binary is not None
    password = f"pw-{uuid.uuid4().hex}"
    for _ in range(3):  # a free port may be taken between the probe and the start
        port = _free_port()
        log = workdir / f"redis-{port}.log"
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        args += ["no", "--requirepass", password, "--dir", str(workdir), "--logfile", str(log)]
        proc = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10.0
        while proc.poll() is None and time.monotonic() < deadline and not _listening(port):
            time.sleep(0.02)
        if proc.poll() is None and _listening(port):
            return proc, Server(port, password)
        proc.kill()
        proc.wait()
    text = log.read_text() if log.exists() else ""
    pytest.fail(f"redis-server did not start:\n{text[-2000:]}")


def _stop_redis(proc: subprocess.Popen[bytes]) -> None:
    """Stop our server by its PID, also if a test left it stopped (SIGSTOP)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Server]]:
    """A server for this test alone (never the shared one): a test may SIGSTOP it."""
    proc, server = _start_redis(tmp_path)
    try:
        yield proc, server
    finally:
        _stop_redis(proc)


@pytest.fixture
def namespace() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def redis_store(server: Server, namespace: str) -> Any:
    from agentroute.state import RedisStateStore

    return RedisStateStore(server.url, namespace=namespace)


# The contract --------------------------------------------------------------------------------


class TestRedisStateStoreContract(StateStoreContract):
    UNIT = 0.1
    TOLERANCE = 0.003  # Redis keeps TTLs in whole milliseconds

    @pytest.fixture
    async def store(self, redis_server: Server, namespace: str) -> AsyncIterator[StateStore]:
        store: StateStore = redis_store(redis_server, namespace)
        yield store
        await store.aclose()

    @pytest.fixture
    def advance(self) -> Advance:
        return anyio.sleep

    @pytest.fixture
    def now(self) -> Now:
        return time.monotonic


async def test_keys_are_namespaced_and_carry_server_side_ttls(
    redis_server: Server, namespace: str
) -> None:
    store = redis_store(redis_server, namespace)
    try:
        await store.add_failure(M1, 30.0)
        await store.set_cooldown(MB, 20.0)
        await store.set_pin("s:1", "mid", M1, 10.0)
        client = store._client
        ours = sorted(k.decode() for k in await client.keys(f"{namespace}:*"))
        ns = namespace
        assert ours == [f"{ns}:cool:{MB}", f"{ns}:fail:{M1}", f"{ns}:pin:s%3A1:mid"]
        ttls = [await client.pttl(k) for k in ours]
        assert 19_000 < ttls[0] <= 20_000
        assert 29_000 < ttls[1] <= 30_001
        assert 9_000 < ttls[2] <= 10_000
    finally:
        await store.aclose()


async def test_namespaces_do_not_share_state(redis_server: Server) -> None:
    a = redis_store(redis_server, f"a-{uuid.uuid4().hex[:8]}")
    b = redis_store(redis_server, f"b-{uuid.uuid4().hex[:8]}")
    try:
        await a.set_cooldown(M1, 10.0)
        await a.set_pin("s1", "mid", M1, 10.0)
        assert await a.add_failure(MB, 10.0) == 1
        assert dict(await b.cooling([M1])) == {}
        assert await b.get_pin("s1", "mid") is None
        assert await b.add_failure(MB, 10.0) == 1
    finally:
        await a.aclose()
        await b.aclose()


# Two processes, one Redis --------------------------------------------------------------------

PEER = """
import asyncio, json, sys
from agentroute.state import RedisStateStore

async def main(url, namespace, action):
    store = RedisStateStore(url, namespace=namespace)
    try:
        if action == "write":
            await store.set_pin("s-a", "mid", "alpha/mid-1", 30.0)
            await store.set_cooldown("alpha/mid-1", 30.0)
            print(json.dumps({"done": True}))
        else:
            cooling = await store.cooling(["alpha/mid-1", "beta/mid-b"])
            pin = await store.get_pin("s-b", "mid")
            print(json.dumps({"cooling": dict(cooling), "pin": pin}))
    finally:
        await store.aclose()

url, namespace, action = sys.stdin.read().split()
asyncio.run(main(url, namespace, action))
"""


async def run_peer(script: str, stdin: str) -> Any:
    """Run ``script`` in another Python process (the URL goes in on stdin, not argv)."""
    result = await anyio.run_process(
        [sys.executable, "-c", script], input=stdin.encode(), cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


async def test_two_processes_see_each_others_pins_and_cooldowns(
    redis_server: Server, namespace: str
) -> None:
    assert await run_peer(PEER, f"{redis_server.url} {namespace} write") == {"done": True}
    store = redis_store(redis_server, namespace)
    try:
        assert await store.get_pin("s-a", "mid") == M1
        cooling = dict(await store.cooling([M1, MB]))
        assert list(cooling) == [M1] and 25.0 < cooling[M1] <= 30.0
        await store.set_pin("s-b", "mid", MB, 30.0)
        await store.set_cooldown(MB, 20.0)
    finally:
        await store.aclose()
    seen = await run_peer(PEER, f"{redis_server.url} {namespace} read")
    assert seen["pin"] == MB
    assert set(seen["cooling"]) == {M1, MB}
    assert 15.0 < seen["cooling"][MB] <= 20.0


def shared_config(namespace: str) -> dict[str, Any]:
    """mid's deployments are sticky (a cheap cache read); one failure cools one down for 60 s;
    state lives in Redis (the URL from the environment, as an application would)."""
    data = config_dict(
        state={"kind": "redis", "url": "env:AGENTROUTE_TEST_REDIS_URL", "namespace": namespace},
        resilience={
            "max_retries": 0,
            "allowed_fails": 1,
            "cooldown_s": 60.0,
            "escalate_on_exhaustion": False,
        },
    )
    data["models"]["mid"]["price"]["cache_read"] = 0.2
    return data


ROUTER_A = """
import asyncio, json, sys
from agentroute import Router
from agentroute.errors import ProviderUnavailable
from agentroute.testing import MockProvider, text_result
from tests.helpers import CONVERSATION
from tests.test_state_redis import MEDIUM, shared_config

async def answer(call):
    if call.target.key == "alpha/mid-1":
        raise ProviderUnavailable("alpha/mid-1 is down")
    return text_result("from A")

async def main(namespace):
    provider = MockProvider(answer)
    config = shared_config(namespace)
    async with Router(config, providers={"alpha": provider, "beta": provider}) as router:
        async with router.session(id="s1"):
            result = await router.complete(CONVERSATION, hints=MEDIUM)
    trail = [(a.target.key, a.error_type or a.outcome) for a in result.attempts]
    print(json.dumps({"trail": trail, "text": result.text}))

asyncio.run(main(sys.stdin.read().strip()))
"""


async def test_two_routers_in_two_processes_share_cooldowns_and_pins(
    redis_server: Server, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Router A (another process) fails on alpha/mid-1, which is put aside, and pins session s1
    to beta/mid-b; router B (this process) skips alpha/mid-1 and finds s1's pin."""
    monkeypatch.setenv("AGENTROUTE_TEST_REDIS_URL", redis_server.url)
    seen = await run_peer(ROUTER_A, namespace)
    assert seen == {"trail": [[M1, "ProviderUnavailable"], [MB, "ok"]], "text": "from A"}

    calls: list[str] = []

    async def answer(call: Any) -> Any:
        calls.append(call.target.key)
        return text_result("from B")

    provider = MockProvider(answer)
    async with Router(shared_config(namespace), providers={"alpha": provider, "beta": provider}):
        pass  # building and closing one with nothing done is fine too
    seen = CallRecorder()  # each call's progress record: what affinity did for it
    async with Router(
        shared_config(namespace), providers={"alpha": provider, "beta": provider}, middleware=[seen]
    ) as router:
        result = await router.complete(CONVERSATION, hints=MEDIUM)  # no session: no pin
        assert result.text == "from B" and calls == [MB]  # alpha/mid-1 is cooling down
        async with router.session(id="s1"):
            await router.complete(CONVERSATION, hints=MEDIUM)
        progress = seen.calls[-1].progress
        assert progress is not None
        assert progress.pin == PinEvent("hit", "mid", MB, MB)  # A's pin
        assert calls == [MB, MB]


# Building, closing, secrets --------------------------------------------------------------------


async def connected_clients(server: Server) -> int:
    import redis.asyncio

    admin = redis.asyncio.Redis.from_url(server.url)
    try:
        info = await admin.info("clients")
        return int(info["connected_clients"]) - 1  # not counting this one
    finally:
        await admin.aclose()


async def test_the_router_builds_a_redis_store_from_the_config_and_closes_it(
    redis_server: Server, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentroute.state import RedisStateStore

    monkeypatch.setenv("AGENTROUTE_TEST_REDIS_URL", redis_server.url)
    before = await connected_clients(redis_server)
    provider = MockProvider(lambda call: text_result("ok"))
    router = Router(shared_config(namespace), providers={"alpha": provider, "beta": provider})
    assert isinstance(router._store, FailOpenStore)  # used fail-open: see test_state_failopen
    assert isinstance(router._store.store, RedisStateStore)
    await router.complete(CONVERSATION, hints=MEDIUM)
    assert await connected_clients(redis_server) > before  # the store's connection
    await router.aclose()
    for _ in range(100):  # the server notices the closed connection soon, not at once
        if await connected_clients(redis_server) == before:
            break
        await anyio.sleep(0.02)
    assert await connected_clients(redis_server) == before


async def test_the_router_leaves_a_given_store_open() -> None:
    closed: list[int] = []

    class Spy(MemoryStateStore):
        async def aclose(self) -> None:
            closed.append(1)

    store = Spy()
    async with Router(config_dict(), state_store=store):
        pass
    assert closed == []


async def test_a_given_client_is_left_open(redis_server: Server, namespace: str) -> None:
    import redis.asyncio

    from agentroute.state import RedisStateStore

    client = redis.asyncio.Redis.from_url(redis_server.url)
    store = RedisStateStore(client=client, namespace=namespace)
    try:
        await store.set_cooldown(M1, 10.0)
        await store.aclose()
        await store.aclose()
        assert await client.pttl(f"{namespace}:cool:{M1}") > 0
        assert "client=<given>" in repr(store)
    finally:
        await client.aclose()


def test_url_and_client_are_exclusive_and_namespace_is_not_empty() -> None:
    from agentroute.state import RedisStateStore

    with pytest.raises(ConfigurationError, match="url or client"):
        RedisStateStore()
    with pytest.raises(ConfigurationError, match="namespace"):
        RedisStateStore("redis://127.0.0.1:1/0", namespace="")


def test_an_unset_url_variable_names_state_url() -> None:
    data = config_dict(state={"kind": "redis", "url": "env:AGENTROUTE_TEST_NO_SUCH_URL"})
    os.environ.pop("AGENTROUTE_TEST_NO_SUCH_URL", None)
    with pytest.raises(ConfigurationError, match=r"AGENTROUTE_TEST_NO_SUCH_URL.*state\.url"):
        Router(data)


def test_a_missing_redis_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentroute.state import RedisStateStore

    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'agentroute\[redis\]'"):
        RedisStateStore("redis://127.0.0.1:6379/0")


def test_importing_agentroute_does_not_import_redis() -> None:
    code = "import agentroute, agentroute.state, sys; assert 'redis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


SECRET = "hunter2-is-the-redis-password"


def test_the_password_never_shows_in_a_repr_or_a_url_error() -> None:
    from agentroute.state import RedisStateStore

    store = RedisStateStore(f"redis://user:{SECRET}@127.0.0.1:6379/0?password={SECRET}")
    assert SECRET not in repr(store) and "user:**********@127.0.0.1" in repr(store)
    for bad in (f"redis://:{SECRET}@127.0.0.1:port/0", f"http://:{SECRET}@127.0.0.1/0"):
        with pytest.raises(ConfigurationError) as info:
            RedisStateStore(bad)
        assert SECRET not in str(info.value) and info.value.__cause__ is None
        assert info.value.__suppress_context__


def chain(exc: BaseException | None) -> str:
    """Every message and repr along an exception's causes and contexts."""
    out = []
    while exc is not None:
        out += [str(exc), repr(exc), repr(exc.args)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(out)


async def test_the_password_never_shows_in_connection_errors(
    redis_server: Server, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    from agentroute.state import RedisStateStore

    caplog.set_level("DEBUG")
    wrong = RedisStateStore(
        f"redis://:{SECRET}@127.0.0.1:{redis_server.port}/0", namespace=namespace
    )
    refused = RedisStateStore(f"redis://:{SECRET}@127.0.0.1:{_free_port()}/0")
    for store in (wrong, refused):
        with pytest.raises(Exception) as info:  # noqa: PT011 - redis's own errors
            await store.cooling([M1])
        assert SECRET not in chain(info.value)
        await store.aclose()
    assert SECRET not in caplog.text


async def test_the_password_never_shows_in_router_logs(
    redis_server: Server, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    data = shared_config(namespace)
    data["state"]["url"] = redis_server.url  # a literal URL in the config this time

    async def answer(call: Any) -> Any:
        if call.target.key == M1:
            raise ProviderUnavailable("down")
        return text_result("ok")

    provider = MockProvider(answer)
    with capture_logs() as events:
        async with Router(data, providers={"alpha": provider, "beta": provider}) as router:
            assert redis_server.password not in repr(router.config.state)
            async with router.session(id="s1"):
                await router.complete(CONVERSATION, hints=MEDIUM)
                await router.complete(CONVERSATION, hints=MEDIUM)
    assert {e["event"] for e in events} >= {"route.cooldown"}
    assert redis_server.password not in repr(events)
    assert redis_server.password not in caplog.text


# trio ------------------------------------------------------------------------------------------


def test_on_trio_the_store_raises_a_clear_configuration_error(
    redis_server: Server, namespace: str
) -> None:
    from agentroute.state import RedisStateStore

    async def main() -> None:
        store = RedisStateStore(redis_server.url, namespace=namespace)
        with pytest.raises(ConfigurationError, match="needs asyncio"):
            await store.cooling([M1])
        with pytest.raises(ConfigurationError, match="needs asyncio"):
            await store.set_pin("s1", "mid", M1, 1.0)
        with pytest.raises(ConfigurationError, match="needs asyncio"):
            await store.read_call([M1], "s1", ["mid"])
        await store.aclose()  # nothing was opened: a quiet no-op
        provider = MockProvider(lambda call: text_result("ok"))
        data = config_dict(state={"kind": "redis", "url": redis_server.url})
        async with Router(data, providers={"alpha": provider, "beta": provider}) as router:
            with pytest.raises(ConfigurationError, match="needs asyncio"):
                await router.complete(CONVERSATION)
            async with router.session(id="s1"):  # the sticky path (one read for the call) too
                with pytest.raises(ConfigurationError, match="needs asyncio"):
                    await router.complete(CONVERSATION)
            assert router._store.errors == 0  # a developer's mistake, not an outage
            assert router._store.breaker.state == "closed"  # type: ignore[attr-defined]

    anyio.run(main, backend="trio")


# A hung server, load, round trips (issue 14) ---------------------------------------------------


class ShiftedClock(SystemClock):
    """The real clock, moved forward by ``shift`` seconds on demand: deadlines and timeouts
    run on real time, and a test ends the breaker's window without sleeping through it."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = 0.0

    def now(self) -> float:
        return super().now() + self.shift


def store_metrics(reader: InMemoryMetricReader) -> dict[str, dict[tuple[Any, ...], float]]:
    """The state store's counters: metric name → sorted attributes → value."""
    out: dict[str, dict[tuple[Any, ...], float]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name.startswith("agentroute.state."):
                    for point in metric.data.data_points:
                        key = tuple(sorted((point.attributes or {}).items()))
                        out.setdefault(metric.name, {})[key] = point.value  # type: ignore[union-attr]
    return out


async def healthy(call: Any) -> Any:
    """A healthy deployment: it answers after 10 ms (a real one is never instantaneous: an
    attempt with no time left is cut by its cancel scope)."""
    await anyio.sleep(0.01)
    return text_result("ok")


async def routed(router: Router, session: str) -> str:
    """One call in session ``session`` (the small model: sticky, so it reads and sets a pin)."""
    async with router.session(id=session):
        return (await router.complete(CONVERSATION)).text


async def test_a_hung_redis_fails_no_call_and_the_breaker_closes_after_sigcont(
    own_redis_server: tuple[subprocess.Popen[bytes], Server], namespace: str
) -> None:
    """Redis stopped by SIGSTOP accepts connections and never answers. Before: every store
    operation waited 5 s outside the call's deadline, so a call with ``deadline_s: 3`` had
    no time left for its only attempt and failed. Now each operation gives up after
    ``op_timeout_s``, the breaker opens after three, and every call succeeds."""
    proc, server = own_redis_server
    clock = ShiftedClock()
    reader = InMemoryMetricReader()
    data = config_dict(
        state={"kind": "redis", "url": server.url, "namespace": namespace},
        resilience={"max_retries": 0, "attempt_timeout_s": 3.0, "deadline_s": 3.0},
    )
    provider = MockProvider(healthy)
    async with Router(
        data,
        providers={"alpha": provider, "beta": provider},
        clock=clock,
        meter_provider=MeterProvider(metric_readers=[reader]),
    ) as router:
        store = router._store
        for i in range(3):  # warm: connections open, pins set
            assert await routed(router, f"warm-{i}") == "ok"
        errors_before = store.errors
        proc.send_signal(signal.SIGSTOP)
        try:
            with anyio.fail_after(120):  # only against a hang of the test itself
                texts = [await routed(router, f"s{i}") for i in range(5)]
                async with anyio.create_task_group() as tg:
                    for i in range(50):
                        tg.start_soon(routed, router, f"c{i}")
            assert texts == ["ok"] * 5
            assert store.breaker.state == "open"  # type: ignore[attr-defined]
            assert store.errors - errors_before == 3  # one short timeout each, then skipped
            assert store.skipped > 50  # type: ignore[attr-defined]
        finally:
            proc.send_signal(signal.SIGCONT)
        for _ in range(5):  # a probe per window; the first one answered closes the breaker
            clock.shift += 5.0  # the breaker's window (breaker_reset_s) is over
            assert await routed(router, "after") == "ok"
            if store.breaker.state == "closed":  # type: ignore[attr-defined]
                break
        assert store.breaker.state == "closed"  # type: ignore[attr-defined]
        assert await store.store.get_pin("after", "small") == "alpha/small-1"  # type: ignore[attr-defined]
    counters = store_metrics(reader)
    timeouts = {
        k: v
        for k, v in counters["agentroute.state.errors"].items()
        if ("error.type", "timeout") in k
    }
    assert sum(timeouts.values()) == 3
    transitions = {k[0][1]: v for k, v in counters["agentroute.state.breaker"].items()}
    assert transitions["closed"] == 1 and transitions["open"] == transitions["half_open"] >= 1


async def test_300_concurrent_sessions_lose_no_store_operation(
    redis_server: Server, namespace: str
) -> None:
    """Before: redis-py's default pool refused connections beyond 100 ("Too many
    connections") and the store swallowed it: a third of the operations failed and those
    sessions got no pin. Now the pool blocks, and every session's pin is in Redis."""
    reader = InMemoryMetricReader()
    data = config_dict(
        state={"kind": "redis", "url": redis_server.url, "namespace": namespace},
        telemetry={"log_events": False},
    )
    provider = MockProvider(healthy)
    texts: list[str] = []

    async def one(i: int) -> None:
        texts.append(await routed(router, f"s{i}"))

    async with Router(
        data,
        providers={"alpha": provider, "beta": provider},
        meter_provider=MeterProvider(metric_readers=[reader]),
    ) as router:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for i in range(300):
                    tg.start_soon(one, i)
        store = router._store
        assert store.errors == 0
        assert store.skipped == 0  # type: ignore[attr-defined]
        client = store.store._client  # type: ignore[attr-defined]
        pins = [k async for k in client.scan_iter(match=f"{namespace}:pin:*", count=1000)]
    assert texts == ["ok"] * 300
    assert len(pins) == 300
    assert "agentroute.state.errors" not in store_metrics(reader)


async def test_a_burst_of_1000_sessions_on_a_healthy_redis_fails_no_store_operation(
    redis_server: Server, namespace: str
) -> None:
    """Before: at a burst's start the pool opened its connections (five round trips each)
    while the loop was busy routing the burst, and operations waiting behind others counted
    that time against the store: operations were given up as timeouts though Redis answered,
    three in a row opened the breaker, and the burst ran without pins (here about 500 failed
    and 1,800 skipped of 4,000; operations queued past ``op_max_s`` failed too). Now
    operations queue for the store's connections without using its time,
    every reply (a handshake's too) shows the server alive, and only silence while the loop
    was free gives an operation up."""
    reader = InMemoryMetricReader()
    data = config_dict(
        state={"kind": "redis", "url": redis_server.url, "namespace": namespace},
        telemetry={"log_events": False},
    )

    async def answer(call: Any) -> Any:
        await anyio.lowlevel.checkpoint()  # a provider yields to the loop once, no more
        return text_result("ok")

    provider = MockProvider(answer)

    async def session(i: int) -> None:
        async with router.session(id=f"s{i}"):
            for _ in range(2):
                assert (await router.complete(CONVERSATION)).text == "ok"

    async with Router(
        data,
        providers={"alpha": provider, "beta": provider},
        meter_provider=MeterProvider(metric_readers=[reader]),
    ) as router:
        assert await routed(router, "warm") == "ok"  # one connection open, as in service
        with anyio.fail_after(300):  # only against a hang of the test itself
            async with anyio.create_task_group() as tg:
                for i in range(1_000):
                    tg.start_soon(session, i)
        store = router._store
        assert (store.errors, store.skipped) == (0, 0)  # type: ignore[attr-defined]
        assert store.breaker.state == "closed"  # type: ignore[attr-defined]
    assert "agentroute.state.errors" not in store_metrics(reader)


async def test_the_store_notes_every_reply_read_on_its_connections(
    redis_server: Server, namespace: str
) -> None:
    store = redis_store(redis_server, namespace)
    try:
        assert store.last_answer() == -math.inf
        before = anyio.current_time()
        await store.get_pin("s", "m")  # a new connection's handshake, then the command
        assert before <= store.last_answer() <= anyio.current_time()
        assert store.capacity == DEFAULT_POOL_SIZE
    finally:
        await store.aclose()


async def test_a_sticky_call_takes_two_round_trips(
    redis_server: Server, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a pin read per sticky model, a cooldown read, a pin write (three round trips
    and more); now one script reads the cooldowns and pins, and one command writes the pin.
    (The session's end adds one: its summary, for outcomes recorded later.)"""
    from redis.asyncio.connection import AbstractConnection

    data = config_dict(state={"kind": "redis", "url": redis_server.url, "namespace": namespace})
    provider = MockProvider(lambda call: text_result("ok"))
    sent: list[int] = []
    real_send = AbstractConnection.send_packed_command

    async def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        sent.append(1)
        await real_send(self, *args, **kwargs)

    seen = CallRecorder()  # each call's progress record: what affinity did for it
    async with Router(
        data, providers={"alpha": provider, "beta": provider}, middleware=[seen]
    ) as router:
        assert await routed(router, "warm") == "ok"  # connect, load the scripts
        monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
        assert await routed(router, "s1") == "ok"  # a new pin
        assert len(sent) == 2 + 1  # the call's two, and the session's summary at its end
        async with router.session(id="s1"):
            await router.complete(CONVERSATION)  # the pin serves: a hit
            assert len(sent) == 3 + 2
        progress = seen.calls[-1].progress
        assert progress is not None and progress.pin is not None and progress.pin.kind == "hit"
        assert len(sent) == 5 + 1


async def test_read_call_reads_cooldowns_and_pins_at_once(
    redis_server: Server, namespace: str
) -> None:
    store = redis_store(redis_server, namespace)
    try:
        await store.set_cooldown(MB, 20.0)
        await store.set_pin("s:1", "mid", M1, 10.0)
        found = await store.read_call([M1, MB], "s:1", ["mid", "big"])
        assert list(found.cooling) == [MB] and 15.0 < found.cooling[MB] <= 20.0
        assert dict(found.pins) == {"mid": M1}
        assert list(await store.cooling([M1, MB])) == [MB]
        nothing = await store.read_call([], "s:1", [])
        assert (dict(nothing.cooling), dict(nothing.pins)) == ({}, {})
        assert store.ready()  # an idle, open connection in the pool
    finally:
        await store.aclose()


async def test_the_store_from_the_config_has_a_blocking_pool_of_pool_size(
    redis_server: Server, namespace: str
) -> None:
    from redis.asyncio import BlockingConnectionPool

    state = {"kind": "redis", "url": redis_server.url, "namespace": namespace}
    data = config_dict(state={**state, "pool_size": 7, "op_max_s": 1.5})
    async with Router(data) as router:
        pool = router._store.store._client.connection_pool  # type: ignore[attr-defined]
        assert isinstance(pool, BlockingConnectionPool)
        assert (pool.max_connections, pool.timeout) == (7, 1.5)
        settings = router._store.settings  # type: ignore[attr-defined]
        assert (settings.op_timeout_s, settings.op_max_s) == (0.05, 1.5)


LOGS = """
import asyncio, socket, sys
from agentroute import Router
from agentroute.testing import MockProvider, text_result
from tests.helpers import CONVERSATION, config_dict

if sys.argv[1] == "configured":  # the application set structlog up (output to stdout)
    import structlog
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stdout))
with socket.socket() as s:  # a port nothing listens on: Redis is unreachable
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]

async def main():
    data = config_dict(
        state={"kind": "redis", "url": f"redis://127.0.0.1:{port}/0"},
        telemetry={"log_events": None},
    )
    provider = MockProvider(lambda call: text_result("ok"))
    async with Router(data, providers={"alpha": provider, "beta": provider}) as router:
        assert (await router.complete(CONVERSATION)).text == "ok"
        assert router._store.errors > 0

asyncio.run(main())
"""


def test_an_app_that_never_configured_structlog_gets_no_store_warning_on_stdout() -> None:
    """Before: ``route.state_error`` (a warning) printed to stdout whatever the app did; now
    warnings follow the rule of every library event: emitted once the app set structlog up."""

    def run(mode: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-c", LOGS, mode], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result

    assert run("bare").stdout == ""
    assert "route.state_error" in run("configured").stdout
