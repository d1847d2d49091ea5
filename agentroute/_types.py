"""Frozen value objects that travel through the middleware chain, and the chain's types.

Everything here is immutable (:func:`~agentroute._frozen.value_object`: a frozen slots
dataclass that is cheap to build): a middleware that wants to change a call makes a copy with
``dataclasses.replace`` (or the faster ``with_*`` helpers) and passes the copy on. Messages and tool
schemas are the caller's own objects and are *not* deep-copied (that would cost more than the
whole routing decision); the router never mutates them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from agentroute._call_progress import CallProgress
from agentroute._frozen import value_object

if TYPE_CHECKING:
    from agentroute.session import SessionState

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

    The one mutable object of this module (see :mod:`agentroute._stream_end` for its story):
    it lives here because :class:`ModelResult` carries it."""

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
    hints: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    decision: Decision | None = None
    targets: tuple[Target, ...] = ()
    target: Target | None = None
    attempt: int = 0
    progress: CallProgress | None = field(default=None, compare=False, repr=False)
    """Shared by every copy of the call: whether it has made an attempt yet
    (:mod:`agentroute._call_progress`; set by the router)."""

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
    """The one-method transport behind ``Router.complete()``: send a call to ``call.target``."""

    async def send(self, call: ModelCall, /) -> ModelResult: ...
