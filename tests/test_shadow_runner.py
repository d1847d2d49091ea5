"""Shadow routing's runner with the shipped test doubles: sampling, the user's call untouched,
failing and hanging shadow calls, the budget, the concurrency bound, aclose(), the session's
cost, the judge, the routing log and the span (agentroute.shadow.runner)."""

from __future__ import annotations

import functools
import io
import json
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import ConfigurationError, ModelCall, ModelResult, Router, Usage
from agentroute.errors import AllAttemptsFailed, ProviderUnavailable
from agentroute.shadow.runner import in_shadow
from agentroute.telemetry.routing_log_schema import RoutingLogLine, SessionLine, ShadowLine
from agentroute.testing import FakeClock, MockProvider, text_result, tool_call_result
from tests.helpers import config_dict

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "Move my flight to Friday."}]


def shadow_config(**shadow: Any) -> dict[str, Any]:
    settings = {"sample": 1.0, "tier": "complex", **shadow}
    return config_dict(shadow=settings, telemetry={"log_events": False})


def by_model(call: ModelCall) -> ModelResult:
    """small and mid call the tool with cabin basic; big with cabin economy."""
    assert call.target is not None
    cabin = "economy" if call.target.model == "big" else "basic"
    return tool_call_result("update_reservation", {"cabin": cabin}, usage=Usage(1000, 100))


def providers(handler: Any = by_model) -> dict[str, MockProvider]:
    return {"alpha": MockProvider(handler), "beta": MockProvider(handler)}


async def test_a_sampled_step_is_compared_and_the_user_gets_the_served_answer() -> None:
    provs = providers()
    async with Router(shadow_config(), providers=provs, clock=FakeClock()) as router:
        result = await router.complete(USER)
        await router.drain_shadow()
        stats = router.shadow_stats()
    assert result.target is not None and result.target.model == "small"
    assert result.tool_calls[0].arguments == '{"cabin": "basic"}'
    assert stats is not None
    assert (stats.sampled, stats.compared, stats.failed) == (1, 1, 0)
    assert stats.by_tier["simple"].count == 1
    assert stats.by_tier["simple"].mean < 1.0  # a different argument
    (shadowed,) = provs["beta"].calls
    assert shadowed.target is not None and shadowed.target.model == "big"
    assert shadowed.messages == USER


async def test_the_sessions_cost_excludes_the_shadow_cost() -> None:
    async with Router(shadow_config(), providers=providers(), clock=FakeClock()) as router:
        async with router.session() as session:
            result = await router.complete(USER)
        await router.drain_shadow()
        stats = router.shadow_stats()
    assert stats is not None and stats.cost_usd > 0
    assert session.state.cost_usd == pytest.approx(result.cost_usd)


async def test_off_by_default_and_a_judge_needs_the_section() -> None:
    router = Router(config_dict(), providers=providers(), clock=FakeClock())
    assert router.shadow_stats() is None
    await router.aclose()

    async def judge(a: ModelResult, b: ModelResult, c: ModelCall) -> float:
        return 1.0

    with pytest.raises(ConfigurationError, match="shadow_judge"):
        Router(config_dict(), providers=providers(), shadow_judge=judge)
    with pytest.raises(ConfigurationError, match="shadow_judge"):
        Router(shadow_config(), providers=providers(), shadow_judge=42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shadow", "field"),
    [
        ({"tier": "nope"}, "shadow.tier"),
        ({"tier": "complex", "tiers": ["simple", "x"]}, "shadow.tiers"),
        ({"tier": "complex", "sample": 1.5}, "shadow.sample"),
        ({"tier": "complex", "unit": "call"}, "shadow.unit"),
        ({"tier": "complex", "max_concurrency": 0}, "shadow.max_concurrency"),
        ({"tier": "complex", "budget_usd_per_day": -1}, "shadow.budget_usd_per_day"),
        ({"sample": 0.1}, "shadow.tier"),
    ],
)
def test_a_bad_shadow_section_names_its_field(shadow: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError, match=field.replace(".", r"\.")):
        Router(config_dict(shadow=shadow))


async def test_a_failing_shadow_call_leaves_the_user_call_and_the_cooldowns_alone() -> None:
    def handler(call: ModelCall) -> Any:
        assert call.target is not None
        if call.target.model == "big":
            return ProviderUnavailable("down", status_code=503)
        return by_model(call)

    config = shadow_config()
    config["resilience"] = {**config["resilience"], "allowed_fails": 1}  # one failure: cooldown
    async with Router(config, providers=providers(handler), clock=FakeClock()) as router:
        first = await router.complete(USER)
        await router.drain_shadow()
        stats = router.shadow_stats()
        after_shadow = await router._store.cooling(["beta/big-b"])
        with pytest.raises(AllAttemptsFailed):  # the same failure on the user's path...
            await router.complete(USER, hints={"min_tier": "complex"})
        after_user = await router._store.cooling(["beta/big-b"])
    assert first.target is not None and first.target.model == "small"
    assert stats is not None and (stats.failed, stats.compared) == (1, 0)
    assert not after_shadow  # the shadow failure recorded no cooldown
    assert after_user  # ...puts the deployment aside


async def test_a_hanging_shadow_call_is_cancelled_by_aclose_and_leaves_no_task() -> None:
    entered = anyio.Event()
    cancelled: list[bool] = []

    class Hangs(MockProvider):
        async def send(self, call: ModelCall, /) -> ModelResult:
            if call.target is not None and call.target.model == "big":
                entered.set()
                try:
                    await anyio.sleep_forever()
                finally:
                    cancelled.append(True)
            return by_model(call)

    router = Router(shadow_config(), providers={"alpha": Hangs(by_model), "beta": Hangs(by_model)})
    result = await router.complete(USER)
    assert result.target is not None and result.target.model == "small"
    with anyio.fail_after(5):
        await entered.wait()
    await router.aclose()
    stats = router.shadow_stats()
    assert cancelled == [True]
    assert stats is not None and (stats.cancelled, stats.in_flight) == (1, 0)
    host_done = router._shadow is not None and router._shadow._host is None
    assert host_done


async def test_max_concurrency_drops_the_excess() -> None:
    release = anyio.Event()

    class Slow(MockProvider):
        async def send(self, call: ModelCall, /) -> ModelResult:
            if call.target is not None and call.target.model == "big":
                await release.wait()
            return by_model(call)

    config = shadow_config(max_concurrency=1)
    async with Router(config, providers={"alpha": Slow(by_model), "beta": Slow(by_model)}) as r:
        for n in range(3):
            await r.complete([{"role": "user", "content": f"task {n}"}])
        release.set()
        await r.drain_shadow()
        stats = r.shadow_stats()
    assert stats is not None
    assert (stats.sampled, stats.dropped_concurrency, stats.compared) == (1, 2, 1)


async def test_the_daily_budget_stops_sampling() -> None:
    # a shadow call costs 1000 in x $10/M + 100 out x $30/M = $0.013: the budget holds two
    config = shadow_config(budget_usd_per_day=0.03)
    async with Router(config, providers=providers(), clock=FakeClock()) as router:
        for n in range(5):
            await router.complete([{"role": "user", "content": f"task {n}"}])
            await router.drain_shadow()
        stats = router.shadow_stats()
    assert stats is not None
    assert (stats.compared, stats.dropped_budget) == (2, 3)
    assert stats.spent_today_usd == pytest.approx(0.026)


async def test_a_zero_budget_samples_nothing() -> None:
    config = shadow_config(budget_usd_per_day=0)
    async with Router(config, providers=providers(), clock=FakeClock()) as router:
        await router.complete(USER)
        stats = router.shadow_stats()
    assert stats is not None and (stats.sampled, stats.dropped_budget) == (0, 1)


async def test_sampling_is_deterministic_by_session_and_step() -> None:
    async def sampled(unit: str) -> list[tuple[str, int]]:
        config = shadow_config(sample=0.5, unit=unit, max_concurrency=100)
        provs = providers()
        async with Router(config, providers=provs, clock=FakeClock()) as router:
            for s in range(8):
                async with router.session(f"s{s}"):
                    for n in range(10):
                        await router.complete([{"role": "user", "content": f"q{n}"}])
            await router.drain_shadow()
        return sorted((c.session.key, c.step) for c in provs["beta"].calls if c.session)

    first = await sampled("step")
    assert first == await sampled("step")  # the same steps in every run (and process)
    assert 15 < len(first) < 65
    by_session = await sampled("session")
    sessions = {key for key, _ in by_session}
    assert 0 < len(sessions) < 8
    assert by_session == [(key, step) for key in sorted(sessions) for step in range(1, 11)]


async def test_only_the_listed_tiers_are_sampled() -> None:
    config = shadow_config(tiers=["medium"])
    provs = providers()
    async with Router(config, providers=provs, clock=FakeClock()) as router:
        await router.complete(USER)  # served by simple: not sampled
        await router.complete(USER, hints={"min_tier": "medium"})
        await router.drain_shadow()
        stats = router.shadow_stats()
    assert stats is not None and stats.sampled == 1 and set(stats.by_tier) == {"medium"}


async def test_the_judge_scores_and_a_failing_one_falls_back() -> None:
    seen: list[tuple[str | None, str | None]] = []

    async def judge(served: ModelResult, shadow: ModelResult, call: ModelCall) -> float:
        seen.append((served.target and served.target.model, shadow.target and shadow.target.model))
        return 0.25

    async with Router(shadow_config(), providers=providers(), shadow_judge=judge) as router:
        await router.complete(USER)
        await router.drain_shadow()
        stats = router.shadow_stats()
    assert seen == [("small", "big")]
    assert stats is not None and stats.by_tier["simple"].mean == 0.25

    def failing(bad: Any) -> Any:
        async def judge(served: ModelResult, shadow: ModelResult, call: ModelCall) -> Any:
            if isinstance(bad, Exception):
                raise bad
            return bad

        return judge

    for bad in (ValueError("no"), 7.0, "1", True, float("nan")):
        log = io.StringIO()
        config = shadow_config()
        async with Router(
            config, providers=providers(), shadow_judge=failing(bad), routing_log=log
        ) as r:
            await r.complete(USER)
            await r.drain_shadow()
            stats = r.shadow_stats()
        assert stats is not None and stats.compared == 1, bad
        (line,) = [RoutingLogLine.validate_json(x) for x in log.getvalue().splitlines()]
        assert isinstance(line, SessionLine)
        shadow = line.steps[0].shadow
        assert shadow is not None and not shadow.judge and "judge" in shadow.reason


async def test_a_hanging_judge_times_out() -> None:
    async def slow(served: ModelResult, shadow: ModelResult, call: ModelCall) -> float:
        await anyio.sleep_forever()
        raise AssertionError

    config = shadow_config(judge_timeout_s=0.05)
    async with Router(config, providers=providers(), shadow_judge=slow) as router:
        await router.complete(USER)
        with anyio.fail_after(10):
            await router.drain_shadow()
        stats = router.shadow_stats()
    assert stats is not None and stats.compared == 1  # the comparator's score


async def test_the_routing_log_carries_the_shadow_record_or_a_late_line() -> None:
    log = io.StringIO()
    release = anyio.Event()

    class Late(MockProvider):
        async def send(self, call: ModelCall, /) -> ModelResult:
            if call.target is not None and call.target.model == "big" and call.step == 2:
                await release.wait()
            return by_model(call)

    provs = {"alpha": Late(by_model), "beta": Late(by_model)}
    async with Router(shadow_config(), providers=provs, routing_log=log) as router:
        async with router.session("s1"):
            await router.complete(USER)
            await router.drain_shadow()  # step 1's comparison rides on its step
            await router.complete(USER)
        release.set()  # step 2's finishes after the session's line was written
        await router.drain_shadow()
    lines = [RoutingLogLine.validate_json(x) for x in log.getvalue().splitlines()]
    session = next(x for x in lines if isinstance(x, SessionLine))
    late = next(x for x in lines if isinstance(x, ShadowLine))
    first = session.steps[0].shadow
    assert first is not None and first.reference_tier == "complex"
    assert first.served_tier == "simple" and first.agreement is not None
    assert session.steps[1].shadow is None
    assert (late.session_record, late.step) == (session.record_id, 2)
    assert "economy" not in log.getvalue() and "basic" not in log.getvalue()  # no value


async def test_the_shadow_span_links_to_the_route_span() -> None:
    exporter = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(exporter))
    async with Router(shadow_config(), providers=providers(), tracer_provider=tracer) as router:
        async with router.session("s1"):
            await router.complete(USER)
        await router.drain_shadow()
    spans = exporter.get_finished_spans()
    (route,) = [s for s in spans if s.name == "agentroute.route"]
    (shadow,) = [s for s in spans if s.name == "agentroute.shadow"]
    assert shadow.parent is None
    assert [link.context.span_id for link in shadow.links] == [route.context.span_id]
    attrs = dict(shadow.attributes or {})
    assert attrs["agentroute.shadow.served_tier"] == "simple"
    assert attrs["agentroute.shadow.reference_model"] == "big"
    assert attrs["gen_ai.conversation.id"] == "s1"
    assert 0.0 <= attrs["agentroute.shadow.agreement"] < 1.0


async def test_wrap_sends_the_shadow_call_through_the_wrapped_function() -> None:
    models: list[str] = []

    async def call_model(messages: list[dict[str, Any]], model: str) -> str:
        models.append(model)
        return "Rebooked for Friday." if model == "big-b" else "Rebooked for Friday!"

    async with Router(shadow_config(), clock=FakeClock()) as router:
        routed = router.wrap(call_model)
        answer = await routed(USER)
        await router.drain_shadow()
        stats = router.shadow_stats()
    assert answer == "Rebooked for Friday!"
    assert models == ["small-1", "big-b"]  # the deployments' model names
    assert stats is not None and stats.compared == 1
    assert stats.by_tier["simple"].mean == pytest.approx(1.0)  # punctuation aside, the same


async def test_streams_are_not_sampled() -> None:
    from agentroute.testing import StreamingProvider, chunks_for

    stream = StreamingProvider(default=chunks_for(text_result("hi")))
    async with Router(shadow_config(), providers={"alpha": stream, "beta": stream}) as router:
        async with router.stream(USER) as chunks:
            async for _ in chunks:
                pass
        stats = router.shadow_stats()
    assert stats is not None and stats.sampled == 0
    assert json.dumps({}) == "{}"


async def test_the_shadow_call_sees_the_messages_as_they_were_when_sampled() -> None:
    release = anyio.Event()
    seen: list[int] = []

    class Slow(MockProvider):
        async def send(self, call: ModelCall, /) -> ModelResult:
            if call.target is not None and call.target.model == "big":
                await release.wait()
                seen.append(len(call.messages))
            return by_model(call)

    messages: list[dict[str, Any]] = list(USER)
    provs = {"alpha": Slow(by_model), "beta": Slow(by_model)}
    async with Router(shadow_config(), providers=provs) as router:
        await router.complete(messages)
        messages.append({"role": "assistant", "content": "appended after the call"})
        release.set()
        await router.drain_shadow()
    assert seen == [1]


async def test_shadow_calls_make_no_pin_and_the_judges_own_calls_are_not_shadowed() -> None:
    provs = providers()
    router = Router(shadow_config(), providers=provs, clock=FakeClock())

    async def judge(served: ModelResult, shadow: ModelResult, call: ModelCall) -> float:
        await router.complete([{"role": "user", "content": "judge this"}])  # routed, not shadowed
        return 1.0

    router = Router(shadow_config(), providers=provs, clock=FakeClock(), shadow_judge=judge)
    async with router:
        async with router.session("s1"):
            await router.complete(USER)
        await router.drain_shadow()
        big_pin = await router._store.get_pin("s1", "big")
        small_pin = await router._store.get_pin("s1", "small")
        stats = router.shadow_stats()
    assert stats is not None and (stats.sampled, stats.compared) == (1, 1)
    assert len(provs["alpha"].calls) == 2  # the user's call and the judge's, on small
    assert small_pin == "alpha/small-1" and big_pin is None  # no pin for the reference model


async def test_the_agreement_metric_by_served_tier_and_cause() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    async with Router(shadow_config(), providers=providers(), meter_provider=meters) as router:
        await router.complete(USER)
        await router.drain_shadow()
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        metric.name: list(metric.data.data_points)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    (agreement,) = points["agentroute.shadow.agreement"]
    assert dict(agreement.attributes or {}) == {
        "agentroute.shadow.served_tier": "simple",
        "agentroute.decision.cause": "start",
        "agentroute.shadow.reference_tier": "complex",
    }
    assert agreement.count == 1 and 0.0 <= agreement.sum < 1.0
    (sample,) = points["agentroute.shadow.samples"]
    assert dict(sample.attributes or {})["agentroute.shadow.result"] == "compared"


def test_a_loop_per_call_counts_the_shadow_calls_it_ends_as_cancelled() -> None:
    """A sync entry point that runs an event loop per call (asyncio.run, trio.run) ends that
    loop's shadow calls with it: counted cancelled, never waited for, nothing left open."""
    import asyncio

    import trio

    router = Router(shadow_config(), providers=providers())

    async def one(n: int) -> str | None:
        result = await router.complete([{"role": "user", "content": f"task {n}"}])
        return result.target.model if result.target else None

    assert [asyncio.run(one(n)) for n in range(3)] == ["small"] * 3
    assert trio.run(one, 3) == "small"

    async def close() -> None:
        await router.drain_shadow()  # the other loops' calls are gone: nothing to wait for
        await router.aclose()

    asyncio.run(close())
    stats = router.shadow_stats()
    assert stats is not None
    assert (stats.sampled, stats.cancelled, stats.in_flight) == (4, 4, 0)


async def test_concurrent_calls_on_one_session_are_all_accounted_for() -> None:
    release = anyio.Event()

    class Slow(MockProvider):
        async def send(self, call: ModelCall, /) -> ModelResult:
            await anyio.lowlevel.checkpoint()
            if in_shadow():  # the shadow calls wait; the user's calls answer at once
                await release.wait()
            return by_model(call)

    provs = {"alpha": Slow(by_model), "beta": Slow(by_model)}
    stay = {"max_tier": "simple"}  # every call served by a sampled tier
    async with Router(shadow_config(max_concurrency=4), providers=provs) as router:
        async with router.session("one"), anyio.create_task_group() as tg:
            for n in range(50):
                messages = [{"role": "user", "content": f"q{n}"}]
                tg.start_soon(functools.partial(router.complete, messages, hints=stay))
        stats_before = router.shadow_stats()
        release.set()
        await router.drain_shadow()
        stats = router.shadow_stats()
    assert stats_before is not None and stats_before.in_flight == 4
    assert stats is not None
    assert (stats.sampled, stats.dropped_concurrency, stats.compared) == (4, 46, 4)
    assert stats.in_flight == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    verdict=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(),
        st.booleans(),
        st.none(),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
    )
)
def test_whatever_a_judge_returns_the_agreement_stays_in_0_1(verdict: Any) -> None:
    async def judge(served: ModelResult, shadow: ModelResult, call: ModelCall) -> Any:
        return verdict

    async def run() -> Any:
        async with Router(shadow_config(), providers=providers(), shadow_judge=judge) as router:
            await router.complete(USER)
            await router.drain_shadow()
            return router.shadow_stats()

    stats = anyio.run(run)
    assert stats is not None and stats.compared == 1
    (agreement,) = stats.by_tier.values()
    assert 0.0 <= agreement.mean <= 1.0
    accepted = (
        isinstance(verdict, int | float) and not isinstance(verdict, bool) and 0 <= verdict <= 1
    )
    assert agreement.mean == (float(verdict) if accepted else 0.5)
