"""A call's chain holds only the steps that can act on it: the budget steps when a limit is
set (by the config or the session's metadata), the telemetry steps when telemetry records."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from agentroute import ModelCall, ModelResult, Router, StepLimitExceeded
from agentroute._steps import RouterChains, RouterSteps, kept_steps
from agentroute.middleware.budget import BudgetMiddleware, CostReservation
from agentroute.telemetry.attempt_spans import AttemptTelemetry
from agentroute.telemetry.spans import RouteTelemetry
from agentroute.testing import ScriptedProvider, text_result
from tests.helpers import CONVERSATION, config_dict, make_router

pytestmark = pytest.mark.anyio

OPTIONAL = (BudgetMiddleware, CostReservation, RouteTelemetry, AttemptTelemetry)


def steps_of(router: Router) -> RouterSteps:
    steps = router._steps
    assert isinstance(steps, RouterSteps)
    return steps


def kinds(router: Router, *, limited: bool, observed: bool) -> set[type]:
    kept = kept_steps(router.config, steps_of(router), limited=limited, observed=observed)
    return {type(step) for step in kept if isinstance(step, OPTIONAL)}


def test_each_optional_step_is_kept_only_when_it_can_act() -> None:
    free = Router(config_dict())
    assert kinds(free, limited=False, observed=False) == set()
    assert kinds(free, limited=False, observed=True) == {RouteTelemetry, AttemptTelemetry}
    assert kinds(free, limited=True, observed=False) == {BudgetMiddleware, CostReservation}
    assert kinds(free, limited=True, observed=True) == set(OPTIONAL)
    # a step limit needs the check, not the reservation; a cost limit needs both
    steps_only = Router(config_dict(budget={"max_steps": 3}))
    assert kinds(steps_only, limited=False, observed=False) == {BudgetMiddleware}
    cost = Router(config_dict(budget={"max_cost_usd": 1.0}))
    assert kinds(cost, limited=False, observed=False) == {BudgetMiddleware, CostReservation}
    # every other step is in every chain, in its order
    every = steps_of(free).every
    kept = kept_steps(free.config, steps_of(free), limited=False, observed=False)
    assert kept == tuple(step for step in every if not isinstance(step, OPTIONAL))
    # the attempts' steps stay last in an observed chain
    observed = kept_steps(free.config, steps_of(free), limited=False, observed=True)
    assert observed[-2:] == steps_of(free).attempts


async def test_a_call_takes_the_chain_of_its_session_and_of_telemetry_now() -> None:
    observing = [False]

    async def terminal(call: ModelCall) -> ModelResult:
        return text_result("ok")

    router = Router(config_dict())
    chains = RouterChains(router.config, steps_of(router), terminal, lambda: observing[0])
    plain = chains.pick(None)
    assert chains.pick({}) is plain and chains.pick({"user_tier": "x"}) is plain
    limited = chains.pick({"max_steps": None})
    assert limited is not plain and chains.pick({"max_cost_usd": 2.0}) is limited
    observing[0] = True
    assert chains.pick(None) not in (plain, limited)
    assert chains.pick({"max_steps": 2}) not in (plain, limited)


async def test_a_limit_in_session_metadata_still_refuses_without_a_config_limit() -> None:
    router = make_router(providers={"alpha": ScriptedProvider(default=text_result("ok"))})
    async with router.session(metadata={"max_steps": 1}):
        await router.complete(CONVERSATION)
        with pytest.raises(StepLimitExceeded):
            await router.complete(CONVERSATION)


async def test_a_router_given_a_tracer_provider_records_its_spans() -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    router = make_router(
        providers={"alpha": ScriptedProvider(default=text_result("ok"))},
        tracer_provider=provider,
    )
    await router.complete(CONVERSATION)
    names = [span.name for span in exporter.get_finished_spans()]
    assert names[-1] == "agentroute.route" and names[0].startswith("chat ")
