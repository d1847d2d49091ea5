"""Shadow routing on the simulator (issue 18, acceptance): both wire formats, through
``complete()`` (the built-in providers) and through ``wrap()`` driving the official ``openai``
and ``anthropic`` SDKs (``max_retries=0``, pointed at the simulator).

The agent is the airline scenario's loop: ``small-model`` (skill 0, tier ``simple``) reads the
reservation, searches flights and asks for a basic-economy change the tool refuses; the next
step escalates to ``big-model`` (skill 2, tier ``complex``, the shadow reference). Each served
model has an instance of its own, so the simulator's records say which calls reached the
reference model, and its faults can break the reference alone. The simulator's prompt cache is
off, so the same session costs the same every time it runs.

What is asserted, against a run of the same session on a router without a ``shadow`` section:

* the user's steps (text, tool calls with their arguments, served model) and the session's cost
  are the same with shadowing, and every ``simple`` step also reached the reference model;
* a reference that answers 500s or hangs changes nothing for the user; the samples count as
  failed (the hang: once ``shadow.timeout_s`` has passed);
* a hanging shadow call is cancelled by ``aclose()``, which leaves no task behind;
* a tiny ``budget_usd_per_day`` stops sampling (``dropped_budget``) once spent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import anyio
import openai
import pytest

from agentroute import Deployment, Router
from agentroute.demo import assistant_message
from agentroute.sim.faults import RequestRecord
from agentroute.sim.scenario import SYSTEM_PROMPT, TOOLS, USER_REQUEST, run_tool
from agentroute.sim.server import Simulator
from tests.helpers import simulator_fixture

pytestmark = [
    pytest.mark.anyio,
    # The SDKs leave their chain of async generators to the finalizer; trio warns about each.
    pytest.mark.filterwarnings("ignore:Async generator '.*':ResourceWarning"),
]

SCENARIO = {"kind": "airline", "skills": {"small-model": 0, "big-model": 2}}
REFERENCES = {
    "ok": {},
    "500": {"faults": {"rates": {"server_error": 1.0}}},
    "hang": {"faults": {"rates": {"timeout": 1.0}}},
}
KINDS = ("openai", "anthropic")
SIM: dict[str, Any] = {
    "instances": {
        f"{role}_{kind}": {
            "kind": kind,
            "scenario": SCENARIO,
            "cache": {"enabled": False},  # the same session costs the same on every run
            **extra,
        }
        for kind in KINDS
        for role, extra in [("cheap", {})] + [(f"ref{k}", v) for k, v in REFERENCES.items()]
    }
}
PRICES = {
    "small-model": {"input": 0.15, "output": 0.6},
    "big-model": {"input": 3.0, "output": 15.0},
}
BEFORE_ESCALATION = 3
"""The steps ``simple`` serves before the refused change escalates: get_reservation,
search_flights, update_reservation (basic economy)."""
WHOLE = 8
"""Enough steps for the whole task (6: three on each tier)."""

sim = simulator_fixture(SIM)


def router_config(sim: Simulator, kind: str, reference: str, **shadow: Any) -> dict[str, Any]:
    """Two tiers (``small-model`` on ``cheap_<kind>``, ``big-model`` on ``ref<reference>_<kind>``),
    one tool error escalating the next step; a ``shadow`` section (``complex`` the reference,
    every step sampled) when ``shadow`` settings are given."""
    providers = {
        f"{role}_{kind}": {
            "kind": kind,
            "base_url": sim.base_url(f"{role}_{kind}"),
            "api_key": "sk-sim",
        }
        for role in ("cheap", f"ref{reference}")
    }
    data: dict[str, Any] = {
        "providers": providers,
        "models": {
            model: {
                "context_window": 200_000,
                "price": PRICES[model],
                "deployments": [{"provider": provider, "name": model}],
            }
            for model, provider in zip(PRICES, providers, strict=True)
        },
        "tiers": {"simple": ["small-model"], "complex": ["big-model"]},
        "policy": {"start_tier": "simple", "thresholds": {"complex": 0.4}},
        "resilience": {"max_retries": 0},
        "telemetry": {"log_events": False},
    }
    if shadow:
        data["shadow"] = {"sample": 1.0, "tier": "complex", **shadow}
    return data


# What the user sees of one step ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    text: str
    tool_calls: tuple[tuple[str, Any], ...]
    """(name, parsed arguments): the simulator numbers the ids per request, so they are left out."""
    model: str


@dataclass(frozen=True, slots=True)
class Run:
    steps: tuple[Seen, ...]
    cost_usd: float


Agent = Callable[[Router, "Clients", str, int], Awaitable[Run]]


async def complete_agent(router: Router, clients: Clients, session_id: str, steps: int) -> Run:
    """The loop through ``router.complete()`` (the built-in provider of the deployment's kind)."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_REQUEST},
    ]
    seen: list[Seen] = []
    async with router.session(id=session_id) as session:
        for _ in range(steps):
            result = await router.complete(messages, tools=TOOLS)
            assert result.target is not None
            calls = tuple((tc.name, json.loads(tc.arguments)) for tc in result.tool_calls)
            seen.append(Seen(result.text or "", calls, result.target.model))
            messages.append(assistant_message(result))
            if not result.tool_calls:
                break
            for tc in result.tool_calls:
                output = run_tool(tc.name, json.loads(tc.arguments))
                messages.append({"role": "tool", "tool_call_id": tc.id, "content": output})
    return Run(tuple(seen), session.cost_usd)


class Clients:
    """One SDK client per deployment, retries off (the router must see every fault). A test
    closes them after its router: a shadow call runs the wrapped function after the user's
    call has returned, so it needs the client still open."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}

    def __call__(self, deployment: Deployment) -> Any:
        client = self._clients.get(deployment.key)
        if client is None:
            make = openai.AsyncOpenAI if deployment.kind == "openai" else anthropic.AsyncAnthropic
            client = self._clients[deployment.key] = make(
                base_url=deployment.base_url, api_key=deployment.api_key, max_retries=0
            )
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()


async def openai_agent(router: Router, clients: Clients, session_id: str, steps: int) -> Run:
    """The loop through ``router.wrap()`` around the ``openai`` SDK's Chat Completions."""

    async def call_llm(messages: Any, *, model: str, deployment: Deployment, **kw: Any) -> Any:
        return await clients(deployment).chat.completions.create(
            model=model, messages=messages, **kw
        )

    routed = router.wrap(call_llm, deployment_param="deployment")
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_REQUEST},
    ]
    seen: list[Seen] = []
    async with router.session(id=session_id) as session:
        for _ in range(steps):
            response = await routed(messages, tools=TOOLS)
            message = response.choices[0].message
            calls = tuple(
                (c.function.name, json.loads(c.function.arguments))
                for c in message.tool_calls or ()
            )
            seen.append(Seen(message.content or "", calls, response.model))
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                break
            for c in message.tool_calls:
                output = run_tool(c.function.name, json.loads(c.function.arguments))
                messages.append({"role": "tool", "tool_call_id": c.id, "content": output})
    return Run(tuple(seen), session.cost_usd)


ANTHROPIC_TOOLS = [
    {
        "name": t["function"]["name"],
        "description": t["function"]["description"],
        "input_schema": t["function"]["parameters"],
    }
    for t in TOOLS
]


async def anthropic_agent(router: Router, clients: Clients, session_id: str, steps: int) -> Run:
    """The loop through ``router.wrap()`` around the ``anthropic`` SDK's Messages."""

    async def call_llm(messages: Any, *, model: str, deployment: Deployment, **kw: Any) -> Any:
        return await clients(deployment).messages.create(model=model, messages=messages, **kw)

    routed = router.wrap(call_llm, deployment_param="deployment")
    messages: list[Any] = [{"role": "user", "content": USER_REQUEST}]
    seen: list[Seen] = []
    async with router.session(id=session_id) as session:
        for _ in range(steps):
            response = await routed(
                messages, system=SYSTEM_PROMPT, tools=ANTHROPIC_TOOLS, max_tokens=1024
            )
            text = "".join(b.text for b in response.content if b.type == "text")
            uses = [b for b in response.content if b.type == "tool_use"]
            seen.append(Seen(text, tuple((u.name, dict(u.input)) for u in uses), response.model))
            messages.append({"role": "assistant", "content": response.content})
            if not uses:
                break
            results = [
                {"type": "tool_result", "tool_use_id": u.id, "content": run_tool(u.name, u.input)}
                for u in uses
            ]
            messages.append({"role": "user", "content": results})
    return Run(tuple(seen), session.cost_usd)


VARIANTS: dict[str, tuple[str, Agent]] = {
    "complete-openai": ("openai", complete_agent),
    "complete-anthropic": ("anthropic", complete_agent),
    "wrap-openai-sdk": ("openai", openai_agent),
    "wrap-anthropic-sdk": ("anthropic", anthropic_agent),
}
variants = pytest.mark.parametrize("variant", list(VARIANTS))


def reference_requests(sim: Simulator, kind: str, reference: str) -> int:
    return len(sim.records(f"ref{reference}_{kind}"))


async def unshadowed(sim: Simulator, clients: Clients, kind: str, agent: Agent, steps: int) -> Run:
    """The session on a router without shadowing (the baseline every test compares with)."""
    async with Router(router_config(sim, kind, "ok")) as router:
        return await agent(router, clients, "plain", steps)


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    made = Clients()
    yield made
    await made.close()


# The tests ---------------------------------------------------------------------------------------


@variants
async def test_the_user_gets_the_same_steps_and_cost_and_the_reference_got_the_samples(
    sim: Simulator, clients: Clients, variant: str
) -> None:
    kind, agent = VARIANTS[variant]
    plain = await unshadowed(sim, clients, kind, agent, WHOLE)
    served_by_reference = sum(1 for s in plain.steps if s.model == "big-model")
    before = reference_requests(sim, kind, "ok")

    async with Router(router_config(sim, kind, "ok", max_concurrency=16)) as router:
        shadowed = await agent(router, clients, "shadowed", WHOLE)
        await router.drain_shadow()
        stats = router.shadow_stats()

    assert shadowed.steps == plain.steps  # text, tool calls and served model of every step
    assert [s.model for s in plain.steps] == ["small-model"] * 3 + ["big-model"] * 3
    assert shadowed.steps[-1].text.startswith("Done")  # the task was solved
    assert shadowed.cost_usd == plain.cost_usd > 0  # the shadow cost is not the session's
    assert stats is not None
    sampled = len(plain.steps) - served_by_reference  # every simple step (complex: not sampled)
    assert (stats.sampled, stats.compared, stats.failed) == (sampled, sampled, 0)
    assert stats.cost_usd > 0
    # each sample reached the reference model, besides the steps it served
    reached = reference_requests(sim, kind, "ok") - before
    assert reached == served_by_reference + sampled
    records = sim.records(f"refok_{kind}")[-reached:]
    assert {(r.model, r.status) for r in records} == {("big-model", 200)}
    # the weak model's refused change disagrees with the strong model's economy fare
    agreement = stats.by_tier["simple"]
    assert agreement.count == sampled and agreement.mean < 1.0


@variants
@pytest.mark.parametrize("reference", ["500", "hang"])
async def test_a_failing_reference_changes_nothing_for_the_user(
    sim: Simulator, clients: Clients, variant: str, reference: str
) -> None:
    kind, agent = VARIANTS[variant]
    plain = await unshadowed(sim, clients, kind, agent, BEFORE_ESCALATION)

    # (a hanging reference fails at shadow.timeout_s: the hang is only seen by the shadow)
    config = router_config(sim, kind, reference, max_concurrency=16, timeout_s=0.5)
    async with Router(config) as router:
        with anyio.fail_after(60):  # a safety net, not a measure of speed
            shadowed = await agent(router, clients, "shadowed", BEFORE_ESCALATION)
            await router.drain_shadow()
        stats = router.shadow_stats()

    assert shadowed == plain  # the same steps, the same cost
    assert {s.model for s in shadowed.steps} == {"small-model"}
    assert stats is not None
    n = BEFORE_ESCALATION
    assert (stats.sampled, stats.failed, stats.compared, stats.cancelled) == (n, n, 0, 0)
    assert dict(stats.by_tier) == {}
    records = sim.records(f"ref{reference}_{kind}")
    if reference == "500":
        assert [(r.status, r.fault) for r in records] == [(500, "server_error")] * n
    else:  # (a call timed out before its request was out is not in the records)
        assert len(records) <= n and {(r.status, r.fault) for r in records} <= {(0, "timeout")}


@variants
async def test_aclose_cancels_a_hanging_shadow_call_and_leaves_no_task(
    sim: Simulator, clients: Clients, variant: str, anyio_backend: str
) -> None:
    kind, agent = VARIANTS[variant]
    plain = await unshadowed(sim, clients, kind, agent, BEFORE_ESCALATION)
    mine = set(asyncio.all_tasks()) if anyio_backend == "asyncio" else set()

    router = Router(router_config(sim, kind, "hang", max_concurrency=16))
    shadowed = await agent(router, clients, "shadowed", BEFORE_ESCALATION)
    runner = router._shadow
    assert runner is not None
    host = runner._host
    assert host is not None and not host.done.is_set()
    in_flight = router.shadow_stats()
    assert in_flight is not None and in_flight.in_flight == BEFORE_ESCALATION
    with anyio.fail_after(30):  # a safety net, not a measure of speed
        while len(sim.records(f"refhang_{kind}")) < BEFORE_ESCALATION:  # noqa: ASYNC110
            await anyio.sleep(0.01)  # until every shadow request hangs at the reference
        await router.aclose()  # must return
    stats = router.shadow_stats()

    assert shadowed == plain
    assert stats is not None
    n = BEFORE_ESCALATION
    assert (stats.sampled, stats.cancelled, stats.in_flight, stats.compared) == (n, n, 0, 0)
    assert host.done.is_set()  # the runner's host (its task group) has ended
    if anyio_backend == "asyncio":
        # nothing the router started is left (the simulator's own tasks aside)
        left = [t for t in asyncio.all_tasks() - mine if not _simulator_task(t)]
        assert left == []


def _simulator_task(task: asyncio.Task[Any]) -> bool:
    """A task of the simulator's server (anyio names a task after its function)."""
    return task.get_name().startswith("agentroute.sim.")


@variants
async def test_a_tiny_budget_stops_sampling(sim: Simulator, clients: Clients, variant: str) -> None:
    kind, agent = VARIANTS[variant]
    # one step's shadow call: the served usage at the reference's price, a little over
    async with Router(router_config(sim, kind, "ok")) as probe:
        await agent(probe, clients, "probe", 1)
    one_call = _reference_cost(sim.records(f"cheap_{kind}")[-1])
    budget = one_call * 1.5

    sessions = 5
    async with Router(router_config(sim, kind, "ok", budget_usd_per_day=budget)) as router:
        for i in range(sessions):  # one step each: the same first step, the same cost
            await agent(router, clients, f"s{i}", 1)
            await router.drain_shadow()
        stats = router.shadow_stats()

    assert stats is not None
    assert stats.sampled >= 1 and stats.dropped_budget > 0
    assert stats.sampled + stats.dropped_budget == sessions
    assert stats.spent_today_usd <= budget + stats.cost_usd / stats.sampled
    assert stats.spent_today_usd == pytest.approx(stats.cost_usd)


def _reference_cost(record: RequestRecord) -> float:
    """What the served request's usage costs at ``big-model``'s price."""
    assert record.usage is not None
    price = PRICES["big-model"]
    return (
        record.usage.prompt_tokens * price["input"] + record.output_tokens * price["output"]
    ) / 1e6


@pytest.mark.parametrize("copy", [True, False], ids=["history-copied", "history-appended"])
async def test_the_shadow_call_sees_the_history_of_its_step(sim: Simulator, copy: bool) -> None:
    async with Router(router_config(sim, "openai", "ok", sample=1.0)) as router:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_REQUEST},
        ]
        result = await router.complete(list(messages) if copy else messages, tools=TOOLS)
        messages.append(assistant_message(result))  # the loop goes on at once
        for tc in result.tool_calls:
            output = run_tool(tc.name, json.loads(tc.arguments))
            messages.append({"role": "tool", "tool_call_id": tc.id, "content": output})
        await router.drain_shadow()
        stats = router.shadow_stats()
    assert [tc.name for tc in result.tool_calls] == ["get_reservation"]
    assert stats is not None and stats.compared == 1
    assert stats.by_tier["simple"].mean == 1.0  # the strong model's first move is the same
