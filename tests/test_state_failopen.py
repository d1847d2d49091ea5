"""A shared store that cannot be reached costs cooldowns and pins, never a call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from agentroute import ConfigurationError, ProviderUnavailable, Router
from agentroute.state.failopen import FailOpenStore
from agentroute.testing import FakeClock, ScriptedProvider, capture_logs
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

PASSWORD = "s3cret-pw"


class DownStore:
    """A store whose server is gone: every operation raises (as redis-py would)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls: list[str] = []

    async def _fail(self, name: str) -> None:
        self.calls.append(name)
        raise self.error

    async def add_failure(self, key: str, window_s: float) -> int:
        await self._fail("add_failure")
        return 0

    async def clear_failures(self, key: str) -> None:
        await self._fail("clear_failures")

    async def set_cooldown(self, key: str, seconds: float) -> None:
        await self._fail("set_cooldown")

    async def cooling(self, keys: Sequence[str]) -> Mapping[str, float]:
        await self._fail("cooling")
        return {}

    async def get_pin(self, session: str, model: str) -> str | None:
        await self._fail("get_pin")
        return None

    async def set_pin(self, session: str, model: str, deployment: str, ttl_s: float) -> None:
        await self._fail("set_pin")

    async def drop_pin(self, session: str, model: str) -> None:
        await self._fail("drop_pin")

    async def aclose(self) -> None:
        await self._fail("aclose")


def router(store: DownStore, alpha: ScriptedProvider) -> Router:
    data = config_dict(resilience={"max_retries": 0, "allowed_fails": 1})
    return Router(data, providers={"alpha": alpha}, state_store=store, clock=FakeClock())


async def test_calls_succeed_and_the_outage_is_logged_once_without_secrets() -> None:
    down = DownStore(ConnectionError(f"redis://:{PASSWORD}@10.0.0.1:6379 refused"))
    alpha = ScriptedProvider(["one", "two", "three"])
    r = router(down, alpha)
    with capture_logs() as events:
        for _ in range(3):
            assert (await r.complete(CONVERSATION)).text in {"one", "two", "three"}
    # every call asked the store (cooldowns and the pin) and went on without it
    assert {"cooling", "get_pin", "set_pin"} <= set(down.calls)
    state_errors = [e for e in events if e["event"] == "route.state_error"]
    assert len(state_errors) == 1  # the first error, then quiet for a minute
    assert state_errors[0]["error_type"] == "ConnectionError"
    assert PASSWORD not in repr(events)
    await r.aclose()  # closing a broken store does not raise either


async def test_a_failed_attempt_still_falls_back_when_the_store_cannot_count_it() -> None:
    down = DownStore(OSError("no route to host"))
    alpha = ScriptedProvider([ProviderUnavailable("busy", status_code=503), "from mid-1"])
    beta = ScriptedProvider(["from mid-b"])
    data = config_dict(resilience={"max_retries": 0})
    r = Router(data, providers={"alpha": alpha, "beta": beta}, state_store=down)
    result = await r.complete(CONVERSATION, hints={"min_tier": "medium"})
    assert result.text == "from mid-b"
    assert "add_failure" in down.calls


async def test_a_configuration_error_from_the_store_is_not_swallowed() -> None:
    down = DownStore(ConfigurationError("the Redis state store needs asyncio"))
    with pytest.raises(ConfigurationError, match="needs asyncio"):
        await router(down, ScriptedProvider(["x"])).complete(CONVERSATION)


async def test_the_wrapper_counts_errors_and_answers_as_an_empty_store() -> None:
    store = FailOpenStore(DownStore(TimeoutError("slow")))
    assert await store.add_failure("p/d", 60) == 0
    assert await store.cooling(["p/d"]) == {}
    assert await store.get_pin("s", "m") is None
    await store.set_pin("s", "m", "p/d", 300)
    assert store.errors == 4
    assert "errors=4" in repr(store)
