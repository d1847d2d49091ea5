"""Frozen value objects that travel through the middleware chain, and the chain's types.

Everything here is immutable (:func:`~agentroute._frozen.value_object`: a frozen slots
dataclass that is cheap to build): a middleware that wants to change a call makes a copy with
``dataclasses.replace`` (or the faster ``with_*`` helpers) and passes the copy on. Messages and tool
schemas are the caller's own objects and are *not* deep-copied (that would cost more than the
whole routing decision); the router never mutates them.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import field
from enum import StrEnum
from operator import attrgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from agentroute._frozen import value_object
from agentroute._pin_event import PinEvent

Message: TypeAlias = Mapping[str, Any]
"""One chat message, in OpenAI or Anthropic shape (a dict or any mapping)."""

EMPTY: Mapping[str, Any] = MappingProxyType({})


@value_object
class Usage:
    """Token usage of one model response, normalized across providers.

    ``input_tokens`` counts *all* input tokens, cache reads and cache writes included (OpenAI's
    ``prompt_tokens`` convention; Anthropic's own ``input_tokens`` excludes them and is converted).
    ``output_tokens`` includes reasoning tokens. ``cache_write_1h_tokens`` is the part of
    ``cache_write_tokens`` written with a one-hour TTL (priced higher by Anthropic).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens billed at the full input price (neither read from nor written to cache)."""
        return max(0, self.input_tokens - self.cache_read_tokens - self.cache_write_tokens)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


UsageOf: TypeAlias = Callable[[Any], Usage | None]
"""``Router.wrap(usage_of=...)``: reads the usage of a wrapped function's response (or of one
event of a stream it returned); ``None`` when it carries none."""


class Cause(StrEnum):
    """Why a decision picked its tier. Recorded on every :class:`Decision`.

    ``START``: first call of a session; ``HOLD``: the policy kept the current tier; ``SCORE``:
    the score's thresholds chose it; the others name the rule that overrode the score.
    """

    START = "start"
    HOLD = "hold"
    SCORE = "score"
    HINT = "hint"
    CONTEXT_WINDOW = "context_window"
    ESCALATION_REQUEST = "escalation_request"
    VALIDATION_FAILURE = "validation_failure"
    BUDGET_CAP = "budget_cap"
    HYSTERESIS_HOLD = "hysteresis_hold"
    CUSTOM = "custom"


@value_object
class Signals:
    """What the policy sees about one step of an agent loop (docs/architecture.md, "Routing
    policy")."""

    step: int = 0
    tool_errors_total: int = 0
    tool_errors_recent: int = 0
    repeated_tool_calls: int = 0
    context_tokens: int = 0
    context_fraction: float = 0.0
    validation_failures: int = 0
    escalation_requested: bool = False
    hints: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    content: float = 0.0
    """First-turn content difficulty in [0, 1] (rules or classifier); 0 when not computed."""


@value_object
class SwitchCost:
    """The price of a tier switch (USD): the saving expected over the remaining steps
    (negative for a climb: what the stronger tier costs more) vs. the prompt-cache loss (the
    cached prefix re-read at the new model's full input price, plus its cache-write premium).
    A step-down is made only when the saving exceeds the loss; other switches record it."""

    expected_saving: float
    cache_loss: float


@value_object
class Decision:
    """Which tier serves one model call, and why.

    ``contributions`` lists each signal's weighted share of ``score`` (they sum to it);
    ``candidates`` are the model names of the chosen tier in order of preference.
    """

    tier: str
    previous_tier: str | None
    cause: str
    step: int
    candidates: tuple[str, ...]
    score: float = 0.0
    contributions: tuple[tuple[str, float], ...] = ()
    signals: Signals | None = None
    switch: SwitchCost | None = None
    reason: str = ""


@value_object
class Target:
    """One concrete place a call can be sent to: a model served by one provider deployment."""

    model: str
    tier: str
    provider: str
    provider_kind: str
    deployment: str
    """The provider's own model name (what goes into the request's ``model`` field)."""
    context_window: int
    max_output_tokens: int | None = None
    """The model's configured ``max_output_tokens``: what the built-in Anthropic provider sends
    as ``max_tokens`` when the call sets none (``None``: not configured)."""

    @property
    def key(self) -> str:
        """A stable identifier of the deployment, ``provider/deployment``."""
        return f"{self.provider}/{self.deployment}"


@value_object
class Deployment:
    """Where the router sends one call, as a wrapped function that makes its own client sees it
    (``router.wrap(fn, deployment_param="deployment")``, and the framework integrations of
    :mod:`agentroute.integrations`): one SDK client per deployment can be built from it.

    ``api_key`` and the ``headers`` values are the configured secrets resolved at the call (an
    ``env:NAME`` is read then); they are left out of ``repr``, and every configured secret is
    masked in the router's errors, logs and spans.
    """

    provider: str
    """The provider's name in the config (``providers.<name>``)."""
    kind: str
    """Its wire format: ``openai`` (Chat Completions and compatible) or ``anthropic``."""
    model: str
    """The model's name in the config (what the tiers list)."""
    name: str
    """The provider's own model name (what goes into the request's ``model`` field)."""
    tier: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        """A stable identifier of the deployment, ``provider/name`` (as :attr:`Target.key`)."""
        return f"{self.provider}/{self.name}"


AttemptOutcome: TypeAlias = Literal["ok", "error", "cancelled"]


@value_object
class Attempt:
    """The record of one try of one call at one deployment."""

    number: int
    target: Target
    outcome: AttemptOutcome
    duration_s: float
    error_type: str | None = None
    status_code: int | None = None
    retry_after: float | None = None
    usage: Usage | None = None
    cost_usd: float = 0.0
    lag_s: float = 0.0
    """How much later than planned the attempt started: after the previous attempt ended (and
    its backoff, if any was waited), or, for a call's first attempt, once the fallback step
    began. State-store round trips and an event loop too busy to wake up on time show here."""
    error: BaseException | None = field(default=None, compare=False, repr=False)

    @property
    def cancelled(self) -> bool:
        """Whether the attempt was cut short by the caller's cancellation."""
        return self.outcome == "cancelled"


class CallProgress:
    """One routed call's own mutable record: its attempts so far, and what affinity did for it.

    The router numbers a session's steps as calls come in, but a call that ends before any
    attempt (refused for its message shape or by a budget limit, a configuration error found
    before the model call, a cancel while it was being routed) is not a step: the router gives
    its number back. Whether an attempt was made is known deep in the chain (the fallback step
    records each one), so the router gives each call one small mutable record, carried on the
    ``ModelCall`` (:attr:`ModelCall.progress`): middleware copies the frozen call freely and
    every copy shares the record, while concurrent calls of one session each have their own. A
    field rather than a context variable: no set and reset per call. (A middleware that builds
    a new ``ModelCall`` from scratch rather than copying the one it got drops the record: an
    attempt made with it is not seen, so a failure gives the step number back.)

    ``attempts``: the call's :class:`Attempt` records so far, set by the fallback step as each
    attempt gets an outcome (an answer, an error from the provider, or a cancel while it ran);
    empty until then. The route span of a call that ends in a cancel reads them here: they are
    this call's own, whatever a concurrent call of the session does.

    ``pin``: what affinity did for the call (a new pin, a hit, a break; ``None``: nothing), a
    fact of this call, not of its session, read by the route span that wraps the call. Not a
    field of the call's ``ModelResult``: that would cost a copy of the result on every call of
    a sticky model.

    ``route_span``: the call's recording route span's context (set by the route span step
    while spans record; ``None`` otherwise), which a shadow comparison's span links to.

    No ``__init__`` (the class attributes are the defaults): one is made per routed call, and
    creating it runs no Python code."""

    attempts: tuple[Attempt, ...] = ()
    pin: PinEvent | None = None
    route_span: Any = None


@value_object
class ToolCall:
    """A tool call requested by the model, normalized (arguments as the JSON text sent)."""

    id: str
    name: str
    arguments: str


@value_object
class ToolCallDelta:
    """A piece of a streamed tool call: ``index`` identifies the call within the answer; ``id``
    and ``name`` come with its first piece, ``arguments`` is the next fragment of JSON text."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@value_object
class StreamChunk:
    """One piece of a streamed answer, normalized across providers.

    ``usage`` is set on the chunk that carries the provider's usage report (usually the last);
    ``raw`` is the provider's own event. ``restarted`` marks the first chunk of an answer that
    started over on another deployment after the stream broke (only with
    ``resilience.stream_restarts``): discard what arrived before it.
    """

    text: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    raw: Any = None
    restarted: bool = False


@value_object
class StreamEnd:
    """How one streamed answer ended.

    A wrapped function that streams returns before its answer has arrived, so the attempt
    that made it is settled later: when the caller has read the stream to its end, closed it,
    or let it break. The terminal puts a :class:`StreamWatch` on the call's result; the steps
    that settle an attempt (the fallback step charges the session, the attempt span ends)
    subscribe to it on the way back, and the watched stream reports one ``StreamEnd`` to all
    of them.

    ``outcome`` is ``ok`` (read to its end, or closed after its usage report), ``cancelled``
    (closed early by the caller, or its task cancelled) or ``error`` (it broke: ``error``).
    ``usage`` is what the stream reported; when it reported nothing, it is the router's count of
    the request's input tokens and ``estimated`` is set (never a free call).
    """

    usage: Usage
    cost_usd: float
    estimated: bool
    outcome: AttemptOutcome
    error: BaseException | None = field(default=None, compare=False, repr=False)


StreamListener: TypeAlias = Callable[[StreamEnd], None]


class StreamWatch:
    """Tells each listener, once, how a watched stream ended (at once if it has ended).

    Mutable, among the value types (see :class:`StreamEnd` for its story): it
    lives here because :class:`ModelResult` carries it."""

    __slots__ = ("_end", "_listeners")

    def __init__(self) -> None:
        self._end: StreamEnd | None = None
        self._listeners: list[StreamListener] = []

    @property
    def end(self) -> StreamEnd | None:
        """How the stream ended; ``None`` while it is open."""
        return self._end

    def subscribe(self, listener: StreamListener) -> None:
        """Call ``listener`` with the stream's end (now, if it has ended)."""
        if self._end is not None:
            listener(self._end)
        else:
            self._listeners.append(listener)

    def finish(self, end: StreamEnd) -> None:
        """Report ``end`` to every listener; later reports are ignored."""
        if self._end is not None:
            return
        self._end = end
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener(end)


@value_object
class ModelResult:
    """The outcome of one routed model call.

    ``raw`` is the provider's answer as the terminal got it (an SDK object or a dict for
    ``wrap()``); ``text``, ``tool_calls`` and ``finish_reason`` are filled by built-in and test
    providers. ``attempts`` holds every try, the successful one last.
    """

    raw: Any = None
    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    response_model: str | None = None
    target: Target | None = None
    cost_usd: float = 0.0
    decision: Decision | None = None
    attempts: tuple[Attempt, ...] = ()
    stream: AsyncIterator[StreamChunk] | None = field(default=None, compare=False, repr=False)
    """Set only on the way through the chain of a streamed call (``Router.stream()``): the
    open stream, its first chunk not yet read by the caller."""
    usage_estimated: bool = False
    """The response carried no usage (a ``wrap()``-ed function's): ``usage`` holds the
    router's count of the request's input tokens, and no output tokens."""
    stream_end: StreamWatch | None = field(default=None, compare=False, repr=False)
    """Set when a ``wrap()``-ed function returned a stream (``raw`` is it, watched): its usage
    and cost are known when the caller has read it (``usage`` is zero until then), and the
    steps that settle an attempt subscribe here."""

    def with_cost(self, target: Target, cost_usd: float) -> ModelResult:
        """A copy located at ``target`` with its cost set (a fast, explicit ``replace``)."""
        return ModelResult(
            self.raw,
            self.text,
            self.tool_calls,
            self.finish_reason,
            self.usage,
            self.response_model,
            target,
            cost_usd,
            self.decision,
            self.attempts,
            self.stream,
            self.usage_estimated,
            self.stream_end,
        )

    def with_attempts(
        self, attempts: tuple[Attempt, ...], decision: Decision | None
    ) -> ModelResult:
        """A copy carrying the call's attempt records and decision."""
        return ModelResult(
            self.raw,
            self.text,
            self.tool_calls,
            self.finish_reason,
            self.usage,
            self.response_model,
            self.target,
            self.cost_usd,
            decision,
            attempts,
            self.stream,
            self.usage_estimated,
            self.stream_end,
        )


def _read(field: str, doc: str) -> Any:
    """A read-only property returning the slot ``field``, its getter in C (see below)."""
    return property(attrgetter(field), doc=doc)


class SessionState:
    """The ledger of one session: what its calls share, kept by one owner (this class).

    Fields are private; they are read through properties and changed only through the
    intent-named methods below, each called by the one step of the chain that owns that
    fact: the router numbers steps (:meth:`begin_step`, :meth:`refund_step`), routing and the
    output check record decisions (:meth:`record`) and take escalation requests
    (:meth:`request_escalation`, :meth:`take_escalation`), the attempt steps charge what each
    billed attempt cost (:meth:`charge`, and :meth:`complete_attempt` for a stream's attempt
    that ended after its call returned: the only places a session's cost and usage grow), the
    cost reservation holds expected costs (:meth:`reserve`, :meth:`release`), the output check
    counts rejections (:meth:`count_validation_failure`), the implicit-session table notes use
    (:meth:`touch`) and the end of the session's running calls (:meth:`idle`). Per-call facts
    are not kept here: a call carries its own step number (:attr:`ModelCall.step`), its
    attempts travel back on its :class:`ModelResult` (or
    :class:`~agentroute.errors.AllAttemptsFailed`), and what affinity did for it on its own
    progress record (``call.progress.pin``; also ``AllAttemptsFailed.pin``).
    :attr:`last_attempts` is kept for inspection only (the records of the latest call begun; a
    ``wrap()``-ed stream's record is completed there when the stream ends), by an implicit
    session only until its calls have ended.
    Nor what a component remembers of the session for itself between calls (the signal
    extractor's incremental scan, the scored policy's calm steps): each keeps its own, keyed by
    the session and dropped with it (:mod:`agentroute.policy.session_memory`).

    **Concurrent calls on one session** (tasks of one event loop; the ledger is not meant to
    be shared across threads). No method awaits, so each runs whole, between two awaits of
    the calls around it:

    * *Step numbering*: each call takes the next number when it enters the router, so
      concurrent calls get distinct consecutive numbers in the order they entered, and each
      keeps its own on its :class:`ModelCall`. A call that ends before any attempt gives its
      number back only if no later call has taken one since (:meth:`refund_step`): numbers are
      never handed out twice, so a refusal among concurrent calls can leave a gap, and
      :attr:`step` then counts it.
    * *Charging*: each billed attempt is added to :attr:`cost_usd` and :attr:`usage` once, when
      it ends (a stream's when the stream ends), whatever the order the calls end in: the
      totals are the sums of the attempts' costs and usages, never a lost update.
    * *Decisions*: recorded in the order the routing steps run; :attr:`tier` is the latest
      recorded decision's tier, so a decision's ``previous_tier`` is the tier when it was made,
      and concurrent calls routed before either answered share the same one. An escalation
      request is taken by exactly one call: the next one routed.
    * *Budget checks* (:mod:`agentroute.middleware.budget`) read :attr:`step`,
      :attr:`cost_usd` and :attr:`reserved_usd` when the call is checked: the step limit
      admits exactly ``max_steps`` numbered calls however many run at once (the ones beyond
      are refused and give their numbers back); the cost limit counts the calls in flight by
      their reservations, so only calls already admitted when it is reached overshoot it.

    Explicit sessions keep every :class:`Decision` (``explicit``); implicit ones keep only the
    last, and no attempt records once idle, so an idle implicit session stays small: what it
    keeps shares the config's strings and, until its second billed attempt, the usage and cost
    objects of its first (no totals of its own).
    """

    __slots__ = (
        "__weakref__",
        "_agent",
        "_cost_usd",
        "_decisions",
        "_escalation",
        "_explicit",
        "_key",
        "_last_attempts",
        "_last_decision",
        "_last_used",
        "_metadata",
        "_reservations",
        "_reserved_usd",
        "_route_span",
        "_step",
        "_tier",
        "_tiers_reached",
        "_usage",
        "_user",
        "_validation_failures",
    )

    def __init__(
        self,
        key: str,
        *,
        explicit: bool = False,
        agent: str | None = None,
        user: str | None = None,
        metadata: Mapping[str, Any] = EMPTY,
        now: float = 0.0,
    ) -> None:
        self._key = key
        self._explicit = explicit
        self._agent = agent
        self._user = user
        self._metadata = metadata
        self._step = 0
        self._tier: str | None = None
        self._tiers_reached: tuple[str, ...] = ()
        self._route_span: object | None = None
        self._decisions: list[Decision] | tuple[()] = [] if explicit else ()
        self._last_decision: Decision | None = None
        self._last_attempts: tuple[Attempt, ...] = ()
        self._escalation: str | None = None
        self._cost_usd = 0.0
        self._reserved_usd = 0.0
        self._reservations = 0
        self._usage = _NO_USAGE
        self._last_used = now
        self._validation_failures = 0

    @classmethod
    def restored(
        cls,
        key: str,
        *,
        step: int = 0,
        tier: str | None = None,
        calm_steps: int | None = None,
        usage: Usage | None = None,
        explicit: bool = False,
    ) -> SessionState:
        """A ledger as of a given point of a session (a policy's tests, the bench ladder): the
        session has made ``step`` steps, sits on ``tier`` and has used ``usage``.

        ``calm_steps`` is deprecated and ignored: the calm steps the scored policy's dwell
        counts are the policy's own memory now, not the ledger's; set them with
        ``ScorePolicy.remember_calm(state, calm_steps)``."""
        if calm_steps is not None:
            warnings.warn(
                "SessionState.restored(calm_steps=...) is ignored: the scored policy keeps its "
                "own calm steps; use ScorePolicy.remember_calm(state, calm_steps)",
                DeprecationWarning,
                stacklevel=2,
            )
        state = cls(key, explicit=explicit)
        state._step = step
        state._tier = tier
        if tier is not None:
            state._tiers_reached = (tier,)
        if usage is not None:
            state._usage = usage
        return state

    # Read-only views of the fields. Read on every routed call (several times), so each is a
    # property whose getter is C code (``attrgetter``): no Python frame per read, about a
    # third of a Python-level property's cost. Type checkers see the typed stubs.
    if TYPE_CHECKING:

        @property
        def key(self) -> str: ...
        @property
        def explicit(self) -> bool: ...
        @property
        def agent(self) -> str | None: ...
        @property
        def user(self) -> str | None: ...
        @property
        def metadata(self) -> Mapping[str, Any]: ...
        @property
        def step(self) -> int: ...
        @property
        def tier(self) -> str | None: ...
        @property
        def last_decision(self) -> Decision | None: ...
        @property
        def escalation_reason(self) -> str | None: ...
        @property
        def validation_failures(self) -> int: ...
        @property
        def cost_usd(self) -> float: ...
        @property
        def usage(self) -> Usage: ...
        @property
        def reserved_usd(self) -> float: ...
        @property
        def reservations(self) -> int: ...
        @property
        def last_attempts(self) -> tuple[Attempt, ...]: ...
        @property
        def last_used(self) -> float: ...
        @property
        def tiers_reached(self) -> tuple[str, ...]: ...
        @property
        def route_span(self) -> object | None: ...

    else:
        key = _read("_key", "The session's id.")
        explicit = _read("_explicit", "Opened with ``router.session()`` (keeps every decision).")
        agent = _read("_agent", "The agent's name given to ``router.session()``, if any.")
        user = _read("_user", "The user given to ``router.session()``, if any.")
        metadata = _read("_metadata", "The session's metadata (read-only).")
        step = _read("_step", "The number of the latest step handed out (see the class docstring).")
        tier = _read(
            "_tier", "The tier of the latest recorded decision (``None`` before the first)."
        )
        last_decision = _read("_last_decision", "The latest recorded decision.")
        escalation_reason = _read(
            "_escalation", "Why the next call is to go one tier up (``None``: no request pending)."
        )
        validation_failures = _read(
            "_validation_failures", "How many answers the output check has rejected."
        )
        cost_usd = _read("_cost_usd", "What the session's billed attempts cost.")
        usage = _read("_usage", "The sum of the session's billed attempts' usage.")
        reserved_usd = _read(
            "_reserved_usd",
            "The expected cost of the session's calls in flight, held against its budget until "
            "each ends (:mod:`agentroute.middleware.budget`).",
        )
        reservations = _read("_reservations", "How many calls hold a part of ``reserved_usd``.")
        last_attempts = _read(
            "_last_attempts",
            "Every attempt of the latest call begun (a cancelled one included), for inspection. "
            "After a failed or cancelled call they are records only (``error`` is ``None``): the "
            "errors themselves went to the caller in the raised exception. An implicit session "
            "drops them once its calls have ended (:meth:`idle`).",
        )
        last_used = _read(
            "_last_used",
            "When a call last joined the session (the implicit-session table's clock).",
        )
        tiers_reached = _read(
            "_tiers_reached",
            "Every tier a recorded decision chose, in the order first reached: the first is the "
            "start tier; the highest by the config's tier order is the highest reached.",
        )
        route_span = _read(
            "_route_span",
            "The span context of the session's latest recorded ``agentroute.route`` span "
            "(``None``: none recorded), which an outcome's span links to.",
        )

    @property
    def decisions(self) -> tuple[Decision, ...]:
        """Every recorded decision, in order (an implicit session keeps none)."""
        return tuple(self._decisions)

    # Steps -------------------------------------------------------------------------------

    def begin_step(self) -> int:
        """Hand out the next step number (a call entering the router); :attr:`last_attempts`
        starts empty for it."""
        step = self._step = self._step + 1
        self._last_attempts = ()
        return step

    def refund_step(self, step: int) -> bool:
        """Give back ``step`` (its call made no attempt) if no later call has taken a number
        since; whether it was given back."""
        if self._step != step:
            return False
        self._step = step - 1
        return True

    # Decisions and escalation ------------------------------------------------------------

    def record(self, decision: Decision) -> None:
        """Remember a routing decision (as :attr:`last_decision`) and make its tier the
        session's current tier. (What a policy remembers of its own decisions, such as the
        scored policy's calm steps, it keeps itself, keyed by the session.)"""
        tier = decision.tier
        if tier is not self._tier:  # (a tier change: rare; one identity check per call)
            self._reach(tier)
        self._tier = tier
        self._last_decision = decision
        if self._explicit:
            self._decisions.append(decision)  # type: ignore[union-attr]

    def _reach(self, tier: str) -> None:
        if tier not in self._tiers_reached:
            self._tiers_reached = _shared_tiers((*self._tiers_reached, tier))

    @property
    def start_tier(self) -> str | None:
        """The tier of the session's first recorded decision (``None`` before it)."""
        reached = self._tiers_reached
        return reached[0] if reached else None

    def note_route_span(self, context: object) -> None:
        """The span context of a call's ``agentroute.route`` span, recorded as the call ended
        (the route telemetry, only while spans record): an outcome's span links to it."""
        self._route_span = context

    def request_escalation(self, reason: str) -> None:
        """Make the next routed call go one tier up (a later request replaces the reason)."""
        self._escalation = reason

    def take_escalation(self) -> str | None:
        """The pending escalation request's reason, now taken (``None``: there was none)."""
        reason, self._escalation = self._escalation, None
        return reason

    def count_validation_failure(self) -> None:
        """The output check rejected an answer of this session."""
        self._validation_failures += 1

    # Cost ----------------------------------------------------------------------------------

    def charge(self, attempts: tuple[Attempt, ...]) -> None:
        """A call's attempt ended: ``attempts`` are the call's attempts so far, that one last.
        Add what it used and cost if it was billed (one without usage is not: it failed, or
        its stream is still open), and keep them as :attr:`last_attempts`."""
        self._last_attempts = attempts
        last = attempts[-1]
        usage = last.usage
        if usage is not None:
            total = self._usage
            if total is _NO_USAGE:  # the first billed attempt (inline: every call charges)
                self._add(usage, last.cost_usd)
            else:
                self._cost_usd += last.cost_usd
                self._usage = total + usage

    def complete_attempt(self, opened: Attempt, done: Attempt) -> None:
        """A stream's attempt (``opened``, kept while its stream was open) ended as ``done``:
        add what it used and cost, and put ``done`` in its place in :attr:`last_attempts` if it
        is still there."""
        usage = done.usage
        if usage is not None:
            self._add(usage, done.cost_usd)
        self._last_attempts = tuple(done if a is opened else a for a in self._last_attempts)

    def _add(self, usage: Usage, cost_usd: float) -> None:
        """Add a billed attempt's usage and cost to the totals. The session's first one is
        kept as it is (the same values as adding it to zero), not copied: an implicit session
        that made one call keeps no totals of its own."""
        cost = self._cost_usd
        if cost == 0.0 and type(cost_usd) is float and cost_usd != 0.0:
            self._cost_usd = cost_usd  # 0.0 + x is x exactly
        else:
            self._cost_usd = cost + cost_usd
        total = self._usage
        self._usage = usage if total is _NO_USAGE and type(usage) is Usage else total + usage

    def idle(self) -> None:
        """No call of this session is running any more (the implicit-session table says so):
        drop :attr:`last_attempts`, which only inspection of the latest call reads (the
        call's own records went back with its result or error). An explicit session keeps
        them (its owner may look at them after the call)."""
        if not self._explicit:
            self._last_attempts = ()

    def note_attempts(self, attempts: tuple[Attempt, ...]) -> None:
        """Keep ``attempts`` (a failed or cancelled call's, charged already) as
        :attr:`last_attempts`."""
        self._last_attempts = attempts

    def reserve(self, amount: float) -> None:
        """Hold ``amount`` (a call's expected cost) against the budget until :meth:`release`."""
        self._reserved_usd += amount
        self._reservations += 1

    def release(self, amount: float) -> None:
        """Drop a reservation made with :meth:`reserve`."""
        self._reservations -= 1
        # the last one out clears the float sum's rounding residue
        self._reserved_usd = self._reserved_usd - amount if self._reservations > 0 else 0.0

    # Use -----------------------------------------------------------------------------------

    def touch(self, now: float) -> None:
        """A call joined the session at ``now`` (the implicit-session table's idle clock)."""
        self._last_used = now

    def __repr__(self) -> str:
        return f"SessionState(key={self._key!r}, step={self._step}, tier={self._tier!r})"


_NO_USAGE = Usage()
"""A new session's usage (shared: usage is immutable)."""

_TIERS_REACHED: dict[tuple[str, ...], tuple[str, ...]] = {}
"""The ``tiers_reached`` tuples sessions hold, one object per distinct sequence (of config
tier names: a handful), so an idle session keeps none of its own."""


def _shared_tiers(reached: tuple[str, ...]) -> tuple[str, ...]:
    shared = _TIERS_REACHED.get(reached)
    if shared is None:
        if len(_TIERS_REACHED) >= 1024:  # custom policies' tier names: stop sharing, stay small
            return reached
        shared = _TIERS_REACHED[reached] = reached
    return shared


CallMode: TypeAlias = Literal["wrap", "complete", "stream"]


@value_object
class ModelCall:
    """One model call on its way through the chain.

    Routing fills ``decision`` and ``targets`` (ordered candidates); the fallback step sets
    ``target`` and ``attempt`` for each try it makes.
    """

    messages: Sequence[Message]
    tools: Sequence[Mapping[str, Any]] | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    mode: CallMode = "complete"
    session: SessionState | None = None
    step: int = 0
    """The call's step number in its session (taken when it entered the router; 0 without a
    session). Concurrent calls of one session each carry their own."""
    hints: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    decision: Decision | None = None
    targets: tuple[Target, ...] = ()
    target: Target | None = None
    attempt: int = 0
    progress: CallProgress | None = field(default=None, compare=False, repr=False)
    """Shared by every copy of the call: whether it has made an attempt yet
    (:class:`CallProgress`; set by the router)."""

    # Explicit copies: the hot path makes two per call, and ``dataclasses.replace`` costs
    # several times more than a direct construction.

    def with_route(self, decision: Decision | None, targets: tuple[Target, ...]) -> ModelCall:
        """A copy with the routing decision and its ordered candidate targets (also used to
        reorder the targets of a decision made already)."""
        return ModelCall(
            self.messages,
            self.tools,
            self.params,
            self.mode,
            self.session,
            self.step,
            self.hints,
            decision,
            targets,
            self.target,
            self.attempt,
            self.progress,
        )

    def with_target(self, target: Target, attempt: int) -> ModelCall:
        """A copy aimed at one target, as attempt number ``attempt``."""
        return ModelCall(
            self.messages,
            self.tools,
            self.params,
            self.mode,
            self.session,
            self.step,
            self.hints,
            self.decision,
            self.targets,
            target,
            attempt,
            self.progress,
        )


CallNext: TypeAlias = Callable[[ModelCall], Awaitable[ModelResult]]
"""The rest of the chain, as seen from one middleware."""


class Middleware(Protocol):
    """The one hook: an async callable that may call ``call_next`` zero, one or more times."""

    async def __call__(self, call: ModelCall, call_next: CallNext, /) -> ModelResult: ...


class Provider(Protocol):
    """The transport behind ``Router.complete()`` and ``Router.stream()``, for one provider
    of the config: it sends a call to ``call.target`` (set by the fallback step).

    Subclass :class:`~agentroute.providers.base.BaseProvider` (``agentroute.BaseProvider``)
    to get the optional parts filled in; an object given to the Router with only ``send`` is
    completed the same way once, when the Router is built (never probed per call).
    """

    async def send(self, call: ModelCall, /) -> ModelResult:
        """The answer to ``call``, normalized; a failure raises (the router translates it,
        so a ``status_code`` and headers on the exception are enough)."""
        ...

    def stream(self, call: ModelCall, /) -> AsyncIterator[StreamChunk]:
        """The answer to ``call`` in chunks (text and tool-call pieces, the finish reason,
        usage), for ``Router.stream()``; a failure before the first chunk falls back like
        one of :meth:`send`. A provider that cannot stream raises
        :class:`~agentroute.errors.ConfigurationError` when called."""
        ...

    async def aclose(self) -> None:
        """Release what the provider holds (its HTTP client). The router calls it for the
        providers it built, at ``Router.aclose()``; the ones it was given are the caller's."""
        ...
