"""``router.bind_session(id)`` and ``wrap(deployment_param=...)``: what the framework
integrations are built on (a framework's own run/thread id as the session; one client per
deployment)."""

from __future__ import annotations

import inspect
from typing import Any

import anyio
import pytest

from agentroute import ConfigurationError, Deployment, Router
from tests.helpers import CONVERSATION, config_dict, make_router

pytestmark = pytest.mark.anyio


def _answer(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "choices": [{"message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2},
    }


async def test_calls_bound_to_an_id_share_one_session_named_by_it() -> None:
    router = make_router()
    seen: list[tuple[str, int]] = []

    async def call(messages: Any, *, model: str) -> Any:
        return _answer(model)

    routed = router.wrap(call)
    for history in (CONVERSATION, [{"role": "user", "content": "something else entirely"}]):
        with router.bind_session("thread-42"):
            await routed(history)
        state = router._sessions.named("thread-42")
        router._sessions.finished(state, answered=True)
        seen.append((state.key, state.step))
    # two unrelated histories, one session: the id decides, not the content
    assert seen == [("thread-42", 1), ("thread-42", 2)]


async def test_other_ids_and_unbound_calls_get_their_own_sessions() -> None:
    router = make_router()

    async def call(messages: Any, *, model: str) -> Any:
        return _answer(model)

    routed = router.wrap(call)
    with router.bind_session("a"):
        await routed(CONVERSATION)
    with router.bind_session("b"):
        await routed(CONVERSATION)
    await routed(CONVERSATION)  # unbound: the content-derived session
    assert len(router._sessions) == 3


async def test_an_explicit_session_wins_over_a_bound_id() -> None:
    router = make_router()

    async def call(messages: Any, *, model: str) -> Any:
        return _answer(model)

    routed = router.wrap(call)
    async with router.session("explicit") as session:
        with router.bind_session("bound"):
            await routed(CONVERSATION)
    assert session.step == 1
    assert len(router._sessions) == 0


async def test_a_bound_session_only_refused_calls_made_is_dropped() -> None:
    router = make_router()

    async def call(messages: Any, *, model: str) -> Any:
        return _answer(model)

    routed = router.wrap(call)
    with router.bind_session("t"), pytest.raises(ConfigurationError):
        await routed([{"role": 7}])  # refused for its shape: not a step
    assert len(router._sessions) == 0


async def test_the_binding_reaches_tasks_started_inside_it() -> None:
    router = make_router()
    steps: list[int] = []

    async def call(messages: Any, *, model: str) -> Any:
        return _answer(model)

    routed = router.wrap(call)
    with router.bind_session("fan-out"):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(routed, CONVERSATION)
    state = router._sessions.named("fan-out")
    steps.append(state.step)
    assert steps == [5]


@pytest.mark.parametrize("bad", ["", None, 3])
def test_a_bad_session_id_is_a_configuration_error(bad: Any) -> None:
    router = make_router()
    with pytest.raises(ConfigurationError, match="session id"), router.bind_session(bad):
        pass


def test_named_sessions_are_bounded_with_the_implicit_ones() -> None:
    router = Router(config_dict(sessions={"max_implicit": 3}))
    table = router._sessions
    for i in range(5):
        table.finished(table.named(f"s{i}"), answered=True)
    assert len(table) == 3


async def test_the_function_gets_the_chosen_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETA_KEY", "sk-beta-secret-123")
    data = config_dict()
    data["providers"]["beta"]["api_key"] = "env:BETA_KEY"
    data["providers"]["beta"]["headers"] = {"x-team": "routing"}
    router = Router(data)
    got: list[Deployment] = []

    async def call(messages: Any, *, model: str, deployment: Deployment) -> Any:
        got.append(deployment)
        return _answer(model)

    routed = router.wrap(call, deployment_param="deployment")
    async with router.session(metadata={"min_tier": "complex"}):
        await routed(CONVERSATION)
    (dep,) = got
    assert (dep.provider, dep.kind, dep.model, dep.name, dep.tier) == (
        "beta",
        "anthropic",
        "big",
        "big-b",
        "complex",
    )
    assert dep.api_key == "sk-beta-secret-123"
    assert dep.headers == {"x-team": "routing"}
    assert "sk-beta" not in repr(dep)
    assert dep.key == "beta/big-b"


async def test_the_deployment_parameter_is_not_in_the_routed_signature() -> None:
    router = make_router()

    async def call(messages: Any, *, model: str, deployment: Deployment) -> Any:
        return _answer(model)

    routed = router.wrap(call, deployment_param="deployment")
    assert list(inspect.signature(routed).parameters) == ["messages"]


def test_a_function_without_the_deployment_parameter_is_refused() -> None:
    router = make_router()

    async def call(messages: Any, *, model: str) -> Any:
        return _answer(model)

    with pytest.raises(ConfigurationError, match="deployment"):
        router.wrap(call, deployment_param="deployment")
