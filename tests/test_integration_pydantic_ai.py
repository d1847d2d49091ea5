"""pydantic-ai's ``RoutedModel``: a real ``Agent`` with three tools against the airline
simulator, a cheap OpenAI-compatible tier and an Anthropic top tier.

Asserted, for ``agent.run``, ``agent.run_stream`` and ``agent.iter`` with streamed model
requests: one ``agentroute.route`` span per model request; the refused ``update_reservation``
(an ``Error: …`` text, or a ``ModelRetry``) escalates the next request from the OpenAI-kind
deployment to the Anthropic-kind one mid-run; each span's usage is the response's own, exact
(not estimated), cache reads included; the spans' ``gen_ai.conversation.id`` is the run's id.
Also: a ``max_retries`` model setting does not make the SDK retry behind the router.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import ConfigurationError, Deployment, Router
from agentroute.sim.config import load_sim_config, read_sim_file
from agentroute.sim.scenario import SYSTEM_PROMPT, USER_REQUEST, run_tool
from agentroute.sim.server import Simulator, run_simulator
from tests.helpers import frameworks_config, require_extra, simulator_fixture

fw = require_extra("pydantic_ai", "pydantic-ai")

from pydantic_ai import Agent, ModelRetry, Tool  # noqa: E402
from pydantic_ai.exceptions import PydanticAIDeprecationWarning  # noqa: E402
from pydantic_ai.messages import (  # noqa: E402
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from agentroute.integrations._pydantic_ai_view import openai_view, run_id_of  # noqa: E402
from agentroute.integrations.pydantic_ai import RoutedModel, default_model_factory  # noqa: E402

pytestmark = pytest.mark.anyio

SIM_FILE = Path(__file__).parent.parent / "examples" / "sim_frameworks.yaml"


@pytest.fixture
def anyio_backend() -> str:
    # pydantic-ai's Agent runs on asyncio only: it starts asyncio tasks itself
    # (pydantic_ai._utils), so under trio agent.run fails with "no running event loop" before
    # any model request is made
    return "asyncio"


router_config = frameworks_config


sim = simulator_fixture(load_sim_config(SIM_FILE))


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


def traced_router(url: str, exporter: InMemorySpanExporter, **overrides: Any) -> Router:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Router({**router_config(url), **overrides}, tracer_provider=provider)


def route_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    spans = [s for s in exporter.get_finished_spans() if s.name == "agentroute.route"]
    return sorted(spans, key=lambda s: s.start_time or 0)


def answered_attempt(exporter: InMemorySpanExporter, route: ReadableSpan) -> ReadableSpan:
    """The attempt (``chat``) span under ``route`` that answered: its last one."""
    route_id = route.context.span_id if route.context is not None else None
    children = [
        s
        for s in exporter.get_finished_spans()
        if s.parent is not None and s.parent.span_id == route_id
    ]
    assert children, f"no attempt span under {route.name}"
    return max(children, key=lambda s: s.start_time or 0)


def get_reservation(reservation_id: str) -> str:
    """Read a reservation."""
    return run_tool("get_reservation", {"reservation_id": reservation_id})


def search_flights(origin: str, destination: str, date: str) -> str:
    """Search direct flights."""
    return run_tool("search_flights", {"origin": origin, "destination": destination, "date": date})


def update_reservation(reservation_id: str, flight: str, cabin: str) -> str:
    """Change flight and cabin; a refusal is an ``Error: …`` text."""
    return run_tool(
        "update_reservation", {"reservation_id": reservation_id, "flight": flight, "cabin": cabin}
    )


def update_reservation_retry(reservation_id: str, flight: str, cabin: str) -> str:
    """Change flight and cabin; a refusal raises ``ModelRetry`` (pydantic-ai's way)."""
    text = update_reservation(reservation_id, flight, cabin)
    if text.startswith("Error: "):
        raise ModelRetry(text.removeprefix("Error: "))
    return text


def make_agent(router: Router, update: Callable[..., str] = update_reservation) -> Agent[None, str]:
    return Agent(
        RoutedModel(router),
        tools=[get_reservation, search_flights, Tool(update, name="update_reservation")],
        system_prompt=SYSTEM_PROMPT,
    )


async def run_agent(agent: Agent[None, str], mode: str, **kwargs: Any) -> tuple[str, list[Any]]:
    """The agent's run in ``mode``: its output and all of its messages."""
    if mode == "run":
        result = await agent.run(USER_REQUEST, **kwargs)
        return result.output, result.all_messages()
    if mode == "run_stream":
        async with agent.run_stream(USER_REQUEST, **kwargs) as streamed:
            output = await streamed.get_output()
        return output, streamed.all_messages()
    assert mode == "iter_stream"
    async with agent.iter(USER_REQUEST, **kwargs) as run:
        async for node in run:
            if Agent.is_model_request_node(node):
                async with node.stream(run.ctx) as events:
                    async for _ in events:
                        pass
    assert run.result is not None
    return run.result.output, run.result.all_messages()


def responses(messages: list[Any]) -> list[ModelResponse]:
    return [m for m in messages if isinstance(m, ModelResponse)]


def refusal_index(messages: list[Any]) -> int:
    """Which model response made the ``update_reservation`` call that was refused."""
    answers = responses(messages)
    refused = [
        part.tool_call_id
        for m in messages
        if isinstance(m, ModelRequest)
        for part in m.parts
        if isinstance(part, ToolReturnPart)
        and part.tool_name.startswith("update_reservation")
        and (part.outcome != "success" or str(part.content).startswith("Error"))
    ]
    assert refused, "the cheap model's update_reservation was not refused"
    for index, answer in enumerate(answers):
        if any(isinstance(p, ToolCallPart) and p.tool_call_id == refused[0] for p in answer.parts):
            return index
    raise AssertionError("no response made the refused call")


@pytest.mark.parametrize("mode", ["run", "run_stream", "iter_stream"])
async def test_tool_error_escalates_openai_to_anthropic_mid_run(
    sim: Simulator, exporter: InMemorySpanExporter, mode: str
) -> None:
    router = traced_router(sim.url, exporter)
    output, messages = await run_agent(make_agent(router), mode, run_id="run-pydantic-ai-1")
    assert "economy" in output
    answers = responses(messages)
    spans = route_spans(exporter)
    # one routed decision per model request, in order
    assert len(spans) == len(answers) >= 3
    tiers = [s.attributes["agentroute.decision.tier"] for s in spans]  # type: ignore[index]
    refused = refusal_index(messages)
    assert tiers[: refused + 1] == ["simple"] * (refused + 1)
    assert tiers[refused + 1] == "complex"
    assert spans[refused + 1].attributes["agentroute.decision.cause"] == "score"  # type: ignore[index]
    # OpenAI-kind deployment before the refusal, Anthropic-kind right after it, in one run
    assert [a.provider_name for a in answers[: refused + 1]] == ["openai"] * (refused + 1)
    assert answers[refused + 1].provider_name == "anthropic"
    assert answers[refused + 1].model_name == "big-model"
    # the run's id is the session
    assert {s.attributes["gen_ai.conversation.id"] for s in spans} == {"run-pydantic-ai-1"}  # type: ignore[index]
    # exact usage, per request, from the response itself
    for span, answer in zip(spans, answers, strict=True):
        attrs = answered_attempt(exporter, span).attributes
        assert attrs is not None
        assert "agentroute.usage.estimated" not in attrs
        assert attrs["gen_ai.usage.input_tokens"] == answer.usage.input_tokens > 0
        assert attrs["gen_ai.usage.output_tokens"] == answer.usage.output_tokens > 0
        read = attrs.get("gen_ai.usage.cache_read.input_tokens", 0)
        assert read == answer.usage.cache_read_tokens
    assert not any(
        (s.attributes or {}).get("agentroute.usage.estimated")
        for s in exporter.get_finished_spans()
    )
    # the simulator's prompt cache was read (its hits are part of the input counted above), on
    # the Anthropic deployment too (RoutedModel turns pydantic-ai's cache breakpoints on there)
    assert any(a.usage.cache_read_tokens > 0 for a in answers if a.provider_name == "openai")
    assert any(a.usage.cache_read_tokens > 0 for a in answers if a.provider_name == "anthropic")


async def test_model_retry_is_a_tool_error(sim: Simulator, exporter: InMemorySpanExporter) -> None:
    """A tool raising ``ModelRetry`` (its result goes back with ``outcome="retried"``, the
    refusal's text without its "Error: " prefix) escalates the next request."""
    router = traced_router(sim.url, exporter)
    output, messages = await run_agent(make_agent(router, update_reservation_retry), "run")
    assert "economy" in output
    retried = [
        p
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart | RetryPromptPart)
        and getattr(p, "outcome", "retried") == "retried"
    ]
    assert retried, "the refusal did not come back as a retry"
    tiers = [s.attributes["agentroute.decision.tier"] for s in route_spans(exporter)]  # type: ignore[index]
    refused = refusal_index(messages)
    assert tiers[refused + 1] == "complex"
    assert responses(messages)[refused + 1].provider_name == "anthropic"


async def test_session_is_the_agent_runs_own_id(
    sim: Simulator, exporter: InMemorySpanExporter
) -> None:
    router = traced_router(sim.url, exporter)
    agent = make_agent(router)
    first = await agent.run(USER_REQUEST)
    second = await agent.run(USER_REQUEST)
    assert first.run_id != second.run_id
    ids = [s.attributes["gen_ai.conversation.id"] for s in route_spans(exporter)]  # type: ignore[index]
    n = len(responses(first.all_messages()))
    assert ids == [first.run_id] * n + [second.run_id] * (len(ids) - n)
    # a fresh session per run: the second run starts on the cheap tier again
    second_first = route_spans(exporter)[n]
    assert second_first.attributes["agentroute.decision.tier"] == "simple"  # type: ignore[index]
    assert second_first.attributes["agentroute.session.step"] == 1  # type: ignore[index]


@pytest.mark.parametrize("mode", ["run", "run_stream"])
async def test_max_retries_setting_does_not_retry_behind_the_router(
    exporter: InMemorySpanExporter, mode: str
) -> None:
    """With ``max_retries=3`` in the model settings and ``Agent(retries=3)``, the cheap
    server's first answer (a 500) is the router's to see: one request reached the server for
    it, and the router's attempt after it answered; every model request is a routed one."""
    data = read_sim_file(SIM_FILE)
    data["instances"]["cheap"]["faults"] = {"schedule": {1: "server_error"}}
    async with run_simulator(data) as sim:
        router = traced_router(
            sim.url, exporter, resilience={"max_retries": 1, "escalate_on_exhaustion": False}
        )
        agent = Agent(
            RoutedModel(router),
            tools=[get_reservation, search_flights, update_reservation],
            system_prompt=SYSTEM_PROMPT,
            retries=3,
            model_settings={"max_retries": 3},
        )
        _, messages = await run_agent(agent, mode)
        records = sim.records("cheap")
    spans = route_spans(exporter)
    assert len(spans) == len(responses(messages))
    first = spans[0].attributes
    assert first is not None
    assert first["agentroute.attempt.count"] == 2  # the 500, then the router's retry
    cheap_requests = sum(1 for a in responses(messages) if a.provider_name == "openai")
    assert len(records) == cheap_requests + 1  # the SDK sent the failed request once


# The view the router reads ---------------------------------------------------------------------


def test_view_flags_failed_and_retried_tool_results() -> None:
    call = ToolCallPart("update_reservation", {"cabin": "basic_economy"}, tool_call_id="c1")
    # the deprecated part is still built by older code and kept in stored histories
    with pytest.warns(PydanticAIDeprecationWarning):
        legacy_retry = RetryPromptPart(
            "bad cabin", tool_name="update_reservation", tool_call_id="c3"
        )
    with pytest.warns(PydanticAIDeprecationWarning):
        legacy_feedback = RetryPromptPart("answer in JSON")
    messages: list[Any] = [
        ModelRequest(parts=[UserPromptPart("change my flight")], run_id="r1"),
        ModelResponse(parts=[call], run_id="r1"),
        ModelRequest(
            parts=[
                ToolReturnPart("update_reservation", "no", tool_call_id="c1", outcome="retried")
            ],
            run_id="r2",
        ),
        ModelRequest(
            parts=[
                ToolReturnPart("get_reservation", "ok", tool_call_id="c2"),
                legacy_retry,
                legacy_feedback,
            ]
        ),
    ]
    view = openai_view(messages)
    assert view[0] == {"role": "user", "content": "change my flight"}
    assert view[1]["tool_calls"][0]["function"] == {
        "name": "update_reservation",
        "arguments": '{"cabin":"basic_economy"}',
    }
    tools = [m for m in view if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["is_error"]) for m in tools] == [
        ("c1", True),
        ("c2", False),
        ("c3", True),
    ]
    assert view[-1]["role"] == "user" and "answer in JSON" in view[-1]["content"]
    assert run_id_of(messages) == "r2"  # the last message that has one
    assert run_id_of(messages[:1]) == "r1"
    assert run_id_of([ModelRequest(parts=[UserPromptPart("hi")])]) is None


def test_default_factory_says_which_provider_kind_it_cannot_build() -> None:
    deployment = Deployment("gem", "google", "m", "m-1", "simple", api_key="sk-secret-value")
    with pytest.raises(ConfigurationError, match=r"providers\.gem\.kind") as info:
        default_model_factory(deployment)
    assert "sk-secret-value" not in str(info.value)


def test_model_factory_must_be_callable() -> None:
    router = Router(router_config("http://127.0.0.1:9"))
    with pytest.raises(ConfigurationError, match="model_factory"):
        RoutedModel(router, model_factory="openai:gpt-5")  # type: ignore[arg-type]


def test_run_sync_is_routed(exporter: InMemorySpanExporter) -> None:
    """``agent.run_sync`` (pydantic-ai's own event loop; the simulator in a thread)."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(run_simulator(load_sim_config(SIM_FILE))) as sim,
    ):
        router = traced_router(sim.url, exporter)
        try:
            result = make_agent(router).run_sync(USER_REQUEST)
        finally:
            # run_sync leaves the event loop it made set on this thread, for its next call:
            # closed here, else it is collected, unclosed, in the middle of a later test
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                loop = asyncio.get_event_loop()
            loop.close()
            asyncio.set_event_loop(None)
    spans = route_spans(exporter)
    assert len(spans) == len(responses(result.all_messages()))
    assert spans[-1].attributes["agentroute.decision.tier"] == "complex"  # type: ignore[index]
    assert {s.attributes["gen_ai.conversation.id"] for s in spans} == {result.run_id}  # type: ignore[index]


async def test_anthropic_cache_breakpoints_follow_the_provider(
    sim: Simulator, exporter: InMemorySpanExporter
) -> None:
    """``cache_breakpoints: false`` on the Anthropic provider: pydantic-ai places none, so the
    simulator (which caches only up to a breakpoint) reports no cache reads or writes there."""
    config = router_config(sim.url)
    config["providers"]["claudesim"]["cache_breakpoints"] = False
    router = traced_router(sim.url, exporter, providers=config["providers"])
    _, messages = await run_agent(make_agent(router), "run")
    anthropic = [a for a in responses(messages) if a.provider_name == "anthropic"]
    assert len(anthropic) >= 2
    assert all(a.usage.cache_read_tokens == a.usage.cache_write_tokens == 0 for a in anthropic)
