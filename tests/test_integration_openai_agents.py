"""The OpenAI Agents SDK integration against the airline simulator: every turn of a run routed
(``Runner.run``, ``Runner.run_streamed``, ``Runner.run_sync``), the escalation after the SDK's
own tool-failure text, exact usage, and the run's group or trace id as the session."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from anyio.from_thread import start_blocking_portal
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import ConfigurationError, Router
from agentroute.sim.config import load_sim_config
from agentroute.sim.scenario import SYSTEM_PROMPT, USER_REQUEST, run_tool
from agentroute.sim.server import run_simulator
from tests.helpers import require_extra

agents = require_extra("agents", "openai-agents")

from agents.tracing import TracingProcessor  # noqa: E402

from agentroute.integrations.openai_agents import RoutedModelProvider  # noqa: E402

pytestmark = pytest.mark.anyio

SIM_CONFIG = Path(__file__).parents[1] / "examples" / "sim_frameworks.yaml"
AGENTS_FAILURE = "An error occurred while running the tool. Please try again."
TOOL_ERRORS = "agentroute.decision.contribution.tool_errors_recent"


@pytest.fixture
def anyio_backend() -> str:
    # asyncio only: the Agents SDK's runner and models call asyncio directly (asyncio.shield,
    # asyncio.create_task, asyncio.ensure_future); under trio Runner.run fails at once with
    # "RuntimeError: no running event loop"
    return "asyncio"


class TraceIds(TracingProcessor):
    """Replaces the SDK's exporters in these tests (nothing is sent to OpenAI), and notes the
    id and group id of every trace a run starts."""

    def __init__(self) -> None:
        self.traces: list[tuple[str, str | None]] = []

    def on_trace_start(self, trace: Any) -> None:
        self.traces.append((trace.trace_id, getattr(trace, "group_id", None)))

    def on_trace_end(self, trace: Any) -> None:
        pass

    def on_span_start(self, span: Any) -> None:
        pass

    def on_span_end(self, span: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


@pytest.fixture
def trace_ids() -> Iterator[TraceIds]:
    recorder = TraceIds()
    agents.set_trace_processors([recorder])
    yield recorder
    agents.set_trace_processors([])  # never the default exporter (it would post to OpenAI)


@pytest.fixture
async def sim_url() -> AsyncIterator[str]:
    async with run_simulator(load_sim_config(SIM_CONFIG)) as sim:
        yield sim.url


class ToolRefused(Exception):
    pass


def update_reservation(reservation_id: str, flight: str, cabin: str) -> str:
    """Change flight and cabin."""
    text = run_tool(
        "update_reservation", {"reservation_id": reservation_id, "flight": flight, "cabin": cabin}
    )
    if text.startswith("Error"):
        raise ToolRefused(text)  # the SDK's default failure_error_function answers for it
    return text


def get_reservation(reservation_id: str) -> str:
    """Read a reservation."""
    return run_tool("get_reservation", {"reservation_id": reservation_id})


def search_flights(origin: str, destination: str, date: str) -> str:
    """Search direct flights."""
    args = {"origin": origin, "destination": destination, "date": date}
    return run_tool("search_flights", args)


def make_agent() -> Any:
    tools = [get_reservation, search_flights, update_reservation]
    return agents.Agent(
        name="airline",
        instructions=SYSTEM_PROMPT,
        tools=[agents.function_tool(tool) for tool in tools],
    )


def config(sim_url: str, **policy: Any) -> dict[str, Any]:
    """Two tiers on the simulator's OpenAI-compatible instance (it serves both skills)."""
    provider = {"kind": "openai", "base_url": f"{sim_url}/cheap/v1", "api_key": "sim-key"}
    return {
        "providers": {"cheapsim": provider},
        "models": {
            "small-model": {
                "context_window": 128_000,
                "price": {"input": 0.15, "output": 0.6, "cache_read": 0.075},
                "deployments": [{"provider": "cheapsim", "name": "small-model"}],
            },
            "big-model": {
                "context_window": 200_000,
                "price": {"input": 3, "output": 15, "cache_read": 0.3},
                "deployments": [{"provider": "cheapsim", "name": "big-model"}],
            },
        },
        "tiers": {"simple": ["small-model"], "complex": ["big-model"]},
        "policy": {
            "start_tier": "simple",
            "thresholds": {"complex": 0.4},
            **policy,
        },
        "telemetry": {"log_events": False},
    }


@dataclasses.dataclass
class Routed:
    router: Router
    provider: RoutedModelProvider
    exporter: InMemorySpanExporter

    def routes(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == "agentroute.route"]

    def chats(self, route: ReadableSpan) -> list[ReadableSpan]:
        """The attempt spans of one route span, in order."""
        return [
            s
            for s in self.exporter.get_finished_spans()
            if s.parent is not None and s.parent.span_id == route.context.span_id
        ]


def routed(data: dict[str, Any], *, api: Any = "responses") -> Routed:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    router = Router(data, tracer_provider=tracer_provider)
    return Routed(router, RoutedModelProvider(router, api=api), exporter)


async def run(setup: Routed, *, streamed: bool, **run_config: Any) -> Any:
    rc = agents.RunConfig(model_provider=setup.provider, **run_config)
    try:
        if streamed:
            result = agents.Runner.run_streamed(make_agent(), USER_REQUEST, run_config=rc)
            async for _ in result.stream_events():
                pass
            return result
        return await agents.Runner.run(make_agent(), USER_REQUEST, run_config=rc)
    finally:
        await setup.provider.aclose()


def tool_outputs(result: Any) -> list[str]:
    return [
        str(item.output) for item in result.new_items if isinstance(item, agents.ToolCallOutputItem)
    ]


def first_update_turn(result: Any) -> int:
    """The index of the first turn whose answer called update_reservation."""
    return next(
        i
        for i, response in enumerate(result.raw_responses)
        if any(getattr(o, "name", None) == "update_reservation" for o in response.output)
    )


def attr(span: ReadableSpan, name: str) -> Any:
    assert span.attributes is not None
    return span.attributes.get(name)


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_every_turn_is_routed_and_escalates_after_the_sdk_tool_error(
    sim_url: str, trace_ids: TraceIds, streamed: bool, api: str
) -> None:
    setup = routed(config(sim_url), api=api)
    result = await run(setup, streamed=streamed)

    # the cheap model's basic-economy change failed with the SDK's own text, then it worked
    outputs = tool_outputs(result)
    assert AGENTS_FAILURE in outputs
    assert "economy" in str(result.final_output)

    routes = setup.routes()
    assert len(routes) == len(result.raw_responses)  # one route span per turn
    tiers = [attr(s, "agentroute.decision.tier") for s in routes]
    # the turn after the one that called the failing tool is the first on the top tier
    failed_turn = first_update_turn(result)
    assert tiers[: failed_turn + 1] == ["simple"] * (failed_turn + 1)
    assert tiers[failed_turn + 1] == "complex"
    assert attr(routes[failed_turn + 1], "agentroute.decision.cause") == "score"
    assert attr(routes[failed_turn + 1], TOOL_ERRORS) > 0  # the SDK's text read as an error

    # exact usage: the SDK's own numbers for each turn, none estimated
    assert not any(
        attr(s, "agentroute.usage.estimated") for s in setup.exporter.get_finished_spans()
    )
    for route, response in zip(routes, result.raw_responses, strict=True):
        [chat] = setup.chats(route)
        assert attr(chat, "gen_ai.usage.input_tokens") == response.usage.input_tokens > 0
        assert attr(chat, "gen_ai.usage.output_tokens") == response.usage.output_tokens > 0
        cached = response.usage.input_tokens_details.cached_tokens
        assert attr(chat, "gen_ai.usage.cache_read.input_tokens") == cached

    # the run's trace id names the session (no group id set)
    [(trace_id, group_id)] = trace_ids.traces
    assert group_id is None
    assert {attr(s, "gen_ai.conversation.id") for s in routes} == {trace_id}


async def test_cached_tokens_are_counted(sim_url: str, trace_ids: TraceIds) -> None:
    """The simulator caches long prompts: some turn reports cached tokens, and the span says
    the same (a reader that dropped them would pass the test above)."""
    data = config(sim_url)
    setup = routed(data)
    agent_prompt = SYSTEM_PROMPT + "\n" + "Policy: be brief and exact. " * 400
    rc = agents.RunConfig(model_provider=setup.provider)
    agent = make_agent().clone(instructions=agent_prompt)
    try:
        result = await agents.Runner.run(agent, USER_REQUEST, run_config=rc)
    finally:
        await setup.provider.aclose()
    cached = [r.usage.input_tokens_details.cached_tokens for r in result.raw_responses]
    assert any(cached)
    chats = [setup.chats(route)[-1] for route in setup.routes()]
    assert [attr(s, "gen_ai.usage.cache_read.input_tokens") for s in chats] == cached


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_the_group_id_names_the_session(
    sim_url: str, trace_ids: TraceIds, streamed: bool
) -> None:
    setup = routed(config(sim_url))
    await run(setup, streamed=streamed, group_id="chat-42")
    assert trace_ids.traces[0][1] == "chat-42"
    routes = setup.routes()
    assert len(routes) >= 3
    assert {attr(s, "gen_ai.conversation.id") for s in routes} == {"chat-42"}


async def test_two_runs_are_two_sessions(sim_url: str, trace_ids: TraceIds) -> None:
    setup = routed(config(sim_url))
    rc = agents.RunConfig(model_provider=setup.provider)
    try:
        await agents.Runner.run(make_agent(), USER_REQUEST, run_config=rc)
        await agents.Runner.run(make_agent(), USER_REQUEST, run_config=rc)
    finally:
        await setup.provider.aclose()
    ids = [attr(s, "gen_ai.conversation.id") for s in setup.routes()]
    assert len(set(ids)) == 2
    assert set(ids) == {trace_id for trace_id, _ in trace_ids.traces}
    # each run starts on the cheap tier again: its own step counter
    steps = [attr(s, "agentroute.session.step") for s in setup.routes()]
    assert steps.count(1) == 2


async def test_the_sdk_failure_text_counts_without_configuring_the_preset(
    sim_url: str, trace_ids: TraceIds
) -> None:
    """The router's detector is the default one only, which does not read the SDK's text as
    an error: the integration flags the SDK's failure items itself, so the turn after the
    failure escalates for the tool error."""
    setup = routed(config(sim_url, tool_error_detector=["default"]))
    result = await run(setup, streamed=False)
    assert AGENTS_FAILURE in tool_outputs(result)
    routes = setup.routes()
    failed_turn = first_update_turn(result)
    assert attr(routes[failed_turn + 1], TOOL_ERRORS)
    assert attr(routes[failed_turn + 1], "agentroute.decision.tier") == "complex"


def test_only_the_sdk_failure_items_are_flagged_and_only_in_a_copy() -> None:
    from agentroute.integrations.openai_agents import _flag_sdk_failure

    failed = {"type": "function_call_output", "call_id": "c1", "output": AGENTS_FAILURE}
    flagged = _flag_sdk_failure(failed)
    assert flagged == {**failed, "is_error": True}
    assert "is_error" not in failed  # what the SDK sends is untouched
    fine = {"type": "function_call_output", "call_id": "c2", "output": '{"status": "sent"}'}
    message = {"role": "user", "content": AGENTS_FAILURE}
    assert _flag_sdk_failure(fine) is fine
    assert _flag_sdk_failure(message) is message


async def test_with_tracing_disabled_the_run_falls_back_to_an_implicit_session(
    sim_url: str, trace_ids: TraceIds
) -> None:
    setup = routed(config(sim_url))
    await run(setup, streamed=False, tracing_disabled=True)
    assert trace_ids.traces == []
    ids = {attr(s, "gen_ai.conversation.id") for s in setup.routes()}
    assert len(ids) == 1
    assert "no-op" not in ids  # the disabled trace's placeholder id is not taken as the run's
    tiers = [attr(s, "agentroute.decision.tier") for s in setup.routes()]
    assert tiers[0] == "simple" and tiers[-1] == "complex"


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_a_refused_connection_fails_over_before_the_first_event(
    sim_url: str, trace_ids: TraceIds, streamed: bool
) -> None:
    data = config(sim_url)
    data["providers"]["dead"] = {
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": "dead-key",
    }
    data["models"]["small-model"]["deployments"].insert(0, {"provider": "dead", "name": "x"})
    data["resilience"] = {"max_retries": 0}
    setup = routed(data)
    result = await run(setup, streamed=streamed)
    assert "economy" in str(result.final_output)
    first = setup.routes()[0]
    assert attr(first, "agentroute.attempt.count") == 2
    assert [attr(s, "agentroute.deployment") for s in setup.chats(first)] == [
        "dead/x",
        "cheapsim/small-model",
    ]


def test_run_sync_is_routed(trace_ids: TraceIds) -> None:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(run_simulator(load_sim_config(SIM_CONFIG))) as sim,
    ):
        setup = routed(config(sim.url))
        rc = agents.RunConfig(model_provider=setup.provider, group_id="sync-run")
        result = agents.Runner.run_sync(make_agent(), USER_REQUEST, run_config=rc)
        # run_sync runs on the thread's default loop and leaves it open: the provider's
        # clients are closed on it
        loop = asyncio.get_event_loop_policy().get_event_loop()
        loop.run_until_complete(setup.provider.aclose())
        loop.close()
    routes = setup.routes()
    assert len(routes) == len(result.raw_responses)
    assert {attr(s, "gen_ai.conversation.id") for s in routes} == {"sync-run"}
    assert [attr(s, "agentroute.decision.tier") for s in routes][-1] == "complex"


def test_anthropic_deployments_are_refused() -> None:
    data = config("http://127.0.0.1:9")
    data["providers"]["claudesim"] = {"kind": "anthropic", "base_url": "http://127.0.0.1:9"}
    data["models"]["big-model"]["deployments"] = [{"provider": "claudesim", "name": "big"}]
    with pytest.raises(ConfigurationError, match=r"models\.big-model\.deployments\.0\.provider"):
        RoutedModelProvider(Router(data))


def test_an_unknown_api_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="api must be one of"):
        RoutedModelProvider(Router(config("http://127.0.0.1:9")), api=cast(Any, "messages"))


def test_every_name_gets_the_routed_model() -> None:
    provider = RoutedModelProvider(Router(config("http://127.0.0.1:9")))
    assert provider.get_model("gpt-4o") is provider.get_model(None)
