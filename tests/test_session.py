"""Sessions: explicit and implicit keys, step counting, escalation, hints, decisions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from agentroute import (
    AllAttemptsFailed,
    CallNext,
    Cause,
    ConfigurationError,
    ModelCall,
    ModelResult,
    ProviderUnavailable,
    Router,
    RouterConfig,
    StreamChunk,
    Usage,
    current_session,
)
from agentroute.session import derive_session_key
from agentroute.testing import (
    FakeClock,
    ScriptedProvider,
    capture_logs,
    openai_response,
    text_result,
)
from tests.helpers import CONVERSATION, config_dict, make_router

pytestmark = pytest.mark.anyio


def scripted() -> dict[str, ScriptedProvider]:
    reply = text_result("ok", usage=Usage(input_tokens=1000, output_tokens=100))
    return {"alpha": ScriptedProvider(default=reply), "beta": ScriptedProvider(default=reply)}


async def test_explicit_session_counts_steps_and_records_decisions() -> None:
    router = make_router(providers=scripted())
    async with router.session(id="t-1", agent="support", user="u1") as s:
        assert current_session() is s
        for _ in range(3):
            await router.complete(CONVERSATION)
    assert current_session() is None
    assert s.id == "t-1"
    assert s.step == 3
    assert [d.step for d in s.decisions] == [1, 2, 3]
    assert [d.tier for d in s.decisions] == ["simple"] * 3
    assert s.decisions[0].cause == Cause.START and s.decisions[0].previous_tier is None
    assert s.decisions[1].previous_tier == "simple"
    # 1000 input at $1/M + 100 output at $2/M, three times
    assert s.cost_usd == pytest.approx(3 * (1000 * 1.0 + 100 * 2.0) / 1e6)
    assert s.usage == Usage(input_tokens=3000, output_tokens=300)


async def test_escalate_moves_the_next_call_one_tier_up() -> None:
    router = make_router(providers=scripted())
    async with router.session() as s:
        await router.complete(CONVERSATION)
        s.escalate("user clicked 'this did not help'")
        r2 = await router.complete(CONVERSATION)
        r3 = await router.complete(CONVERSATION)
        s.escalate()
        s.escalate()  # twice before one call: still one tier per call
        r4 = await router.complete(CONVERSATION)
        s.escalate()
        r5 = await router.complete(CONVERSATION)  # already at the top
    assert r2.decision is not None and r2.decision.tier == "medium"
    assert r2.decision.cause == Cause.ESCALATION_REQUEST
    assert r2.decision.reason == "user clicked 'this did not help'"
    assert r3.decision is not None and r3.decision.tier == "medium"  # held: calm steps first
    assert r4.decision is not None and r4.decision.tier == "complex"
    assert r5.decision is not None and r5.decision.tier == "complex"
    assert r2.target is not None and r2.target.model == "mid"


async def test_implicit_session_is_keyed_by_the_conversation() -> None:
    router = make_router(providers=scripted())
    first = await router.complete(CONVERSATION)
    follow_up = [*CONVERSATION, {"role": "assistant", "content": "Where to?"}]
    second = await router.complete(follow_up)
    other = await router.complete(
        [{"role": "system", "content": "Other agent"}, {"role": "user", "content": "Hi"}]
    )
    assert first.decision is not None and first.decision.step == 1
    assert second.decision is not None and second.decision.step == 2
    assert other.decision is not None and other.decision.step == 1


async def test_hints_from_call_and_session_metadata() -> None:
    router = make_router(providers=scripted())
    r = await router.complete(CONVERSATION, hints={"min_tier": "complex"})
    assert r.decision is not None and (r.decision.tier, r.decision.cause) == ("complex", "hint")
    async with router.session(metadata={"max_tier": "simple"}) as s:
        s.escalate()
        capped = await router.complete(CONVERSATION)
        raised = await router.complete(CONVERSATION, hints={"max_tier": "medium"})
    assert capped.decision is not None and capped.decision.tier == "simple"
    assert capped.decision.reason == "max_tier=simple"
    assert raised.decision is not None and raised.decision.tier == "simple"


async def test_unknown_tier_hint_is_a_configuration_error() -> None:
    router = make_router(providers=scripted())
    with pytest.raises(ConfigurationError, match="min_tier='huge' is not a tier"):
        await router.complete(CONVERSATION, hints={"min_tier": "huge"})


async def test_sessions_of_another_router_are_not_joined() -> None:
    a, b = make_router(providers=scripted()), make_router(providers=scripted())
    async with a.session(id="a-only") as s:
        await b.complete(CONVERSATION)
    assert s.step == 0


async def test_nested_sessions_restore_the_outer_one() -> None:
    router = make_router(providers=scripted())
    async with router.session(id="outer") as outer:
        async with router.session(id="inner") as inner:
            await router.complete(CONVERSATION)
        await router.complete(CONVERSATION)
    assert (outer.step, inner.step) == (1, 1)


def test_session_key_uses_first_system_and_user_message() -> None:
    base = derive_session_key(CONVERSATION)
    longer = [*CONVERSATION, {"role": "user", "content": "later"}]
    assert derive_session_key(longer) == base
    assert derive_session_key([CONVERSATION[1]]) != base
    blocks: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "Book me a flight."}]}
    ]
    assert derive_session_key(blocks, system="Anthropic system") == derive_session_key(
        blocks, system="Anthropic system"
    )
    assert derive_session_key(blocks, system="A") != derive_session_key(blocks, system="B")


# Implicit sessions: runs with the same opening ------------------------------------------------

OPENING: tuple[dict[str, Any], ...] = (
    {"role": "system", "content": "You are a travel agent."},
    {"role": "user", "content": "Book me a flight to Lisbon."},
)
TOOLS = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
STEPS = 6

Seen = tuple[str, int, str, float]
"""What one routed call of a run got: session key, step, tier, score."""

_run_log: ContextVar[list[Seen]] = ContextVar("run_log")


async def log_decisions(call: ModelCall, call_next: CallNext) -> ModelResult:
    """A middleware writing each call's session and decision into the calling run's log (a
    context variable: each run is its own task)."""
    assert call.session is not None and call.decision is not None
    d = call.decision
    _run_log.get().append((call.session.key, d.step, d.tier, round(d.score, 9)))
    return await call_next(call)


async def call_llm(messages: list[Any], *, model: str, tools: Any = None) -> dict[str, Any]:
    await anyio.lowlevel.checkpoint()  # a real call awaits the network: other runs go on
    return openai_response("", prompt_tokens=100, completion_tokens=10)


class Run:
    """An agent run through ``wrap()``: the model asks for the same tool calls in every run
    (the next page of results at each step), so two runs differ only where a tool fails
    (``errors``: the steps whose tool result is an error). ``style`` is how the loop holds its
    history: one list grown in place, a list
    rebuilt from new dicts before every call (as many frameworks do), or a list grown in place
    that starts from the module's shared opening dicts."""

    def __init__(self, routed: Callable[..., Awaitable[Any]], errors: set[int], style: str):
        self.routed = routed
        self.errors = errors
        self.style = style
        shared = style == "shared opening"
        self.history = [m if shared else dict(m) for m in OPENING]
        self.seen: list[Seen] = []
        self.step = 0

    async def next_step(self) -> None:
        self.step += 1
        sent = [dict(m) for m in self.history] if self.style == "rebuilt" else self.history
        token = _run_log.set(self.seen)
        try:
            await self.routed(sent, tools=TOOLS)
        finally:
            _run_log.reset(token)
        call_id = f"call_{self.step}"
        self.history.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "search", "arguments": f'{{"page": {self.step}}}'},
                    }
                ],
            }
        )
        failed = self.step in self.errors
        result = "Error: upstream timeout" if failed else '{"flights": 3}'
        self.history.append({"role": "tool", "tool_call_id": call_id, "content": result})

    async def all_steps(self) -> None:
        for _ in range(STEPS):
            await self.next_step()


def traveller() -> tuple[Router, Callable[..., Awaitable[Any]]]:
    router = Router(config_dict(), middleware=[log_decisions], clock=FakeClock())
    return router, router.wrap(call_llm)


A_ERRORS, B_ERRORS = {1, 2, 3}, set[int]()


async def alone(errors: set[int], style: str) -> list[Seen]:
    """What a run sees with no other run around (each run's own steps and scores)."""
    _, routed = traveller()
    run = Run(routed, errors, style)
    await run.all_steps()
    return run.seen


@pytest.mark.parametrize("style", ["grown in place", "rebuilt", "shared opening"])
@pytest.mark.parametrize("interleaving", ["concurrent", "step by step"])
async def test_runs_with_the_same_opening_keep_their_own_sessions(
    style: str, interleaving: str
) -> None:
    # Two runs with the same system and first user message used to be one session: steps
    # 1..12 between them, each run's tool errors raising the other's score.
    _, routed = traveller()
    a, b = Run(routed, A_ERRORS, style), Run(routed, B_ERRORS, style)
    if interleaving == "concurrent":
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.all_steps)
            tg.start_soon(b.all_steps)
    else:  # one step of each in turn, neither call overlapping the other
        for _ in range(STEPS):
            await a.next_step()
            await b.next_step()
    for run, errors in ((a, A_ERRORS), (b, B_ERRORS)):
        keys = {key for key, *_ in run.seen}
        assert len(keys) == 1, f"one run, several sessions: {keys}"
        assert [step for _, step, _, _ in run.seen] == list(range(1, STEPS + 1))
        expected = await alone(errors, style)
        assert [s[1:] for s in run.seen] == [s[1:] for s in expected]  # steps, tiers, scores
    assert a.seen[0][0] != b.seen[0][0]
    assert {a.seen[0][0], b.seen[0][0]} == {expected[0][0], expected[0][0] + "-2"}
    assert {tier for *_, tier, _ in b.seen} == {"simple"}  # no error, no climb
    assert "complex" in {tier for *_, tier, _ in a.seen}  # its errors escalated A alone


async def test_a_retry_of_a_failed_call_continues_its_session() -> None:
    # The same history sent again after the call failed is the same run retrying: still one
    # session, whether the loop resends its list or rebuilds it.
    provider = ScriptedProvider([ProviderUnavailable("down"), "ok", "ok"])
    router = make_router(providers={"alpha": provider})
    messages = [dict(m) for m in OPENING]
    with pytest.raises(AllAttemptsFailed):
        await router.complete(messages)
    retried = await router.complete([dict(m) for m in messages])
    grown = await router.complete([*messages, {"role": "assistant", "content": "Which day?"}])
    assert retried.decision is not None and grown.decision is not None
    assert (retried.decision.step, grown.decision.step) == (2, 3)


async def test_explicit_sessions_never_fork_by_content() -> None:
    # Explicit sessions are not matched by their messages: two at once with the same history,
    # and one resending the same history, each count their own calls.
    router = make_router(providers=scripted())
    log: list[tuple[str, int]] = []

    async def run(name: str) -> None:
        async with router.session(id=name) as s:
            for _ in range(3):
                await router.complete([dict(m) for m in OPENING])
                log.append((s.id, s.step))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "one")
        tg.start_soon(run, "two")
    assert sorted(log) == [("one", 1), ("one", 2), ("one", 3), ("two", 1), ("two", 2), ("two", 3)]
    implicit = await router.complete([dict(m) for m in OPENING])
    assert implicit.decision is not None and implicit.decision.step == 1  # untouched by them


async def test_a_streamed_call_ends_in_its_session_like_any_other() -> None:
    # a stream's session is told when it opened, so the next step continues it (no fork)
    chunk = StreamChunk(text="hi", usage=Usage(10, 1), finish_reason="stop")
    router = make_router(providers={"alpha": Streams(chunk), "beta": Streams(chunk)})
    messages = [dict(m) for m in OPENING]
    async with router.stream(messages) as stream:
        async for _ in stream:
            pass
    messages.append({"role": "assistant", "content": "hi"})
    messages.append({"role": "user", "content": "and back?"})
    async with router.stream(messages) as again:
        async for _ in again:
            pass
    assert again.result is not None and again.result.decision is not None
    assert again.result.decision.step == 2


class Streams:
    """A provider streaming the same chunk for every call."""

    def __init__(self, chunk: StreamChunk) -> None:
        self.chunk = chunk

    async def send(self, call: ModelCall, /) -> ModelResult:
        raise AssertionError("streamed calls only")

    async def stream(self, call: ModelCall, /) -> AsyncIterator[StreamChunk]:
        yield self.chunk


# Implicit sessions: how many are kept ---------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the table, not the event loop
async def test_ten_thousand_and_one_implicit_sessions_keep_their_steps(anyio_backend: str) -> None:
    # Past 10,000 implicit sessions (the old bound) the least recently used was evicted: in a
    # round-robin every session was gone by its next step, so steps never passed 1.
    router = Router(
        config_dict(telemetry={"log_events": False}), providers=scripted(), clock=FakeClock()
    )
    conversations = [[{"role": "user", "content": f"task {i}"}] for i in range(10_001)]
    for c in conversations:
        await router.complete(c)
        c.append({"role": "assistant", "content": "ok"})
    # the oldest are the ones an LRU bound of 10,000 evicts first
    for c in conversations[:200]:
        result = await router.complete(c)
        assert result.decision is not None and result.decision.step == 2


def eviction_router(reader: InMemoryMetricReader, clock: FakeClock) -> Router:
    data = config_dict(sessions={"max_implicit": 3, "idle_ttl_s": 60})
    meters = MeterProvider(metric_readers=[reader])
    return Router(data, providers=scripted(), clock=clock, meter_provider=meters)


def evictions(reader: InMemoryMetricReader) -> float:
    data = reader.get_metrics_data()
    points = [
        p
        for rm in (data.resource_metrics if data else ())
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "agentroute.sessions.evicted"
        for p in m.data.data_points
    ]
    return sum(p.value for p in points if isinstance(p, NumberDataPoint))


async def test_a_live_session_evicted_by_the_bound_is_counted_and_logged() -> None:
    reader, clock = InMemoryMetricReader(), FakeClock()
    router = eviction_router(reader, clock)
    users = [[{"role": "user", "content": f"user {i}"}] for i in range(4)]
    with capture_logs() as events:
        for user in users[:3]:
            await router.complete(user)
            clock.advance(1)
        assert evictions(reader) == 0
        await router.complete(users[3])  # a fourth live session: the first goes
    assert evictions(reader) == 1
    evicted = [e for e in events if e["event"] == "route.session_evicted"]
    assert len(evicted) == 1 and evicted[0]["log_level"] == "warning"
    first = derive_session_key(users[0])
    assert evicted[0] | {"idle_s": 3.0} == {
        "event": "route.session_evicted",
        "log_level": "warning",
        "session_id": first,
        "step": 1,
        "idle_s": 3.0,
        "max_implicit": 3,
    }
    again = await router.complete(users[0])  # its state is gone: it starts over
    assert again.decision is not None and again.decision.step == 1


async def test_sessions_idle_past_the_ttl_make_room_without_counting() -> None:
    reader, clock = InMemoryMetricReader(), FakeClock()
    router = eviction_router(reader, clock)
    for i in range(3):
        await router.complete([{"role": "user", "content": f"old {i}"}])
    clock.advance(61)  # all three idle past the 60 s TTL
    live = [[{"role": "user", "content": f"new {i}"}] for i in range(3)]
    for _ in range(3):
        for c in live:
            result = await router.complete(c)
            c.append({"role": "assistant", "content": "ok"})
    assert result.decision is not None and result.decision.step == 3
    assert evictions(reader) == 0


def test_the_old_state_keys_still_set_the_implicit_session_limits() -> None:
    moved = "state.max_sessions, state.session_ttl_s deprecated; write sessions.max_implicit, "
    with pytest.warns(DeprecationWarning, match=re.escape(moved + "sessions.idle_ttl_s")):
        config = RouterConfig.from_mapping(
            config_dict(state={"kind": "memory", "max_sessions": 50, "session_ttl_s": 9})
        )
    assert (config.sessions.max_implicit, config.sessions.idle_ttl_s) == (50, 9.0)
    with pytest.raises(
        ConfigurationError, match=r"state\.max_sessions: the old name of sessions\.max_implicit"
    ):
        RouterConfig.from_mapping(
            config_dict(state={"max_sessions": 5}, sessions={"max_implicit": 3})
        )
