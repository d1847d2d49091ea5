"""Sessions: what the calls of one agent run share (step counter, tier history, totals).

``async with router.session(id=...) as s`` binds a context variable, so every routed call made
inside the block (in this task and the tasks it starts) joins that session. Calls made outside
any session still get one: its key is derived from the conversation itself — a hash of the
first system message and the first user message, as OpenRouter does for sticky routing — so
``wrap()`` works with no change to the agent loop. Those implicit sessions live in a bounded,
idle-expiring table that keeps runs with the same opening apart
(:mod:`agentroute.implicit_sessions`).
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

from agentroute._json_text import text_of
from agentroute._types import Decision, SessionState, Usage
from agentroute.errors import ConfigurationError
from agentroute.messages import role_and_content, text_of_content

__all__ = ["Session", "SessionHooks", "SessionState", "current_session", "derive_session_key"]


_current: ContextVar[Session | None] = ContextVar("agentroute_session", default=None)


def current_session() -> Session | None:
    """The session bound by the innermost ``async with router.session(...)``, if any."""
    return _current.get()


_bound_id: ContextVar[str | None] = ContextVar("agentroute_session_id", default=None)


def bound_session_id() -> str | None:
    """The session id bound by the innermost ``with router.bind_session(id)``, if any."""
    return _bound_id.get()


@contextlib.contextmanager
def bind_session_id(session_id: str) -> Iterator[None]:
    """Bind ``session_id`` for the calls made inside the block (see ``Router.bind_session``)."""
    if not isinstance(session_id, str) or not session_id:
        raise ConfigurationError(
            f"bind_session(): the session id must be a non-empty string, got {session_id!r:.80}"
        )
    token = _bound_id.set(session_id)
    try:
        yield
    finally:
        _bound_id.reset(token)


class AgentSpans(Protocol):
    """What opens and closes the ``invoke_agent`` span around a session's block (the router's
    telemetry, :class:`agentroute.telemetry.spans.Telemetry`)."""

    def enter_agent(self, state: SessionState, /) -> object | None: ...

    def exit_agent(self, scope: Any, state: SessionState, exc: BaseException | None, /) -> None: ...


class SessionHooks(Protocol):
    """What is told of a session's life and its outcomes (the router's
    :class:`~agentroute.telemetry.outcomes.SessionOutcomes`)."""

    def session_started(self, state: SessionState, /) -> None: ...

    async def session_ended(self, state: SessionState, /) -> None: ...

    def outcome(
        self, state: SessionState, success: object, score: object, label: object, /
    ) -> None: ...


class Session:
    """A handle on one agent run's session; use it as an async context manager.

    ``escalate(reason)`` forces the next routed call one tier up (e.g. from a "this did not
    help" button); ``decisions`` lists every routing decision made so far, in order;
    ``record_outcome(...)`` says how the run went. The session ends when its outermost ``async
    with`` block exits (its routing-log line is written then).
    """

    def __init__(
        self,
        state: SessionState,
        owner: object,
        telemetry: AgentSpans | None = None,
        hooks: SessionHooks | None = None,
    ) -> None:
        self.state = state
        self._owner = owner
        self._tokens: list[Token[Session | None]] = []
        self._telemetry = telemetry
        self._hooks = hooks
        self._scopes: list[object | None] = []

    @property
    def id(self) -> str:
        return self.state.key

    @property
    def owner(self) -> object:
        """The router that opened this session."""
        return self._owner

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self.state.decisions

    @property
    def step(self) -> int:
        return self.state.step

    @property
    def tier(self) -> str | None:
        return self.state.tier

    @property
    def cost_usd(self) -> float:
        return self.state.cost_usd

    @property
    def usage(self) -> Usage:
        return self.state.usage

    def escalate(self, reason: str = "requested by the application") -> None:
        """Make the next routed call of this session go one tier up."""
        self.state.request_escalation(reason)

    def record_outcome(
        self, success: bool | None = None, score: float | None = None, label: str | None = None
    ) -> None:
        """Say how this run went: ``success``, a ``score`` in [0, 1], a short ``label`` (a
        category, never user content; at most 200 characters). A plain method that never
        blocks (no I/O): inside the block, the session's routing-log line carries it (the
        latest wins); after it, an outcome line referencing that line is written. Each call
        also emits the ``agentroute.outcome`` span, the ``agentroute.session.outcomes``
        metric and the ``route.outcome`` event (:mod:`agentroute.telemetry.outcomes`).

        Raises:
            ConfigurationError: an argument of the wrong type or out of range (named).
        """
        if self._hooks is None:
            raise ConfigurationError("record_outcome(): this session was not made by a Router")
        self._hooks.outcome(self.state, success, score, label)

    async def __aenter__(self) -> Session:
        if self._telemetry is not None:  # the ``invoke_agent`` span, current inside the block
            self._scopes.append(self._telemetry.enter_agent(self.state))
        if not self._tokens and self._hooks is not None:
            self._hooks.session_started(self.state)
        self._tokens.append(_current.set(self))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _current.reset(self._tokens.pop())
        if self._telemetry is not None:
            scope = self._scopes.pop()
            if scope is not None:
                self._telemetry.exit_agent(scope, self.state, exc)
        if not self._tokens and self._hooks is not None:  # the outermost block: it ends
            await self._hooks.session_ended(self.state)

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, step={self.step}, tier={self.tier!r})"


def _as_text(content: Any) -> str:
    """Text contents (a string, or text parts in any shape) key by their text, so ``"hi"`` and
    ``[{"type": "input_text", "text": "hi"}]`` are one conversation; others by their JSON."""
    text = text_of_content(content)
    if text is not None:
        return text
    return text_of(content, sort_keys=True)  # any value, any depth: never fails


_KEY_CACHE_SIZE = 4096
_key_cache: dict[tuple[int, int], tuple[int, int, str]] = {}


def derive_session_key(messages: Sequence[object], system: Any = None) -> str:
    """A stable key for a conversation: hash of its first system and first user message.

    ``system`` is the call's top-level system prompt (Anthropic's ``system``, the Responses
    API's ``instructions``), used when given; otherwise the first message with role ``system``
    or ``developer``. Messages may be in any shape the router reads (dicts, SDK objects,
    Responses items; :mod:`agentroute.messages`): roles and contents are read without copying
    them. A content made of text parts keys like the same text as a string. An agent loop
    sends the same two strings on every step, so keys of string contents are cached by object
    identity. The cache keeps the strings' hashes, not the strings (it must not keep
    conversations alive): a string dropped by the caller may leave its address to a new one,
    which then also needs the same hash to be taken for it (Python caches a string's hash, so
    checking costs nothing).
    """
    sys_content: Any = system
    user_content: Any = None
    found_system = system is not None
    found_user = False
    for m in messages:
        if type(m) is dict:
            role, content = m.get("role"), m.get("content")
        else:
            role, content = role_and_content(m)
        if not found_system and role in ("system", "developer"):
            sys_content, found_system = content, True
        elif not found_user and role == "user":
            user_content, found_user = content, True
        if found_user and found_system:
            break
    if sys_content is None:
        sys_content = ""
    if user_content is None:
        user_content = ""
    if type(sys_content) is str and type(user_content) is str:
        ids = (id(sys_content), id(user_content))
        hit = _key_cache.get(ids)
        if hit is not None and hit[0] == hash(sys_content) and hit[1] == hash(user_content):
            return hit[2]
        key = _hash_key(sys_content, user_content)
        if len(_key_cache) >= _KEY_CACHE_SIZE:
            del _key_cache[next(iter(_key_cache))]
        _key_cache[ids] = (hash(sys_content), hash(user_content), key)
        return key
    return _hash_key(_as_text(sys_content), _as_text(user_content))


def _hash_key(system_text: str, user_text: str) -> str:
    digest = hashlib.blake2b(digest_size=8)  # surrogatepass: a lone surrogate keys too
    digest.update(system_text.encode("utf-8", "surrogatepass"))
    digest.update(b"\x00")
    digest.update(user_text.encode("utf-8", "surrogatepass"))
    return "conv-" + digest.hexdigest()


def new_session_state(
    id: str | None,
    *,
    agent: str | None,
    user: str | None,
    metadata: Mapping[str, Any] | None,
    now: float,
) -> SessionState:
    """State for an explicit session (a random id when none is given), made at ``now`` (the
    router's clock)."""
    return SessionState(
        id or f"sess-{uuid.uuid4().hex[:16]}",
        explicit=True,
        agent=agent,
        user=user,
        metadata=MappingProxyType(dict(metadata or {})),
        now=now,
    )
