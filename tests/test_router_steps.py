"""The router's steps in their named groups: once per call, and the attempts' steps."""

from __future__ import annotations

from agentroute import Router
from agentroute._steps import RouterSteps
from agentroute.middleware import FallbackMiddleware, RoutingMiddleware
from agentroute.middleware.affinity import AffinityMiddleware
from agentroute.middleware.budget import CostReservation
from agentroute.middleware.validation import ValidationMiddleware
from agentroute.telemetry.attempt_spans import AttemptTelemetry
from agentroute.testing import CallRecorder, ScriptedProvider
from tests.helpers import config_dict


async def _accept(result: object, call: object) -> bool:
    return True


def steps_of(router: Router) -> RouterSteps:
    steps = router._steps
    assert isinstance(steps, RouterSteps)
    return steps


def test_the_attempts_group_is_the_fallback_step_and_the_attempt_span() -> None:
    recorder = CallRecorder()
    router = Router(
        config_dict(),
        providers={"alpha": ScriptedProvider(), "beta": ScriptedProvider()},
        middleware=[recorder],
        validator=_accept,
    )
    steps = steps_of(router)
    assert [type(s) for s in steps.attempts] == [FallbackMiddleware, AttemptTelemetry]
    kinds = [type(s) for s in steps.call]
    # the user's middleware after routing and the reservation, before validation and affinity
    assert (
        kinds.index(RoutingMiddleware) < kinds.index(CostReservation) < steps.call.index(recorder)
    )
    assert steps.call.index(recorder) < kinds.index(ValidationMiddleware)
    assert kinds[-1] is AffinityMiddleware
    assert steps.every == (*steps.call, *steps.attempts)
