"""LangChain v1 ``create_agent`` with :class:`AgentRouteMiddleware`, against the simulator: the
cheap OpenAI-compatible tier first, the Anthropic top tier after a refused tool call, one
``agentroute.route`` span per model call with the usage the simulator reported (plain and
streamed), sync ``invoke``/``stream`` and async ``ainvoke``/``astream`` alike, and the thread
id as the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from anyio.from_thread import start_blocking_portal

from tests.helpers import frameworks_config, require_extra, simulator_fixture

fw = require_extra("langchain.agents", "langchain")

from langchain.agents import create_agent  # noqa: E402
from langchain.agents.middleware import ToolCallRequest, ToolErrorMiddleware  # noqa: E402
from langchain_anthropic import ChatAnthropic  # noqa: E402
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from agentroute import ConfigurationError, Deployment, Router  # noqa: E402
from agentroute.integrations.langchain import (  # noqa: E402
    AgentRouteMiddleware,
    build_chat_model,
    usage_of,
)
from agentroute.sim.config import load_sim_config  # noqa: E402
from agentroute.sim.scenario import SYSTEM_PROMPT, USER_REQUEST, run_tool  # noqa: E402
from agentroute.sim.server import Simulator, run_simulator  # noqa: E402
from agentroute.telemetry import attributes as A  # noqa: E402
from agentroute.testing import FakeClock  # noqa: E402

pytestmark = pytest.mark.anyio

SIM_CONFIG = Path(__file__).parent.parent / "examples" / "sim_frameworks.yaml"


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: LangGraph's async runner is asyncio's (``ainvoke`` under trio fails in
    ``asyncio.get_running_loop()``)."""
    return "asyncio"


class Refused(Exception):
    """The tool's refusal, raised (LangChain's ``ToolErrorMiddleware`` makes it a
    ``ToolMessage(status="error")``)."""


def get_reservation(reservation_id: str) -> str:
    """Read a reservation."""
    return run_tool("get_reservation", {"reservation_id": reservation_id})


def search_flights(origin: str, destination: str, date: str) -> str:
    """Search direct flights."""
    return run_tool("search_flights", {"origin": origin, "destination": destination, "date": date})


def update_reservation(reservation_id: str, flight: str, cabin: str) -> str:
    """Change flight and cabin."""
    args = {"reservation_id": reservation_id, "flight": flight, "cabin": cabin}
    answer = run_tool("update_reservation", args)
    if answer.startswith("Error"):
        raise Refused(answer.removeprefix("Error: "))
    return answer


def refused(exc: Exception, request: ToolCallRequest) -> str | None:
    # a text no text rule reads as an error: only the message's status says so
    return f"not done ({exc})" if isinstance(exc, Refused) else None


router_config = frameworks_config


class Run:
    """One agent with its router, spans and simulator."""

    def __init__(self, sim: Simulator, detector: Any = ("default",), **router_kwargs: Any) -> None:
        self.sim = sim
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.router = Router(
            router_config(sim.url),
            tracer_provider=provider,
            tool_error_detector=list(detector),
            **router_kwargs,
        )
        self.routing = AgentRouteMiddleware(self.router)
        self.agent = create_agent(
            self.routing.model,
            [get_reservation, search_flights, update_reservation],
            system_prompt=SYSTEM_PROMPT,
            middleware=[self.routing, ToolErrorMiddleware(on_error=refused)],
            checkpointer=InMemorySaver(),
        )

    def routes(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == A.ROUTE_SPAN]

    def chats(self) -> list[ReadableSpan]:
        """The attempt spans, in the order their route spans ended."""
        order = {s.context.span_id: i for i, s in enumerate(self.routes())}
        chats = [
            s
            for s in self.exporter.get_finished_spans()
            if s.name.startswith(f"{A.CHAT_OPERATION} ") and s.parent is not None
        ]
        return sorted(chats, key=lambda s: order[s.parent.span_id] if s.parent else -1)

    def requests(self) -> int:
        return self.sim.stats("cheap").requests + self.sim.stats("claude").requests


INPUT = {"messages": [{"role": "user", "content": USER_REQUEST}]}


def config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


def check(run: Run, messages: list[Any], thread: str, *, streamed: bool) -> None:
    """One route span per model call, each with the call's exact usage; the cheap tier until
    the refused tool call, the top tier for the step after it; the thread as the session."""
    answers = [m for m in messages if isinstance(m, AIMessage)]
    routes = run.routes()
    assert len(routes) == len(answers) == run.requests()
    streams = run.sim.stats("cheap").streams + run.sim.stats("claude").streams
    assert streams == (len(answers) if streamed else 0)
    chats = run.chats()
    assert len(chats) == len(routes)  # one attempt each, under its route span
    for span, chat, answer in zip(routes, chats, answers, strict=True):
        assert chat.parent is not None
        assert chat.parent.span_id == span.context.span_id
        assert (span.attributes or {})[A.GEN_AI_CONVERSATION_ID] == thread
        attrs = chat.attributes or {}
        usage = answer.usage_metadata
        assert usage is not None
        assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == usage["input_tokens"] > 0
        assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == usage["output_tokens"] > 0
    # no span says its usage was estimated (the attempt spans would: agentroute.usage.estimated)
    for span in run.exporter.get_finished_spans():
        assert A.USAGE_ESTIMATED not in (span.attributes or {}), span.name
    # the spans' totals are the simulator's own counts
    sims = (run.sim.stats("cheap"), run.sim.stats("claude"))
    total_in = sum(int((s.attributes or {})[A.GEN_AI_USAGE_INPUT_TOKENS]) for s in chats)
    total_out = sum(int((s.attributes or {})[A.GEN_AI_USAGE_OUTPUT_TOKENS]) for s in chats)
    assert total_in == sum(s.input_tokens for s in sims)
    assert total_out == sum(s.output_tokens for s in sims)
    # the tiers: cheap first; the answer after the refusal comes from the top tier
    tiers = [(s.attributes or {})[A.DECISION_TIER] for s in routes]
    failed = next(
        i for i, m in enumerate(messages) if isinstance(m, ToolMessage) and m.status == "error"
    )
    after = sum(isinstance(m, AIMessage) for m in messages[:failed])
    assert tiers[0] == "simple"
    assert tiers[after] == "complex"
    assert all(t == "simple" for t in tiers[:after])
    assert isinstance(messages[-1], AIMessage)
    assert "economy" in messages[-1].text


sim = simulator_fixture(load_sim_config(SIM_CONFIG))


@pytest.fixture
def sync_sim() -> Iterator[Simulator]:
    """The simulator on a loop thread of its own, for the sync entry points."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(run_simulator(load_sim_config(SIM_CONFIG))) as sim,
    ):
        yield sim


async def test_ainvoke_routes_each_model_call_and_escalates(sim: Simulator) -> None:
    run = Run(sim)
    state = await run.agent.ainvoke(INPUT, config=config("thread-ainvoke"))
    check(run, state["messages"], "thread-ainvoke", streamed=False)


async def test_astream_streams_the_model_calls_with_exact_usage(sim: Simulator) -> None:
    run = Run(sim)
    chunks = 0
    async for message, _meta in run.agent.astream(
        INPUT, config=config("thread-astream"), stream_mode="messages"
    ):
        chunks += isinstance(message, AIMessageChunk)
    state = await run.agent.aget_state(config("thread-astream"))
    assert chunks > len(run.routes())  # the tokens came in pieces
    check(run, state.values["messages"], "thread-astream", streamed=True)


def test_invoke_sync_routes_each_model_call(sync_sim: Simulator) -> None:
    run = Run(sync_sim)
    try:
        state = run.agent.invoke(INPUT, config=config("thread-invoke"))
    finally:
        run.routing.close()
    check(run, state["messages"], "thread-invoke", streamed=False)


def test_sync_stream_keeps_langgraph_callbacks(sync_sim: Simulator) -> None:
    """The sync handler runs in the caller's context: LangGraph's message stream still gets
    the model's tokens."""
    run = Run(sync_sim)
    try:
        chunks = sum(
            isinstance(message, AIMessageChunk)
            for message, _meta in run.agent.stream(
                INPUT, config=config("thread-stream"), stream_mode="messages"
            )
        )
        state = run.agent.get_state(config("thread-stream"))
    finally:
        run.routing.close()
    assert chunks > len(run.routes())
    check(run, state.values["messages"], "thread-stream", streamed=True)


async def test_the_status_alone_escalates_whatever_the_detector(sim: Simulator) -> None:
    """The refusal's text reads as no error, and this detector never calls anything an error:
    ``status="error"`` still counts (an explicit flag, like ``is_error``), so the next step
    escalates."""
    run = Run(sim, detector=(lambda result: False,))
    state = await run.agent.ainvoke(INPUT, config=config("thread-default"))
    tiers = [(s.attributes or {})[A.DECISION_TIER] for s in run.routes()]
    assert any(isinstance(m, ToolMessage) and m.status == "error" for m in state["messages"])
    assert tiers[0] == "simple" and "complex" in tiers


async def test_a_thread_is_one_session_across_runs(sim: Simulator) -> None:
    run = Run(sim)
    await run.agent.ainvoke(INPUT, config=config("thread-twice"))
    first = len(run.routes())
    await run.agent.ainvoke(
        {"messages": [{"role": "user", "content": "Thanks!"}]}, config=config("thread-twice")
    )
    steps = [(s.attributes or {})[A.SESSION_STEP] for s in run.routes()]
    assert steps == list(range(1, len(steps) + 1))
    assert len(steps) > first
    assert {(s.attributes or {})[A.GEN_AI_CONVERSATION_ID] for s in run.routes()} == {
        "thread-twice"
    }


async def test_without_a_thread_id_calls_still_route(sim: Simulator) -> None:
    run = Run(sim)
    run.agent = create_agent(
        run.routing.model,
        [get_reservation, search_flights, update_reservation],
        system_prompt=SYSTEM_PROMPT,
        middleware=[run.routing, ToolErrorMiddleware(on_error=refused)],
    )
    state = await run.agent.ainvoke(INPUT)
    routes = run.routes()
    assert len(routes) == sum(isinstance(m, AIMessage) for m in state["messages"]) > 1
    # the router's implicit session matched the calls of the one run by their content
    assert len({(s.attributes or {})[A.GEN_AI_CONVERSATION_ID] for s in routes}) == 1


async def test_a_provider_fault_is_the_routers_to_retry() -> None:
    """The chat models do not retry: the router sees the cheap server's 500 and retries it
    (one route span, two attempts, two requests at the server)."""
    sim_config = yaml.safe_load(SIM_CONFIG.read_text())
    sim_config["instances"]["cheap"]["faults"] = {"schedule": {1: "server_error"}}
    async with run_simulator(sim_config) as sim:
        run = Run(sim, clock=FakeClock())
        state = await run.agent.ainvoke(INPUT, config=config("thread-fault"))
    first = run.routes()[0].attributes or {}
    assert first[A.ATTEMPT_COUNT] == 2
    assert sim.stats("cheap").faults == {"server_error": 1}
    assert run.requests() == len(run.routes()) + 1
    assert isinstance(state["messages"][-1], AIMessage)


def test_the_routed_model_is_never_called_without_the_middleware() -> None:
    routing = AgentRouteMiddleware(Router(router_config("http://127.0.0.1:9")))
    with pytest.raises(RuntimeError, match="AgentRouteMiddleware"):
        routing.model.invoke("hello")


def deployment(kind: str, **fields: Any) -> Deployment:
    values: dict[str, Any] = {
        "provider": "p",
        "kind": kind,
        "model": "m",
        "name": "m-1",
        "tier": "simple",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": "sk-test",
        **fields,
    }
    return Deployment(**values)


def test_chat_models_per_kind_have_their_retries_off() -> None:
    openai_model = build_chat_model(deployment("openai", headers={"X-Team": "a"}))
    assert isinstance(openai_model, ChatOpenAI)
    assert openai_model.max_retries == 0
    assert openai_model.stream_usage is True
    assert openai_model.model_name == "m-1"
    assert openai_model.openai_api_base == "http://127.0.0.1:9/v1"
    assert openai_model.default_headers == {"X-Team": "a"}
    anthropic_model = build_chat_model(deployment("anthropic"), temperature=0.5)
    assert isinstance(anthropic_model, ChatAnthropic)
    assert anthropic_model.max_retries == 0
    assert anthropic_model.temperature == 0.5
    assert anthropic_model.anthropic_api_key.get_secret_value() == "sk-test"
    with pytest.raises(ConfigurationError, match="max_retries"):
        build_chat_model(deployment("openai"), max_retries=2)
    with pytest.raises(ConfigurationError, match=r"providers\.p"):
        build_chat_model(deployment("gemini"))


def test_one_chat_model_per_deployment() -> None:
    routing = AgentRouteMiddleware(Router(router_config("http://127.0.0.1:9")))
    first = routing.chat_model(deployment("openai"))
    assert routing.chat_model(deployment("openai")) is first
    assert routing.chat_model(deployment("openai", api_key="sk-other")) is not first


def test_bad_arguments_are_configuration_errors() -> None:
    router = Router(router_config("http://127.0.0.1:9"))
    with pytest.raises(ConfigurationError, match="router"):
        AgentRouteMiddleware("not a router")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="chat_model_factory"):
        AgentRouteMiddleware(router, chat_model_factory=build_chat_model, temperature=0)


def test_usage_of_reads_the_last_ai_message() -> None:
    message = AIMessage(
        "hi",
        usage_metadata={
            "input_tokens": 120,
            "output_tokens": 7,
            "total_tokens": 127,
            "input_token_details": {"cache_read": 100, "cache_creation": 10},
        },
    )
    usage = usage_of(message)
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (120, 7)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (100, 10)
    assert usage_of(AIMessage("no usage")) is None
