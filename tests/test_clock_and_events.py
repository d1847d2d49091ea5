"""One clock, one event sink, no OpenTelemetry private names.

* Time is read only through :mod:`agentroute.clock`, and the router's clock reaches every
  reader: a :class:`~agentroute.testing.FakeClock` moves implicit sessions' idle TTL, a
  classifier's breaker, explicit sessions' creation time, the simulator's prompt caches and
  when telemetry looks again for a global OpenTelemetry provider.
* :class:`~agentroute.telemetry.logs.RouteEvents` is the one place that decides whether an
  event is emitted: every event keeps its name, level and fields; a level that is filtered
  out costs no event; ``log_events: false`` silences every component, ``true`` reaches each.
* The telemetry reads OpenTelemetry's public API only, and asks it again for a global provider
  at most once per ``RECHECK_S`` of the router's clock (in a fresh interpreter: setting a
  global provider here would trace every later test).
"""

from __future__ import annotations

import ast
import json
import logging
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from agentroute import ModelResult, ProviderUnavailable, Router
from agentroute.policy.classifier import HybridClassifier
from agentroute.session import SessionState
from agentroute.sim.server import run_simulator
from agentroute.telemetry.logs import RouteEvents
from agentroute.testing import FakeClock, ScriptedProvider, capture_logs
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "agentroute"

# Reading time: module name -> the functions of it that read a clock.
TIME_READERS: Mapping[str, frozenset[str]] = {
    "time": frozenset(
        {"monotonic", "monotonic_ns", "time", "time_ns", "perf_counter", "perf_counter_ns"}
    ),
    "anyio": frozenset({"current_time"}),
    "datetime": frozenset({"now", "utcnow", "today"}),
    "date": frozenset({"today"}),
}
ALLOWED_TIME_READERS: Mapping[str, str] = {
    "agentroute/clock.py": "the one module that reads time",
    "agentroute/providers/classify.py": (
        "a Retry-After HTTP date is wall-clock time; parse_retry_after takes `now`, and the "
        "default reads time.time() where the date is parsed"
    ),
}


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), str(path))


def _time_reads(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.attr in TIME_READERS.get(node.value.id, ())
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in TIME_READERS:
            readers = TIME_READERS[node.module]
            found += [f"line {node.lineno}: from {node.module} import {a.name}" for a in
                      node.names if a.name in readers]  # fmt: skip
    return found


def test_time_is_read_only_through_the_clock_module() -> None:
    offenders = {
        name: reads
        for name, tree in _sources()
        if name not in ALLOWED_TIME_READERS and (reads := _time_reads(tree))
    }
    assert offenders == {}, "read time through agentroute.clock (the router's Clock)"


def test_the_scan_sees_a_time_reader() -> None:
    tree = ast.parse("import time\nfrom time import perf_counter\nt = time.monotonic()\n")
    assert _time_reads(tree) == [
        "line 2: from time import perf_counter",
        "line 3: time.monotonic",
    ]


def _otel_private(tree: ast.Module) -> list[str]:
    """Imports of, or attributes read from, OpenTelemetry names that start with ``_``."""
    aliases: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("opentelemetry"):
                    aliases.add((a.asname or a.name).split(".")[0])
                    if any(part.startswith("_") for part in a.name.split(".")):
                        found.append(f"line {node.lineno}: import {a.name}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opentelemetry"):
            module = node.module or ""
            for a in node.names:
                aliases.add(a.asname or a.name)
                parts = [*module.split("."), a.name]
                if any(part.startswith("_") for part in parts):
                    found.append(f"line {node.lineno}: from {module} import {a.name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_opentelemetry_private_name_is_used() -> None:
    offenders = {name: found for name, tree in _sources() if (found := _otel_private(tree))}
    assert offenders == {}


def test_the_otel_scan_sees_a_private_name() -> None:
    tree = ast.parse(
        "from opentelemetry import trace\n"
        "from opentelemetry.metrics._internal import _ProxyMeterProvider\n"
        "p = trace._TRACER_PROVIDER\n"
    )
    assert len(_otel_private(tree)) == 2


# The router's clock reaches every reader ---------------------------------------------------------


def _continue(history: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return [*history, {"role": "assistant", "content": f"answer {n}"},
            {"role": "user", "content": f"and then {n}"}]  # fmt: skip


async def test_implicit_sessions_expire_on_the_routers_clock() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(default="ok")
    data = config_dict(sessions={"idle_ttl_s": 60}, telemetry={"log_events": False})
    router = Router(data, providers={"alpha": provider}, clock=clock)
    history = list(CONVERSATION)
    steps = []
    for n, idle in enumerate((0, 59, 61)):  # within the TTL the run goes on; past it, anew
        clock.advance(idle)
        result = await router.complete(history)
        assert result.decision is not None
        steps.append(result.decision.step)
        history = _continue(history, n)
    assert steps == [1, 2, 1]


async def test_explicit_sessions_are_made_on_the_routers_clock() -> None:
    clock = FakeClock(start=1234.5)
    router = Router(config_dict(), providers={"alpha": ScriptedProvider()}, clock=clock)
    assert router.session("s").state.last_used == 1234.5


class FailingAsk:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, messages: list[dict[str, Any]]) -> str:
        self.calls += 1
        raise RuntimeError("the helper model is down")


async def _first_steps(router: Router, n: int) -> None:
    for i in range(n):
        async with router.session(f"run-{i}"):
            await router.complete(CONVERSATION)


@pytest.mark.parametrize("own_clock", [False, True])
async def test_a_classifier_reads_the_routers_clock_unless_given_its_own(own_clock: bool) -> None:
    clock, own = FakeClock(), FakeClock()
    ask = FailingAsk()  # min_confidence above 1: the rules never suffice, the model is asked
    classifier = HybridClassifier(
        ask, min_confidence=1.1, failure_threshold=1, reset_after_s=30.0,
        clock=own if own_clock else None,
    )  # fmt: skip
    data = config_dict(telemetry={"log_events": False})
    router = Router(data, providers={"alpha": ScriptedProvider(default="ok")},
                    classifier=classifier, clock=clock)  # fmt: skip
    await _first_steps(router, 2)
    assert ask.calls == 1 and classifier.breaker_open  # one failure opened the breaker
    clock.advance(30.0)  # the router's clock: the breaker's window is over (unless its own)
    await _first_steps(router, 1)
    assert ask.calls == (1 if own_clock else 2)
    own.advance(30.0)
    await _first_steps(router, 1)
    assert ask.calls == 2  # its own clock moved: asked again; the router's: still open


async def test_the_simulators_cache_expires_on_the_simulators_clock() -> None:
    clock = FakeClock()
    config = {"instances": {"p": {"kind": "openai", "cache": {"ttl_s": 300}}}}
    body = {"model": "m", "messages": [{"role": "user", "content": "route me " * 1000}]}

    async def cached(client: httpx.AsyncClient) -> int:
        r = await client.post(f"{sim.base_url('p')}/chat/completions", json=body,
                              headers={"authorization": "Bearer k"})  # fmt: skip
        r.raise_for_status()
        return int(r.json()["usage"]["prompt_tokens_details"]["cached_tokens"])

    async with run_simulator(config, clock=clock) as sim, httpx.AsyncClient() as client:
        assert await cached(client) == 0
        clock.advance(299)
        assert await cached(client) > 1024  # read within the TTL (and refreshed)
        clock.advance(301)
        assert await cached(client) == 0  # no real time passed: only the clock moved
    assert not sim.internal_errors


# One event sink ----------------------------------------------------------------------------------

SESSION_FIELDS = {"event", "log_level", "session_id", "step"}


def _result_and_state() -> tuple[ModelResult, SessionState]:
    """A routed call's result and session, to feed the sink real objects."""
    import anyio

    provider = ScriptedProvider(default="ok")
    router = Router(config_dict(), providers={"alpha": provider}, clock=FakeClock())
    result = anyio.run(router.complete, CONVERSATION)
    state = provider.calls[0].session
    assert state is not None
    return result, state


def test_every_event_keeps_its_name_level_and_fields() -> None:
    result, state = _result_and_state()
    decision, (attempt,) = result.decision, result.attempts
    assert decision is not None
    failed = attempt.__class__(**{**vars_of(attempt), "outcome": "error",
                                  "error_type": "RateLimited", "status_code": 429})  # fmt: skip
    events = RouteEvents(True)
    with capture_logs() as logs:
        events.decision(state, decision)
        events.attempt(state, 1, attempt)
        events.attempt(state, 1, failed, error=RuntimeError("boom"))
        events.fallback(state, 1, failed, attempt.target, "next_deployment")
        events.cooldown(state, 1, attempt.target, 5.0, "429")
        events.pin(state, 1, "new", "small", "alpha/small-1", None, "")
        events.pin(state, 1, "break", "small", "", "alpha/small-1", "failed")
        events.budget_refused(state, 1, "max_steps", 3)
        events.usage_unknown(state, 1, dict, streamed=False)
        events.session_evicted(state, 1.5, 100)
        events.sdk_retries("fn", "AsyncOpenAI", 2)
        assert events.state_error("get_pin", "timeout", "no answer", 1) is True
        events.state_breaker("open", 3, 5.0)
        events.state_breaker("closed", 0, 5.0)
    got = [(e["event"], e["log_level"], set(e)) for e in logs]
    attempt_fields = SESSION_FIELDS | {"attempt", "model", "deployment", "outcome", "duration_s"}
    assert got == [
        ("route.decision", "debug", SESSION_FIELDS | {"tier", "previous_tier", "cause",
                                                      "score", "candidates", "reason"}),
        ("route.attempt", "debug", attempt_fields | {"cost_usd"}),
        ("route.attempt", "warning", attempt_fields | {"error_type", "status_code",
                                                       "retry_after", "error"}),
        ("route.fallback", "info", SESSION_FIELDS | {"attempt", "error_type", "deployment",
                                                     "to_deployment", "to_model", "action"}),
        ("route.cooldown", "warning", SESSION_FIELDS | {"model", "deployment", "cooldown_s",
                                                        "reason"}),
        ("route.affinity", "debug", SESSION_FIELDS | {"pin", "model", "deployment", "previous"}),
        ("route.affinity_break", "info", SESSION_FIELDS | {"pin", "model", "deployment",
                                                           "previous", "reason"}),
        ("route.budget", "warning", SESSION_FIELDS | {"action", "limit", "limit_value",
                                                      "cost_usd"}),
        ("route.usage_unknown", "warning", SESSION_FIELDS | {"response_type", "streamed",
                                                             "charged", "hint"}),
        ("route.session_evicted", "warning", SESSION_FIELDS | {"idle_s", "max_implicit"}),
        ("route.sdk_retries", "warning", {"event", "log_level", "function", "source",
                                          "max_retries"}),
        ("route.state_error", "warning", {"event", "log_level", "operation", "error_type",
                                          "error", "errors_so_far", "effect"}),
        ("route.state_breaker", "warning", {"event", "log_level", "state", "failures",
                                            "reset_s", "effect"}),
        ("route.state_breaker", "info", {"event", "log_level", "state", "effect"}),
    ]  # fmt: skip
    assert logs[2]["error"] == "boom" and logs[1]["cost_usd"] == attempt.cost_usd


def vars_of(obj: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


class Untouchable:
    """Any attribute read fails: an event built from it would raise."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the event was built ({name} read)")


@pytest.fixture
def info_level() -> list[Mapping[str, Any]]:
    """structlog configured by the "application" to drop debug events; what it emits."""
    seen: list[Mapping[str, Any]] = []

    def keep(logger: Any, method: str, event: Any) -> Any:
        seen.append(event)
        raise structlog.DropEvent

    structlog.configure(
        processors=[keep], wrapper_class=structlog.make_filtering_bound_logger(logging.INFO)
    )
    return seen  # (the autouse fixture resets structlog after the test)


@pytest.mark.parametrize("mode", [True, None])
def test_a_filtered_level_costs_no_event(mode: bool | None, info_level: list[Any]) -> None:
    events = RouteEvents(mode)
    nothing: Any = Untouchable()
    events.decision(nothing, nothing)  # debug: dropped before anything is read
    events.pin(nothing, 1, "hit", "m", "d", "d", "")
    assert events.logger_for(logging.DEBUG) is None
    assert events.logger_for(logging.INFO) is not None
    _, state = _result_and_state()
    events.budget_refused(state, 1, "max_steps", 1)  # a warning passes
    assert [e["event"] for e in info_level] == ["route.budget"]


def test_forced_off_means_off_whatever_structlog_says(info_level: list[Any]) -> None:
    events = RouteEvents(False)
    nothing: Any = Untouchable()
    events.budget_refused(nothing, 1, "max_steps", 1)
    assert events.logger_for(logging.CRITICAL) is None and info_level == []


def test_by_default_events_follow_structlogs_configuration() -> None:
    structlog.reset_defaults()
    events = RouteEvents()  # built before the application configures structlog
    assert events.logger_for(logging.WARNING) is None
    with capture_logs() as logs:  # configured later: the same sink emits
        events.sdk_retries("fn", "AsyncOpenAI", 2)
    assert [e["event"] for e in logs] == ["route.sdk_retries"]


async def _eventful_run(log_events: bool) -> list[str]:
    """Decisions, a failed attempt, a fallback, a cooldown, a budget refusal."""
    data = config_dict(
        telemetry={"log_events": log_events},
        resilience={"max_retries": 0, "allowed_fails": 1, "escalate_on_exhaustion": False},
        budget={"max_steps": 1},
    )
    providers = {
        "alpha": ScriptedProvider([ProviderUnavailable("busy", status_code=503)], default="a"),
        "beta": ScriptedProvider(default="b"),
    }
    router = Router(data, providers=providers, clock=FakeClock())
    with capture_logs() as logs:
        async with router.session("s"):
            await router.complete(CONVERSATION, hints={"min_tier": "medium"})
            with pytest.raises(Exception, match="max_steps"):
                await router.complete(CONVERSATION)
    return sorted({e["event"] for e in logs})


async def test_the_config_switch_reaches_every_component() -> None:
    assert await _eventful_run(False) == []
    assert await _eventful_run(True) == [
        "route.attempt",
        "route.budget",
        "route.cooldown",
        "route.decision",
        "route.fallback",
    ]


# The global OpenTelemetry providers, asked again on the router's clock ------------------------

GLOBAL_LATER = """
import json
import anyio
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from agentroute import Router
from agentroute.telemetry.spans import RECHECK_S
from agentroute.testing import FakeClock, ScriptedProvider
from tests.helpers import CONVERSATION, config_dict

asked = []
for module, name in ((trace, "get_tracer_provider"), (metrics, "get_meter_provider")):
    def counted(real=getattr(module, name)):
        asked.append(1)
        return real()
    setattr(module, name, counted)

clock = FakeClock()
config = config_dict(telemetry={"log_events": False})
providers = {"alpha": ScriptedProvider(default="ok"), "beta": ScriptedProvider(default="ok")}
router = Router(config, providers=providers, clock=clock)
exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
out = {}

def spans():
    return sum(s.name == "agentroute.route" for s in exporter.get_finished_spans())

def decisions():
    data = reader.get_metrics_data()
    return sum(
        p.value
        for rm in (data.resource_metrics if data else ())
        for sm in rm.scope_metrics
        for m in sm.metrics if m.name == "agentroute.decisions"
        for p in m.data.data_points
    )

async def calls(n):
    for _ in range(n):  # each the first step of a run: the start tier, no network
        async with router.session():
            await router.complete(CONVERSATION)

def set_providers():
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

async def main():
    await calls(1)  # the first call looks again
    first = len(asked)
    await calls(50)
    out["asked_in_50_calls"] = len(asked) - first
    set_providers()
    await calls(3)
    out["before"] = [spans(), decisions()]
    clock.advance(RECHECK_S)
    await calls(2)
    out["after"] = [spans(), decisions()]
    seen = len(asked)
    clock.advance(10 * RECHECK_S)
    await calls(5)
    out["asked_once_set"] = len(asked) - seen

anyio.run(main)
print(json.dumps(out))
"""


def run_script(script: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_global_provider_set_later_is_seen_within_recheck_s_of_the_routers_clock() -> None:
    out = run_script(GLOBAL_LATER)
    assert out["asked_in_50_calls"] == 0  # the cheap path does not ask the API per call
    assert out["before"] == [0, 0]  # set after the last look: not seen yet
    assert out["after"] == [2, 2]  # the clock moved on: seen, spans and metrics both
    assert out["asked_once_set"] == 0  # a global provider cannot be replaced: no more asking


SET_UP_AFTER_THE_ROUTER = (
    GLOBAL_LATER.split("async def main():")[0]
    + """
async def main():
    set_providers()  # the app configures OpenTelemetry after building its router
    await calls(1)  # no time has passed: still traced
    out["first"] = [spans(), decisions()]

anyio.run(main)
print(json.dumps(out))
"""
)


def test_providers_set_between_building_the_router_and_its_first_call_are_seen() -> None:
    assert run_script(SET_UP_AFTER_THE_ROUTER) == {"first": [1, 1]}
