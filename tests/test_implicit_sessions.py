"""The implicit-session table: which session a call continues (by content, not identity), forks,
retries, trimmed histories, the idle TTL and the bound; and the content marks it matches by."""

from __future__ import annotations

import enum
import gc
import math
import random
import weakref
from collections.abc import Sequence
from typing import Any

import pytest
from openai.types.chat import ChatCompletionMessage

from agentroute import Attempt, ConfigurationError, Router, Target, Usage
from agentroute._history_marks import history_mark
from agentroute.config import RouterConfig
from agentroute.implicit_sessions import LOOKBACK, SessionTable
from agentroute.session import SessionState
from agentroute.testing import ScriptedProvider
from tests.helpers import config_dict

KEY = "conv-test"
SYSTEM = {"role": "system", "content": "You are a travel agent."}
USER = {"role": "user", "content": "Book me a flight."}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


TARGET = Target("small", "simple", "alpha", "openai", "small-1", 16000)


def table(max_sessions: int = 100, ttl_s: float = 60.0) -> tuple[SessionTable, Clock]:
    clock = Clock()
    return SessionTable(max_sessions=max_sessions, ttl_s=ttl_s, clock=clock), clock


def call(t: SessionTable, messages: Sequence[Any], *, answered: bool = True) -> SessionState:
    """One call of conversation KEY that ends (answered or failed) before the next starts."""
    state = t.get(KEY, messages)
    state.begin_step()
    t.finished(state, answered=answered)
    return state


def turn(n: int, text: str = "") -> list[dict[str, Any]]:
    return [
        {"role": "assistant", "content": f"reply {n}{text}"},
        {"role": "user", "content": f"more {n}{text}"},
    ]


def rebuilt(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same history as new dicts, keys in another order (as a framework rebuilds it)."""
    return [dict(reversed(list(m.items()))) for m in messages]


# Continuing -----------------------------------------------------------------------------------


def test_a_history_grown_in_place_or_rebuilt_each_step_continues_its_session() -> None:
    t, _ = table()
    history = [SYSTEM, USER]
    first = call(t, history)
    for n in range(1, 5):
        history += turn(n)
        assert call(t, history if n % 2 else rebuilt(history)) is first
    assert (first.key, first.step, len(t)) == (KEY, 5, 1)


def test_the_same_history_again_after_a_failure_is_a_retry_of_the_same_session() -> None:
    t, _ = table()
    history = [SYSTEM, USER, *turn(1)]
    first = call(t, history, answered=False)
    assert call(t, rebuilt(history), answered=False) is first  # a framework's retry, rebuilt
    assert call(t, history) is first  # the loop's own retry, answered at last
    assert call(t, history) is first  # the same list again: the loop asked again
    assert first.step == 4 and len(t) == 1


def test_an_answered_history_sent_again_rebuilt_is_another_run() -> None:
    t, _ = table()
    first = call(t, [SYSTEM, USER])
    second = call(t, [dict(SYSTEM), dict(USER)])  # another run, one step behind the first
    assert second is not first and second.key == f"{KEY}-2"
    assert (first.step, second.step) == (1, 1)


def test_a_call_while_the_session_has_one_in_flight_is_another_run() -> None:
    t, _ = table()
    history = [SYSTEM, USER]
    a = t.get(KEY, history)  # in flight
    b = t.get(KEY, history)  # the same list even: a run makes one call at a time
    c = t.get(KEY, [SYSTEM, USER, *turn(1)])  # continues neither: both are mid-call
    assert len({a.key, b.key, c.key}) == 3
    assert [a.key, b.key, c.key] == [KEY, f"{KEY}-2", f"{KEY}-3"]
    for s in (a, b, c):
        t.finished(s, answered=True)
    assert t.get(KEY, [SYSTEM, USER, *turn(1), *turn(2)]) is c  # furthest along wins


def test_interleaved_runs_that_diverge_each_keep_their_session() -> None:
    t, _ = table()
    a_history, b_history = [dict(SYSTEM), dict(USER)], [dict(SYSTEM), dict(USER)]
    call(t, a_history)
    call(t, b_history)
    sessions: dict[str, set[str]] = {"a": set(), "b": set()}
    for n in range(1, 5):
        a_history += turn(n, " for a")
        b_history += turn(n, " for b")
        # rebuilt, so no identity to go by: content alone
        b, a = call(t, rebuilt(b_history)), call(t, rebuilt(a_history))
        assert (a.step, b.step) == (n + 1, n + 1)
        if n > 1:  # identical until their first turns: until then either could be either
            sessions["a"].add(a.key)
            sessions["b"].add(b.key)
    assert len(sessions["a"]) == len(sessions["b"]) == 1
    assert sessions["a"] != sessions["b"]


def test_identical_runs_prefer_the_session_whose_message_is_the_same_object() -> None:
    # Two runs whose histories are identical so far; the one behind calls next. By content
    # either session would do; the one holding its very own last message is the one it had.
    t, _ = table()
    ahead, behind = [dict(SYSTEM), dict(USER)], [dict(SYSTEM), dict(USER)]
    s_ahead, s_behind = call(t, ahead), call(t, behind)
    ahead += turn(1)
    assert call(t, ahead) is s_ahead
    behind += turn(1)
    behind += turn(2)
    assert call(t, behind) is s_behind  # not s_ahead, whose last message it also holds
    assert (s_ahead.step, s_behind.step) == (2, 2)


def test_a_trimmed_history_continues_while_it_holds_the_last_message() -> None:
    t, _ = table()
    history = [SYSTEM, USER, *turn(1), *turn(2), *turn(3)]
    first = call(t, history)
    window = [SYSTEM, USER, *history[-4:], *turn(4)]  # older turns dropped, two added
    assert call(t, window) is first
    summary = {"role": "assistant", "content": "Summary of the search so far."}
    assert call(t, [SYSTEM, USER, summary, *window[-2:], *turn(5)]) is first
    rewritten = [SYSTEM, USER, summary, {"role": "user", "content": "changed my mind"}]
    fork = call(t, rewritten)  # its last message is gone: a new run as far as content tells
    assert fork is not first and fork.step == 1 and first.step == 3


def refused(t: SessionTable, messages: Sequence[Any]) -> SessionState:
    """A call of conversation KEY refused before any attempt: its step given back."""
    state = t.get(KEY, messages)
    t.finished(state, answered=False, refused=True)
    return state


BAD = {"role": ["user"], "content": "a malformed message"}


def test_a_refused_call_leaves_its_session_as_it_found_it() -> None:
    """Before: a refused call's history (here with a malformed message appended) became the
    one the session expected next, so the conversation's next step — the history without
    it — started a new session, losing step count, tier and cost."""
    t, _ = table()
    history = [SYSTEM, USER]
    first = call(t, history)
    history += turn(1)
    assert refused(t, [*history, BAD]) is first
    assert refused(t, rebuilt([*history, BAD, *turn(9)])) is first
    assert call(t, history) is first
    assert (first.step, len(t)) == (2, 1)
    assert refused(t, history) is first  # the same list again, refused: still answered last
    assert call(t, history) is first  # ... so the loop asking again continues it


def test_a_refused_call_in_a_forked_conversation_leaves_its_session_where_it_was() -> None:
    t, _ = table()
    a_history, b_history = [dict(SYSTEM), dict(USER)], [dict(SYSTEM), dict(USER)]
    a, b = call(t, a_history), call(t, b_history)
    a_history += turn(1, " for a")
    b_history += turn(1, " for b")
    assert call(t, a_history) is a and call(t, b_history) is b
    assert refused(t, rebuilt([*a_history, BAD])) is a
    a_history += turn(2, " for a")
    b_history += turn(2, " for b")
    assert call(t, rebuilt(b_history)) is b
    assert call(t, rebuilt(a_history)) is a
    assert (a.step, b.step, len(t)) == (3, 3, 2)
    check_bookkeeping(t)


def test_a_new_conversation_whose_first_call_is_refused_leaves_no_session() -> None:
    t, _ = table()
    assert refused(t, [SYSTEM, USER, BAD]).step == 0
    assert len(t) == 0
    first = call(t, [SYSTEM, USER])
    assert (first.key, first.step) == (KEY, 1)  # not KEY-2: the refused call made nothing


@pytest.mark.anyio
async def test_an_implicit_conversation_goes_on_in_its_session_after_a_refused_call() -> None:
    provider = ScriptedProvider(default="ok")
    data = config_dict(telemetry={"log_events": False})
    router = Router(data, providers={"alpha": provider, "beta": provider})
    history: list[Any] = [SYSTEM, USER]
    await router.complete(history)
    history += turn(1)
    for bad in ([*history, BAD], history):
        hints = None if bad is not history else {"min_tier": "no-such-tier"}
        with pytest.raises(ConfigurationError):
            await router.complete(bad, hints=hints)
    await router.complete(history)
    sessions = [(c.session.key, c.session.step) for c in provider.calls if c.session]
    assert sessions == [(sessions[0][0], 2)] * 2  # one session, now at its second step


def test_an_empty_history_follows_the_same_rules() -> None:
    t, _ = table()
    empty: list[dict[str, Any]] = []
    first = call(t, empty)
    assert call(t, empty) is first  # the same list asked again
    assert call(t, []) is not first  # an answered history, another list: another run
    assert call(t, [], answered=False) is not first


def test_the_table_keeps_no_message_alive() -> None:
    class Message(dict[str, Any]):  # a dict that can be weakly referenced
        pass

    t, _ = table()
    history = [Message(role="user", content="hello"), Message(role="assistant", content="hi")]
    refs = [weakref.ref(m) for m in history]
    call(t, history)
    del history
    gc.collect()
    assert all(r() is None for r in refs)


# Bound and TTL -------------------------------------------------------------------------------


def test_a_session_whose_calls_ended_keeps_no_attempt_records() -> None:
    t, _ = table()
    state = t.get(KEY, turn(1))
    state.begin_step()
    attempt = Attempt(1, TARGET, "ok", 0.1, usage=Usage(3, 1), cost_usd=0.5)
    state.charge((attempt,))
    assert state.last_attempts == (attempt,)  # while the call runs
    t.finished(state, answered=True)
    assert state.last_attempts == () and (state.cost_usd, state.usage) == (0.5, Usage(3, 1))
    named = t.named("run-1")
    again = t.named("run-1")  # two calls of a named session at once
    named.begin_step()
    named.charge((attempt,))
    t.finished(named, answered=True)
    assert named.last_attempts == (attempt,)  # the other call still runs
    t.finished(again, answered=True)
    assert named.last_attempts == ()


def test_idle_sessions_expire_and_are_swept() -> None:
    t, clock = table(ttl_s=60)
    history = [SYSTEM, USER]
    first = call(t, history)
    clock.now = 30
    other = t.get("conv-other", [USER])
    t.finished(other, answered=True)
    clock.now = 61  # the first idle 61 s: past the TTL; the other only 31 s
    assert t.get("conv-third", [SYSTEM]) is not None
    assert len(t) == 2  # the first swept as the table was used
    again = call(t, [*history, *turn(1)])
    assert again is not first and again.step == 1 and again.key == KEY


def test_the_bound_evicts_the_least_recently_used_and_reports_it() -> None:
    evicted: list[tuple[str, int, float]] = []
    clock = Clock()
    t = SessionTable(
        max_sessions=2,
        ttl_s=60,
        clock=clock,
        on_evict=lambda s, idle: evicted.append((s.key, s.step, idle)),
    )
    for key in ("a", "b"):
        t.finished(t.get(key, [USER]), answered=True)
        clock.now += 1
    t.finished(t.get("a", [USER, *turn(1)]), answered=True)  # "b" is now the oldest
    clock.now += 1
    t.finished(t.get("c", [USER]), answered=True)
    assert evicted == [("b", 0, 2.0)] and len(t) == 2
    clock.now += 100  # everything idle past the TTL: dropped, and not reported
    t.finished(t.get("d", [USER]), answered=True)
    assert len(evicted) == 1 and len(t) == 1


def test_twenty_thousand_round_robin_sessions_keep_their_state_by_default() -> None:
    # The scale goal: 20,000 concurrent implicit sessions, no live session evicted. (The old
    # bound of 10,000 evicted, under round-robin, each session just before its next step.)
    limits = RouterConfig.from_mapping(config_dict()).sessions
    evicted: list[str] = []
    clock = Clock()
    t = SessionTable(
        max_sessions=limits.max_implicit,
        ttl_s=limits.idle_ttl_s,
        clock=clock,
        on_evict=lambda s, _: evicted.append(s.key),
    )
    histories = [[{"role": "user", "content": f"task {i}"}] for i in range(20_000)]
    for step in (1, 2, 3):
        for i, history in enumerate(histories):
            state = t.get(f"conv-{i}", history)
            state.begin_step()
            assert state.step == step
            t.finished(state, answered=True)
            history.append({"role": "assistant", "content": "ok"})
            clock.now += 0.01  # 600 s per round, well inside the idle TTL
    assert not evicted and len(t) == 20_000


# Content marks -------------------------------------------------------------------------------


def test_marks_are_of_content_not_of_objects() -> None:
    message = {"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "u"}
    assert history_mark(message) == history_mark(rebuilt([message])[0])
    noisy = {**message, "refusal": None, "annotations": [], "cache_control": {"x": 1}}
    assert history_mark(noisy) == history_mark(message)
    assert history_mark(message) != history_mark({**message, "name": "v"})
    assert history_mark({"role": "user", "content": "a"}) != history_mark(
        {"role": "assistant", "content": "a"}
    )


def test_an_sdk_message_marks_as_its_dump() -> None:
    sdk = ChatCompletionMessage.model_validate(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        }
    )
    assert history_mark(sdk) == history_mark(sdk.model_dump())
    assert history_mark(sdk) == history_mark(sdk.model_dump(exclude_none=True))


@pytest.mark.parametrize(
    "odd",
    [
        {"role": ["user"], "content": {"nested": {"set": {1, 2}}}},
        {"role": "tool", "content": math.nan},
        {"role": "user", "content": "\ud800 lone surrogate"},
        {"role": "user", "content": b"bytes"},
        42,
        None,
        object(),
    ],
)
def test_marks_of_odd_messages_are_stable(odd: object) -> None:
    assert history_mark(odd) == history_mark(odd)


def test_a_deeply_nested_message_is_marked_without_recursing_through_it() -> None:
    deep: Any = "leaf"
    for _ in range(5_000):
        deep = {"a": [deep]}
    assert history_mark({"role": "tool", "content": deep}) == history_mark(
        {"role": "tool", "content": deep}
    )


def test_an_object_whose_attributes_raise_is_still_marked() -> None:
    class Hostile:
        __slots__ = ()

        @property
        def role(self) -> str:
            raise RuntimeError("no")

    assert history_mark(Hostile()) == history_mark(Hostile())


# Bookkeeping -----------------------------------------------------------------------------------


def check_bookkeeping(t: SessionTable) -> None:
    """The table's indexes agree with its sessions (private state, checked on purpose)."""
    items, forks, tips = t._items, t._forks, t._tips
    for base, (live, made) in forks.items():
        mine = [b for b in items.values() if b.base == base]
        assert live == len(mine) and made >= live
    filed = [b for found in tips.values() for b in found]
    assert len(filed) == len({id(b) for b in filed})  # each session filed once
    for (base, mark), found in tips.items():
        assert found and base in forks
        for b in found:
            assert items.get(b.state.key) is b and (b.base, b.mark) == (base, mark)
    for b in items.values():
        assert (b in tips.get((b.base, b.mark), ())) == (b.base in forks and b.length >= 0)


def test_forks_evictions_and_expiry_keep_the_indexes_consistent() -> None:
    rng = random.Random(7)
    t, clock = table(max_sessions=12, ttl_s=50)
    runs: list[tuple[str, list[dict[str, Any]]]] = []
    running: list[SessionState] = []
    for i in range(3_000):
        roll = rng.random()
        if roll < 0.15 or not runs:  # a new run, often with an opening another run has
            opening = rng.randrange(3)
            runs.append((f"conv-{opening}", [{"role": "user", "content": f"open {opening}"}]))
        key, history = rng.choice(runs)
        roll = rng.random()
        if roll < 0.5:
            history += turn(i)
        elif roll < 0.6:
            del history[1:3]  # trimmed
        elif roll < 0.65:
            history[-1] = {"role": "user", "content": f"rewritten {i}"}
        sent = rebuilt(history) if rng.random() < 0.5 else history
        running.append(t.get(key, sent))
        while running and (len(running) > 3 or rng.random() < 0.7):
            done = running.pop(rng.randrange(len(running)))
            t.finished(done, answered=rng.random() < 0.8, refused=rng.random() < 0.1)
        clock.now += rng.choice((0.1, 1.0, 30.0))
        check_bookkeeping(t)
        assert len(t) <= 12


def test_a_step_in_a_forked_conversation_reads_only_its_new_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Rebuilt histories give no identity to stop at: the walk still stops a bounded number of
    # messages past its first find, however long the conversation.
    marked: list[object] = []

    def counting(message: object) -> int:
        marked.append(message)
        return history_mark(message)

    monkeypatch.setattr("agentroute.implicit_sessions.history_mark", counting)
    t, _ = table()
    a, b = [SYSTEM, USER], [SYSTEM, USER]
    call(t, a)
    call(t, rebuilt(b))  # answered, rebuilt: another run, so the conversation is forked
    for n in range(100):
        a += turn(n, "a")
        b += turn(n, "b")
        marked.clear()
        state = call(t, rebuilt(a))
        assert len(marked) <= 2 + LOOKBACK + 1, len(marked)  # the new ones, then the lookback
    assert state.step == 101 and len(a) == 202


def test_a_string_enum_value_marks_as_its_string() -> None:
    class Role(enum.StrEnum):
        USER = "user"

    assert history_mark({"role": Role.USER, "content": "hi"}) == history_mark(
        {"role": "user", "content": "hi"}
    )


def test_only_an_empty_history_continues_an_empty_one() -> None:
    t, _ = table()
    empty: list[dict[str, Any]] = []
    first = call(t, empty, answered=False)
    assert call(t, [USER]) is not first
    assert call(t, empty) is first
