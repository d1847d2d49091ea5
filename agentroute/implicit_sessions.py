"""Implicit sessions: the sessions that calls made outside ``router.session()`` get.

A call made outside any ``async with router.session(...)`` still belongs to a session, so that
``wrap()`` works with no change to the agent loop. Its key comes from the conversation itself —
a hash of its first system and first user message (:func:`~agentroute.session.derive_session_key`)
— and this table keeps the state of those sessions.

**Runs with the same opening are kept apart.** Two runs started with the same system prompt and
the same first user message have the same key, but they are different runs: each needs its own
step counter, tier and cost. So a key may hold several sessions (*forks*), named ``conv-<hash>``,
``conv-<hash>-2``, ``conv-<hash>-3``… (their affinity pins are separate too). A call joins the
session whose last call it *continues*: each session remembers, of the history it was last
called with, only its length and a content mark of its last message
(:func:`~agentroute._history_marks.history_mark`, a hash: an idle session keeps none of the
caller's messages alive), and a call continues it when its own history holds a message with
that mark at that position. Content, not identity: a history rebuilt as new dicts at every step
(as many frameworks do) continues as well as one list grown in place. A call that continues no
session of its key starts a new one. In detail:

* **a new step** (the history grew past the session's last one) continues it;
* **the same history again** continues it when it is a retry — the session's previous call with
  that history failed or was cancelled — or when it is the same list holding the same last
  message (a loop calling again without appending). Sent again while that call is still running,
  or after it was answered with a list rebuilt, it is another run with the same history so far,
  and starts its own session;
* **a session with a call in flight is never continued**: a run makes one call at a time, so a
  call made while another of the same session runs is another run's (two runs started at once
  with the same opening get two sessions at their first step);
* **a trimmed history** (an agent that drops old messages, or summarises them, keeping the first
  user message) continues the session when the session's last message is still in it, at an
  earlier position; one that no longer holds it (the message was dropped or rewritten) starts
  a new session. A history that drops the first user message has another key altogether;
* **a refused call** (one that ends before any attempt: a malformed message, a budget or step
  limit, a configuration error, a cancel while it was routed) is not a step, and leaves its
  session as it found it: the session still expects the history it saw before, so the
  conversation's next step continues it (a refused history — say, with a malformed message
  appended — is not one the conversation goes on from). A new conversation whose first call is
  refused leaves no session;
* when several sessions of the key could be continued (runs whose histories are identical so
  far), the one whose last message is the very same object is preferred, then one whose last
  message is at the same position, then the one continued furthest along. Runs that are
  identical so far cannot be told apart by content: until they differ, either may take the
  other's session (as far as the router can see, they are the same run up to there).

Runs that must never share state — or an agent that edits earlier messages in place of
appending — should open ``router.session()``: an explicit session is never matched by content.
A fork starts with a step counter of its own; its signals (tool errors, repeated calls, context
size) are read from its messages, so they are the run's own from its first call.

**Sessions named by the caller.** A call made inside ``with router.bind_session(id)`` (the
framework integrations bind the framework's own run or thread id) joins the session named
``id`` (:meth:`SessionTable.named`): never matched by content, never forked, but kept in this
table like the others (bounded, idle-expiring), so nothing has to close it.

**Bounded and idle-expiring.** Sessions idle longer than ``sessions.idle_ttl_s`` are dropped
(swept as the table is used, oldest first); when more than ``sessions.max_implicit`` are live,
the least recently used is evicted — losing its step count, tier, cost and history — and counted
in the ``agentroute.sessions.evicted`` metric and a ``route.session_evicted`` warning. Round-robin
use of more live sessions than the bound evicts every session just before its next call, so the
default bound (100,000; what each keeps: ``benchmarks/results/scale.md``) is well above the
concurrent runs a process serves.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

from agentroute._history_marks import EMPTY_MARK, history_mark
from agentroute.clock import SystemClock
from agentroute.session import SessionState

__all__ = ["EndHook", "EvictionHook", "SessionTable"]

_NAMED = "\0named"
"""The ``base`` of a named session's branch (no conversation key looks like it)."""

LOOKBACK = 16
"""Messages a forked conversation's walk looks past its first find for a better one."""

EvictionHook = Callable[[SessionState, float], None]
"""Called with a live session the bound pushed out, and how long it had been idle (seconds)."""
EndHook = Callable[[SessionState, str], None]
"""Called with a session that left the table and why: ``evicted`` or ``expired`` (the routing
log writes its line then)."""


_NO_CALL: tuple[int, int, int, int, bool] = (-1, EMPTY_MARK, 0, 0, False)
"""A branch's ``before`` while no call of it runs (and a new branch's: no history yet)."""


class _Branch:
    """One implicit session and what it remembers of the last history it was called with."""

    __slots__ = (
        "answered",
        "base",
        "before",
        "last_id",
        "length",
        "list_id",
        "mark",
        "running",
        "state",
    )

    def __init__(self, state: SessionState, base: str) -> None:
        self.state = state
        self.base = base
        """The conversation key (the first fork's session key)."""
        self.length = -1
        """Messages in the last history (-1: none yet, not registered by its mark)."""
        self.mark = EMPTY_MARK
        """:func:`history_mark` of the last history's last message."""
        self.last_id = 0
        """``id()`` of that message: a hint only (an id is reused once its object is gone)."""
        self.list_id = 0
        self.running = 0
        self.answered = False
        """The latest call ended with an answer (not an error or a cancellation)."""
        self.before: tuple[int, int, int, int, bool] = _NO_CALL
        """(length, mark, last_id, list_id, answered) before the running call: what the
        session goes back to if that call is refused (:meth:`SessionTable.finished`); the
        shared :data:`_NO_CALL` while none runs (an idle session keeps no copy)."""

    def takes(self, p: int, messages: Sequence[object]) -> bool:
        """Whether a history whose message ``p`` bears this session's mark may continue it."""
        if self.running or self.length <= p:
            return False  # mid-call (another run's), or it saw fewer messages before this one
        if p == len(messages) - 1 and self.answered:  # an answered history sent again: a loop's
            return self.list_id == id(messages) and (p < 0 or self.last_id == id(messages[p]))
        return True


class SessionTable:
    """Implicit sessions by conversation: forked by divergence, bounded, idle-expiring.

    A conversation that never forked is one entry (its session, under the conversation key);
    only forked ones are also filed by the marks of their sessions' last messages, so the
    usual case costs one small object per session.

    Args:
        max_sessions: live sessions kept at most (``sessions.max_implicit``).
        ttl_s: seconds a session may stay idle before it is dropped (``sessions.idle_ttl_s``).
        clock: monotonic seconds: the router's ``Clock.now`` (default: the system clock's).
        on_evict: told of each live session the bound evicts (metric and log event).
        on_end: told of each session that leaves the table, evicted or swept idle (the
            routing log; not for a session only refused calls made, which was never a step).
    """

    def __init__(
        self,
        *,
        max_sessions: int,
        ttl_s: float,
        clock: Callable[[], float] = SystemClock.now,
        on_evict: EvictionHook | None = None,
        on_end: EndHook | None = None,
    ) -> None:
        self._items: OrderedDict[str, _Branch] = OrderedDict()
        """Every live session by its own key, least recently used first."""
        self._named: OrderedDict[str, _Branch] = OrderedDict()
        """The sessions named by the caller (:meth:`named`), least recently used first."""
        self._forks: dict[str, list[int]] = {}
        """Forked conversation's key → [live sessions, sessions ever made] (names stay unique)."""
        self._tips: dict[tuple[str, int], list[_Branch]] = {}
        """(forked conversation's key, mark of a last message) → the sessions that saw it last."""
        self._max = max_sessions
        self._ttl = ttl_s
        self._swept_to = -math.inf
        """A lower bound of every live session's ``last_used`` (the oldest one's, as of the
        last sweep; sessions only get newer): no sweep is due while it is within the TTL."""
        self._clock = clock
        self._on_evict = on_evict
        self._on_end = on_end

    def __len__(self) -> int:
        return len(self._items) + len(self._named)

    def get(self, key: str, messages: Sequence[object]) -> SessionState:
        """The session this call of conversation ``key`` continues (see the module docstring),
        or a new one; the call counts as running in it until :meth:`finished`."""
        now = self._clock()
        items = self._items
        if self._swept_to < now - self._ttl:
            self._sweep(now)
        n = len(messages)
        tip = history_mark(messages[n - 1]) if n else EMPTY_MARK
        forks = self._forks.get(key)
        if forks is None:
            only = items.get(key)
            if only is None:
                branch = None
            elif only.running or not 0 < (seen := only.length) <= n:
                branch = _continues(only, messages, tip)
            # the two usual steps, as _continues decides them (inlined: one call less)
            elif seen < n:  # a new step: the session's last message where it was
                if history_mark(messages[seen - 1]) == only.mark:
                    branch = only
                else:
                    branch = _continues(only, messages, tip)
            elif tip == only.mark:  # the same history again: a retry, or the same list
                branch = (
                    only
                    if not only.answered
                    or (only.list_id == id(messages) and only.last_id == id(messages[n - 1]))
                    else None
                )
            else:
                branch = _continues(only, messages, tip)
        else:
            branch = self._walk(key, messages, tip, forks[0] == 1)
        if branch is None:
            branch = self._new(key, forks, now)
        else:
            items.move_to_end(branch.state.key)
        branch.before = (
            branch.length,
            branch.mark,
            branch.last_id,
            branch.list_id,
            branch.answered,
        )
        if branch.mark != tip or branch.length < 0:
            if branch.base in self._forks:
                self._retip(branch, tip, n)
            else:  # _retip's unforked case, inlined (a new step of most conversations)
                branch.mark = tip
        branch.length = n
        branch.last_id = id(messages[n - 1]) if n else 0
        branch.list_id = id(messages)
        branch.running += 1
        branch.state.touch(now)
        return branch.state

    def find(self, key: str) -> SessionState | None:
        """The live session whose key is ``key`` (an implicit or a bound one), if any; the
        table is not changed (no use noted, no sweep)."""
        branch = self._named.get(key) or self._items.get(key)
        return None if branch is None else branch.state

    def named(self, name: str) -> SessionState:
        """The session named ``name`` (a new one the first time); the call counts as running
        in it until :meth:`finished`. Its key is ``name`` itself, filed apart from the
        conversation keys (a name that looks like one never joins a derived session)."""
        now = self._clock()
        if self._swept_to < now - self._ttl:
            self._sweep(now)
        items = self._named
        branch = items.get(name)
        if branch is None:
            branch = _Branch(SessionState(name, now=now), _NAMED)
            items[name] = branch
            while len(items) + len(self._items) > self._max:
                self._evict_oldest(now)
        else:
            items.move_to_end(name)
        branch.running += 1
        branch.state.touch(now)
        return branch.state

    def finished(
        self, state: SessionState | None, *, answered: bool, refused: bool = False
    ) -> None:
        """A call of ``state`` ended (``answered``: with a result, not an error).

        ``refused``: it ended before any attempt (not a step: see ``Router._step``). The session
        then goes back to the history it saw before that call, so the conversation's next step
        continues it (a refused call's history — say, with a malformed message appended — is
        not one the conversation goes on from); a session that only that call had made is
        dropped, as if the call had never come."""
        if state is None or state.explicit:
            return
        branch = self._items.get(state.key)
        if branch is None or branch.state is not state:
            named = self._named.get(state.key)
            if named is not None and named.state is state and named.running:
                named.running -= 1
                if not named.running:
                    state.idle()
                if not refused:
                    named.length = 0  # (-1 until a call of it was not refused)
                elif named.length < 0 and not named.running and state.step == 0:
                    del self._named[state.key]  # only refused calls made it: as if never
                return
        if branch is None or branch.state is not state or not branch.running:
            return
        branch.running -= 1
        state.idle()
        if not refused:
            branch.answered = answered
            branch.before = _NO_CALL  # (one call at a time: a running one is never continued)
            return
        length, mark, last_id, list_id, was_answered = branch.before
        branch.before = _NO_CALL
        if length < 0 and not branch.running and state.step == 0:
            del self._items[state.key]
            self._drop(branch)
            return
        self._retip(branch, mark, length)
        branch.length = length
        branch.last_id = last_id
        branch.list_id = list_id
        branch.answered = was_answered

    def _retip(self, branch: _Branch, mark: int, length: int) -> None:
        """Give ``branch`` the last-message ``mark`` of a history of ``length`` messages, filed
        under it when its conversation has forked (its length is set by the caller)."""
        if branch.mark == mark and (branch.length >= 0) == (length >= 0):
            return
        key = branch.base
        if key in self._forks:  # a forked conversation's sessions are filed by their mark
            if branch.length >= 0:
                self._untip(branch)
            if length >= 0:
                self._tips.setdefault((key, mark), []).append(branch)
        branch.mark = mark

    # Matching --------------------------------------------------------------------------------

    def _walk(self, key: str, messages: Sequence[object], tip: int, alone: bool) -> _Branch | None:
        """The session of forked conversation ``key`` that this history continues, if any.

        Looks each message's mark up among the sessions' last marks, from the history's end,
        and ranks what it finds: its last message the very same object, at the same position,
        furthest along. The first find ends the walk when the conversation has one session
        left, or when it holds the very object at its position; otherwise the walk looks
        :data:`LOOKBACK` messages further for a session holding the very object (a run a few
        steps behind an identical one), so a step costs O(new messages), never O(history)."""
        n = len(messages)
        if n == 0:
            empty = self._tips.get((key, EMPTY_MARK)) or ()
            return next((b for b in empty if b.takes(-1, messages)), None)
        best: _Branch | None = None
        best_rank = (False, False, -1)
        stop: int | None = None
        for p in range(n - 1, -1, -1):
            if stop is not None and p < stop:
                break
            message = messages[p]
            found = self._tips.get((key, tip if p == n - 1 else history_mark(message)))
            if not found:
                continue
            for b in found:
                if b.takes(p, messages):
                    rank = (b.last_id == id(message), b.length == p + 1, p)
                    if rank > best_rank:
                        best, best_rank = b, rank
                        if rank[0] and rank[1]:
                            break  # the very object, where it was: nothing ranks higher
            if best is not None:
                if alone or (best_rank[0] and best_rank[1]):
                    break
                if stop is None:
                    stop = p - LOOKBACK
        return best

    def _new(self, key: str, forks: list[int] | None, now: float) -> _Branch:
        """A new session of conversation ``key``: its first, or a fork."""
        items = self._items
        if forks is None and key not in items:
            name = key
        else:
            if forks is None:  # the first fork: the conversation's sessions get filed by mark
                forks = self._forks[key] = [1, 1]
                first = items[key]
                if first.length >= 0:
                    self._tips.setdefault((key, first.mark), []).append(first)
            forks[0] += 1
            forks[1] += 1
            name = f"{key}-{forks[1]}"
        branch = _Branch(SessionState(name, now=now), key)
        items[name] = branch
        while len(items) + len(self._named) > self._max:
            self._evict_oldest(now)
        return branch

    def _evict_oldest(self, now: float) -> None:
        """Evict the least recently used live session, of either kind."""
        items, named = self._items, self._named
        if not named or (
            items
            and items[next(iter(items))].state.last_used <= named[next(iter(named))].state.last_used
        ):
            _, oldest = items.popitem(last=False)
            self._drop(oldest)
        else:
            _, oldest = named.popitem(last=False)
        if self._on_evict is not None:
            self._on_evict(oldest.state, now - oldest.state.last_used)
        if self._on_end is not None:
            self._on_end(oldest.state, "evicted")

    # Expiry ----------------------------------------------------------------------------------

    def _sweep(self, now: float) -> None:
        """Drop the sessions idle longer than the TTL (the least recently used come first)."""
        limit = now - self._ttl
        swept_to = now  # empty: every session made from now on is used at now or later
        for items in (self._items, self._named):
            while items:
                oldest = items[next(iter(items))]
                if oldest.state.last_used >= limit:
                    swept_to = min(swept_to, oldest.state.last_used)
                    break
                items.popitem(last=False)
                self._drop(oldest)
                if self._on_end is not None:
                    self._on_end(oldest.state, "expired")
        self._swept_to = swept_to

    def _drop(self, branch: _Branch) -> None:
        forks = self._forks.get(branch.base)
        if forks is None:
            return
        if branch.length >= 0:
            self._untip(branch)
        forks[0] -= 1
        if not forks[0]:
            del self._forks[branch.base]

    def _untip(self, branch: _Branch) -> None:
        tip = (branch.base, branch.mark)
        found = self._tips[tip]
        if len(found) == 1:
            del self._tips[tip]
        else:
            found.remove(branch)


def _continues(only: _Branch, messages: Sequence[object], tip: int) -> _Branch | None:
    """``only`` (a conversation's one session) if this history continues it: its last message
    at its position (the usual step, checked first), or at an earlier one (a trimmed history,
    where dropped messages moved it towards the start)."""
    n = len(messages)
    at = only.length - 1
    if only.running or at < 0:  # mid-call; or it saw an empty history, which only one continues
        return only if n == 0 and only.takes(-1, messages) else None
    if at == n - 1:  # as long as the last: the same history again, or a sliding window
        if tip == only.mark:  # only.takes(at, messages), inlined: the same history again
            if not only.answered or (
                only.list_id == id(messages) and only.last_id == id(messages[at])
            ):
                return only
            return None
        start = n - 2
    elif at < n - 1:  # longer: the usual step
        if history_mark(messages[at]) == only.mark:
            return only
        start = at - 1
    else:  # shorter: trimmed, or not this run's
        start = n - 1
    for p in range(start, -1, -1):
        if (tip if p == n - 1 else history_mark(messages[p])) == only.mark:
            return only if only.takes(p, messages) else None
    return None
