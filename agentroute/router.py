"""``Router``: a config turned into a middleware chain, and the two ways in.

* ``router.wrap(fn)`` routes an agent's own call function: same signature minus the model
  parameter, same return value.
* ``await router.complete(messages, ...)`` routes through the providers given to the Router
  (built-in HTTP providers, or test doubles from :mod:`agentroute.testing`) and returns a
  normalized :class:`~agentroute.ModelResult`; ``async with router.stream(messages, ...)``
  does the same with the answer in chunks (:mod:`agentroute.streaming`).

Both build a :class:`~agentroute.ModelCall` bound to a session and run it through the same
chain: (route span) → budget → routing → the user's middlewares → (validation) → affinity →
fallback → (attempt span) → terminal (assembled in :mod:`agentroute._steps`; the order and
why: docs/architecture.md, "Call path").
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

import httpx
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from agentroute._call_checks import check_messages, check_options
from agentroute._catalog import Catalog
from agentroute._chain import build_chain
from agentroute._secrets import remember_secrets
from agentroute._steps import RouterChains, router_steps
from agentroute._types import (
    EMPTY,
    CallMode,
    CallNext,
    CallProgress,
    Decision,
    Message,
    Middleware,
    ModelCall,
    ModelResult,
    Provider,
    Target,
)
from agentroute.clock import Clock, SystemClock
from agentroute.config import RouterConfig
from agentroute.config._files import load_config
from agentroute.errors import ConfigurationError
from agentroute.implicit_sessions import SessionTable
from agentroute.messages import system_of
from agentroute.middleware.validation import Validator
from agentroute.policy import Policy
from agentroute.policy.classifier import HybridClassifier
from agentroute.policy.tool_errors import ToolErrorSpec, resolve_tool_error_detector
from agentroute.providers.base import ProviderTerminal, SendsCalls
from agentroute.providers.factory import build_provider
from agentroute.session import (
    Session,
    SessionState,
    bind_session_id,
    bound_session_id,
    current_session,
    derive_session_key,
    new_session_state,
)
from agentroute.state import MemoryStateStore, StateStore
from agentroute.state.build import store_from_config
from agentroute.state.failopen import FailOpenSettings, FailOpenStore
from agentroute.streaming import RoutedStream
from agentroute.telemetry.logs import RouteEvents
from agentroute.telemetry.outcomes import SessionOutcomes
from agentroute.telemetry.routing_log import TextSink, open_routing_log
from agentroute.telemetry.spans import Telemetry

if TYPE_CHECKING:
    from agentroute.integrations.anthropic import RoutedAsyncAnthropic
    from agentroute.integrations.openai import RoutedAsyncOpenAI
    from agentroute.providers.function import UsageOf
    from agentroute.shadow.ledger import ShadowStats
    from agentroute.shadow.runner import ShadowJudge, ShadowRunner

__all__ = ["Router"]

HINT_KEYS = ("task_type", "min_tier", "max_tier", "plan")
"""Session metadata keys that are also routing hints (a call's own hints win)."""


class Router:
    """Routes every model call of an agent loop to a tier, a model and a deployment.

    Args:
        config: a :class:`RouterConfig` or a mapping validated into one.
        providers: provider name → :class:`~agentroute.Provider` used by :meth:`complete`
            instead of the built-in HTTP provider of that name (test doubles, custom clients);
            one with only ``send`` gets :class:`~agentroute.BaseProvider`'s ``stream`` (cannot
            stream) and ``aclose`` (nothing to close).
        middleware: extra middlewares, run after routing (they see the decision) and around
            all attempts of a call.
        policy: a custom policy ``(Signals, SessionState) -> Decision`` (default: the scored
            policy, :class:`~agentroute.policy.score.ScorePolicy`).
        tool_error_detector: which tool results (of every shape) are errors, for the signals
            and the providers' conversion alike: ``(ToolResult) -> bool``, a preset name or a
            list (:mod:`agentroute.policy.tool_errors`; default: the config's).
        validator: an output check ``async (result, call) -> bool | str``; a rejected step
            is re-run one tier up (:mod:`agentroute.middleware.validation`).
        classifier: a :class:`~agentroute.policy.classifier.HybridClassifier` judging the
            first turn's difficulty (rules, then a cheap model when unsure); off by default.
        http_client: an ``httpx.AsyncClient`` shared by the built-in HTTP providers (your
            transport, limits, proxies; left open by the router). Without one each provider
            makes its own (:func:`~agentroute.providers.transport.default_client`).
        state_store: where deployment failures, cooldowns and pins are kept; pass one store
            to several routers to share them (default: from ``config.state``, in memory or
            Redis). A store other than the in-memory one is used fail-open
            (:mod:`agentroute.state.failopen`): if it is unreachable or hung, calls still
            succeed, each operation bounded by ``state.op_timeout_s`` behind a circuit
            breaker. A :class:`~agentroute.state.failopen.FailOpenStore` given here is used
            as it is (its own settings).
        clock: time, sleep and jitter for every reader of time: backoff, cooldowns, the state
            store's TTLs and breaker, implicit sessions' idle TTL, a classifier given no clock
            of its own (default: :class:`~agentroute.clock.SystemClock`; tests use
            :class:`~agentroute.testing.FakeClock`).
        tracer_provider: the OpenTelemetry ``TracerProvider`` for the router's spans
            (``invoke_agent`` → ``agentroute.route`` → ``chat``; :mod:`agentroute.telemetry.spans`).
            Default: the global one, a no-op unless the application configured it; the router
            never configures a global provider.
        meter_provider: the OpenTelemetry ``MeterProvider`` for the router's metrics
            (:mod:`agentroute.telemetry.metrics`); default: the global one.
        capture_content: record message content on the ``chat`` spans (redacted); default:
            ``config.telemetry.capture_content`` or
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
        routing_log: where to append one JSON line per session (docs/routing-log.md): a path,
            or any object with ``write(str)`` (flushed after each batch if it has ``flush()``,
            never closed); default: ``config.telemetry.routing_log``, else no log. Written by
            a background thread (:mod:`agentroute.telemetry.routing_log`); :meth:`aclose`
            writes the sessions still open and waits for every line.
        shadow_judge: with shadow routing on (the config's ``shadow`` section), an ``async
            (served, shadow, call) -> float`` judging how far the reference tier's answer
            agrees with the served one, in [0, 1], instead of the default comparator's score
            (within ``shadow.judge_timeout_s``; a failing judge falls back to the comparator).
            See :mod:`agentroute.shadow.runner`.

    Raises:
        ConfigurationError: the config is invalid, or names an unknown provider or preset; a
            given provider has no ``send`` method; ``shadow_judge`` is given without a
            ``shadow`` section, or is not callable.
    """

    def __init__(
        self,
        config: RouterConfig | Mapping[str, Any],
        *,
        providers: Mapping[str, Provider | SendsCalls] | None = None,
        middleware: Sequence[Middleware] = (),
        policy: Policy | None = None,
        tool_error_detector: ToolErrorSpec | None = None,
        validator: Validator | None = None,
        classifier: HybridClassifier | None = None,
        http_client: httpx.AsyncClient | None = None,
        state_store: StateStore | None = None,
        clock: Clock | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture_content: bool | None = None,
        routing_log: str | os.PathLike[str] | TextSink | None = None,
        shadow_judge: ShadowJudge | None = None,
    ) -> None:
        self.config = (
            config if isinstance(config, RouterConfig) else RouterConfig.from_mapping(config)
        )
        clock = clock if clock is not None else SystemClock()  # one clock for every reader
        remember_secrets(self.config)  # env: keys set since the config was loaded: masked too
        self._catalog = Catalog(self.config)
        given = dict(providers or {})
        unknown = sorted(set(given) - set(self.config.providers))
        if unknown:
            raise ConfigurationError(
                f"providers: {', '.join(map(repr, unknown))} not in the config's providers "
                f"({', '.join(self.config.providers)})"
            )
        events = RouteEvents(self.config.telemetry.log_events)  # one sink for every event
        self._telemetry = Telemetry(
            self.config,
            self._catalog,
            tracer_provider,
            meter_provider,
            clock,
            capture_content=capture_content,
            events=events,
        )
        store = state_store or store_from_config(self.config, clock)
        if not isinstance(store, MemoryStateStore | FailOpenStore):  # an outage fails no call
            store = FailOpenStore(
                store,
                FailOpenSettings.from_config(self.config.state),
                clock=clock,
                metrics=self._telemetry.metrics,
                events=events,
            )
        self._store: StateStore = store
        self._owns_store = state_store is None
        detector = resolve_tool_error_detector(tool_error_detector, self.config.policy)
        log = open_routing_log(
            routing_log,
            self.config.telemetry.routing_log,
            self._catalog.highest,
            events=events,
            clock=clock,
        )
        self._shadow: ShadowRunner | None = None
        if self.config.shadow is not None:
            from agentroute.shadow.runner import ShadowRunner  # (only with shadow routing on)

            if shadow_judge is not None and not callable(shadow_judge):
                raise ConfigurationError(
                    f"shadow_judge: expected an async callable (served, shadow, call) -> "
                    f"float, got {type(shadow_judge).__name__}"
                )
            self._shadow = ShadowRunner(
                self.config, self._catalog, self._telemetry, log, shadow_judge
            )
        elif shadow_judge is not None:
            raise ConfigurationError(
                "shadow_judge: given, but the config has no shadow section (shadow routing off)"
            )
        shadow = self._shadow
        self._steps = router_steps(
            self.config,
            self._catalog,
            self._telemetry,
            store,
            clock=clock,
            events=events,
            policy=policy,
            tool_error_detector=detector,
            classifier=classifier,
            validator=validator,
            middleware=middleware,
            routing_log=log,
            shadow=shadow if shadow is not None and shadow.samples() else None,
        )
        config = self.config
        self._sessions = SessionTable(
            max_sessions=config.sessions.max_implicit,
            ttl_s=config.sessions.idle_ttl_s,
            clock=clock.now,  # the system clock's is time.monotonic itself: no frame more
            on_evict=self._telemetry.session_evicted,
            on_end=None if log is None else self._session_dropped,
        )
        self._outcomes = SessionOutcomes(
            self._telemetry,
            store,
            log,
            self._catalog.highest,
            config.telemetry.outcome_ttl_s,
            self._sessions.find,
        )
        self._terminal = ProviderTerminal(
            given,
            self._catalog,
            build=lambda name: build_provider(
                name, config.providers[name], client=http_client, tool_error_detector=detector
            ),
        )
        steps = self._steps
        self._complete_chain = build_chain(steps.every, self._terminal)
        """Every step: for a stream (its steps are chosen when it is made, run when opened)."""
        self._chains = RouterChains(config, steps, self._terminal, self._telemetry.observing)
        """complete()'s chains: a call takes the one with only the steps that can act on it
        (see :class:`~agentroute._steps.RouterChains`)."""
        self._attempts_chain = build_chain(steps.attempts, self._terminal)
        """The attempts' steps (fallback → attempt span) → terminal only: a broken stream's
        restart (the decision is made)."""

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Router:
        """A Router from a YAML or TOML config file (other arguments as for the constructor)."""
        return cls(load_config(path), **kwargs)

    def __repr__(self) -> str:
        return f"Router(tiers={list(self._catalog.tiers)!r}, models={list(self.config.models)!r})"

    # Sessions ------------------------------------------------------------------------------

    def session(
        self,
        id: str | None = None,
        *,
        agent: str | None = None,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session:
        """A session for one agent run; ``async with`` it around the run's calls."""
        now = self._telemetry.clock.now()
        state = new_session_state(id, agent=agent, user=user, metadata=metadata, now=now)
        return Session(state, self, self._telemetry, self._outcomes)

    def bind_session(self, session_id: str) -> contextlib.AbstractContextManager[None]:
        """Calls made inside ``with router.bind_session(id):`` (in sync or async code, and in
        the tasks started inside it) join the session named ``id``: for an agent framework
        that gives each run or conversation an id of its own (a LangGraph thread id, a
        pydantic-ai run id, an Agents SDK group or trace id), so its calls share one step
        counter, tier and cost without ``async with router.session()`` around the run.

        The session is kept with the implicit ones (``sessions.max_implicit``, expiring after
        ``sessions.idle_ttl_s`` idle): nothing has to close it, and it is never matched by
        content. An ``async with router.session()`` around the call still wins.

        Raises:
            ConfigurationError: ``session_id`` is not a non-empty string.
        """
        return bind_session_id(session_id)

    async def record_outcome(
        self,
        session_id: str,
        success: bool | None = None,
        score: float | None = None,
        label: str | None = None,
    ) -> None:
        """Say how the session ``session_id`` went, later or from another process (a feedback
        endpoint): as ``session.record_outcome`` (the same arguments and checks), for a
        session live in this router, ended here, or ended in another router sharing this
        one's state store (its summary is kept ``telemetry.outcome_ttl_s``). An outcome for a
        session none of these know is kept all the same, marked ``session_known: false``,
        with a ``route.outcome_unknown_session`` warning (:mod:`agentroute.telemetry.outcomes`).

        Raises:
            ConfigurationError: ``session_id`` is not a non-empty string, or an argument has
                the wrong type or is out of range (named).
        """
        await self._outcomes.record(session_id, success, score, label)

    def shadow_stats(self) -> ShadowStats | None:
        """What shadow routing has done so far (samples compared, failed, dropped; agreement
        by served tier and cause; the shadow spend), or ``None`` when it is off."""
        return self._shadow.stats() if self._shadow is not None else None

    async def drain_shadow(self) -> None:
        """Wait until every shadow call started so far has finished (a test, a benchmark, or a
        shutdown that keeps their comparisons: :meth:`aclose` cancels them)."""
        if self._shadow is not None:
            await self._shadow.drain()

    def _session_dropped(self, state: SessionState, reason: str) -> None:
        self._outcomes.session_dropped(state, reason)

    # The two ways in -----------------------------------------------------------------------

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        hints: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> ModelResult:
        """Route one call through the configured providers and return the normalized result.

        Raises:
            AllAttemptsFailed: every attempt failed (holds each attempt's error and record).
            ConfigurationError: bad message shape, tools or hints, unknown tier hint, a value that
                cannot be sent as JSON, no provider registered.
        """
        messages = check_messages(messages)
        if tools is not None or hints is not None:
            check_options(tools, hints)
        frozen = MappingProxyType(params) if params else EMPTY  # (no keyword arguments: one)
        call = self._call(messages, tools, frozen, "complete", hints)
        # _step's body, inlined (one coroutine less per call): keep the two the same
        state = call.session
        chain = self._chains.pick(state.metadata if state is not None else None)
        try:
            result = await chain(call)
        except BaseException:
            self._step_failed(call)
            raise
        self._sessions.finished(state, answered=True)
        return result

    def wrap(
        self,
        fn: Callable[..., Awaitable[Any]],
        *,
        model_param: str = "model",
        messages_param: str | None = None,
        tools_param: str = "tools",
        usage_of: UsageOf | None = None,
        deployment_param: str | None = None,
    ) -> Callable[..., Awaitable[Any]]:
        """Route every call of the async callable ``fn`` (the first way in).

        ``fn`` may be an ``async def`` function or method, an object with ``async def
        __call__``, a ``functools.partial`` of one, or a def that says it returns an awaitable
        (:mod:`agentroute._async_callable`); its parameters may take any shape
        (:mod:`agentroute._call_shape`). The returned function has ``fn``'s signature minus
        ``model_param`` and minus the keyword arguments every deployment's ``kwargs`` supply
        (those only some supply are optional), and returns what ``fn`` returns. The router
        passes the chosen deployment's model name as ``model_param`` and the deployment's
        configured keyword arguments (they win over the caller's; a model the caller passes
        anyway is replaced). The messages are ``messages_param``: by default the parameter
        named ``messages``, else the first positional one other than the model (through
        ``*args``/``**kwargs``, the messages go back the way the caller passed them). It warns
        once when it can see that ``fn``'s client retries by itself
        (:mod:`agentroute._sdk_retries`). A stream ``fn`` returns is handed back watched, and
        charged when it ends (:mod:`agentroute.providers.wrapped_stream`).

        ``deployment_param``: the name of a parameter of ``fn`` that gets the chosen
        :class:`~agentroute.Deployment` (provider, wire format, ``base_url``, ``api_key``,
        headers, model names), for a function that keeps one client per deployment (what the
        framework integrations of :mod:`agentroute.integrations` are built on).

        Raises:
            ConfigurationError: ``fn`` is not an async callable, has no such parameters, or
                cannot take a configured keyword argument; ``usage_of`` is not callable.
        """
        # wrap()'s machinery (the function terminal, stream watching, SDK checks) is loaded
        # on first use: an app that only calls complete() does not pay for it at import
        from agentroute._routed_function import Steps, routed_function

        return routed_function(
            fn,
            catalog=self._catalog,
            chains=functools.partial(
                RouterChains, self.config, self._steps, observing=self._telemetry.observing
            ),
            steps=Steps(
                self._call,
                self._step_failed,
                functools.partial(self._sessions.finished, answered=True),
            ),
            events=self._telemetry.events,
            model_param=model_param,
            messages_param=messages_param,
            tools_param=tools_param,
            usage_of=usage_of,
            deployment_param=deployment_param,
        )

    def openai_client(self, **client_kwargs: Any) -> RoutedAsyncOpenAI:
        """An ``openai.AsyncOpenAI`` stand-in whose ``chat.completions`` and ``responses``
        calls are routed by this router (:mod:`agentroute.integrations.openai`; the ``openai``
        package is imported now, not with the router). ``client_kwargs`` go to every SDK
        client it builds (one per deployment), plus ``stream_usage=True`` to ask Chat
        Completions streams for their usage.

        Raises:
            ConfigurationError: a tier routes to a deployment not of kind ``openai``, or an
                option is refused (``max_retries`` other than 0, ``api_key``, ``base_url``).
        """
        from agentroute.integrations.openai import routed

        return routed(self, **client_kwargs)

    def anthropic_client(self, **client_kwargs: Any) -> RoutedAsyncAnthropic:
        """An ``anthropic.AsyncAnthropic`` stand-in whose ``messages`` calls are routed by this
        router (:mod:`agentroute.integrations.anthropic`; the ``anthropic`` package is
        imported now). ``client_kwargs`` go to every SDK client it builds.

        Raises:
            ConfigurationError: a tier routes to a deployment not of kind ``anthropic``, or an
                option is refused (``max_retries`` other than 0, ``api_key``, ``base_url``).
        """
        from agentroute.integrations.anthropic import routed

        return routed(self, **client_kwargs)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        hints: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> RoutedStream:
        """Route one call and stream its answer (use with ``async with``; see
        :mod:`agentroute.streaming`). The call is made when the ``async with`` is entered;
        a failure before the first chunk falls back like any call.

        Raises:
            AllAttemptsFailed: (on entering) every attempt failed before its first chunk.
            StreamInterrupted: (while iterating) the stream broke after its first chunk.
            ConfigurationError: bad message shape, tools or hints, or a provider that cannot
                stream.
        """
        messages = check_messages(messages)
        check_options(tools, hints)
        frozen = MappingProxyType(params)
        resilience = self.config.resilience
        return RoutedStream(
            functools.partial(self._step, self._complete_chain),
            lambda: self._call(messages, tools, frozen, "stream", hints),
            prices=self._catalog.prices,
            chunk_timeout_s=resilience.attempt_timeout_s,
            restart=self._restart_stream,
            max_restarts=resilience.stream_restarts,
        )

    async def _restart_stream(
        self, call: ModelCall, decision: Decision, broken: Target, after: int
    ) -> ModelResult:
        """Run a broken stream's attempts again: same decision, the broken deployment last,
        attempts numbered on from ``after``."""
        targets = self._catalog.targets(decision.tier, decision.candidates)
        ordered = (*(t for t in targets if t != broken), broken)
        routed = dataclasses.replace(call.with_route(decision, ordered), attempt=after)
        return await self._attempts_chain(routed)

    async def _step(self, chain: CallNext, call: ModelCall) -> ModelResult:
        """Run a session's step through ``chain``. A call that ends before any attempt
        (refused for its shape, by a budget limit or a configuration error, or cancelled while
        being routed) is not a step: its number is given back, unless a later call of the
        session has taken one meanwhile (concurrent calls: numbers are never reused). The
        implicit-session table is told when the call ended, and how (for a stream: when it
        opened; a refused call leaves its implicit session as it found it: see
        :meth:`SessionTable.finished`)."""
        state = call.session
        try:
            result = await chain(call)
        except BaseException:
            self._step_failed(call)
            raise
        self._sessions.finished(state, answered=True)
        return result

    def _step_failed(self, call: ModelCall) -> None:
        """``call`` raised: give the number back if it
        made no attempt (see :meth:`_step`), and tell the implicit-session table (a refused
        call leaves its implicit session as it found it)."""
        state = call.session
        progress = call.progress
        refused = progress is None or not progress.attempts
        if state is not None and refused:
            state.refund_step(call.step)
        self._sessions.finished(state, answered=False, refused=refused)

    def _call(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]] | None,
        params: Mapping[str, Any],
        mode: CallMode,
        hints: Mapping[str, Any] | None,
    ) -> ModelCall:
        """The session's next step as a ModelCall: of the innermost ``router.session()`` of
        this router around the call, else of the session bound by ``bind_session()``, else
        of the implicit session this conversation continues."""
        session = current_session()
        if session is not None and session.owner is self:
            state = session.state
        else:
            bound = bound_session_id()
            if bound is not None:
                state = self._sessions.named(bound)
            else:
                system = system_of(params) if params else None
                state = self._sessions.get(derive_session_key(messages, system), messages)
        step = state.begin_step()
        meta = state.metadata
        if meta:
            hints = {**{k: meta[k] for k in HINT_KEYS if k in meta}, **(hints or {})}
        # every field by position: no keyword binding, no default factory to run
        return ModelCall(
            messages,
            tools,
            params,
            mode,
            state,
            step,
            hints or EMPTY,
            None,
            (),
            None,
            0,
            CallProgress(),
        )

    # Lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Cancel the shadow calls in flight, end the sessions still open (their routing-log
        lines written, their summaries kept for outcomes), wait for the routing log's writer,
        then close the HTTP providers and the state store the router built (never the ones it
        was given)."""
        if self._shadow is not None:
            await self._shadow.aclose()
        await self._outcomes.aclose()
        for provider in self._terminal.built:
            await provider.aclose()
        if self._owns_store:
            await self._store.aclose()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
