"""The router config's sections about how calls run: resilience, affinity, budget, sessions,
state, telemetry (split from :mod:`agentroute.config`, which re-exports them; the model, provider,
tier and policy sections and the whole-config checks live there), and the two config value
types that modules below the config need: :class:`Price` and :data:`ToolErrorPreset`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from agentroute._secrets import Secret

__all__ = [
    "AffinityConfig",
    "BudgetConfig",
    "Integer",
    "MemoryStateConfig",
    "NonNeg",
    "Number",
    "Positive",
    "Price",
    "RedisStateConfig",
    "ResilienceConfig",
    "SessionsConfig",
    "TelemetryConfig",
    "ToolErrorPreset",
    "move_legacy_session_keys",
]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


Number = Annotated[float, BeforeValidator(_not_bool)]
"""The type of every float field: ``true``/``false`` are refused (pydantic would read them as
1.0 and 0.0, YAML reads ``yes``/``on`` as true); NaN and the infinities are refused for every
float of the config by ``allow_inf_nan=False`` on the models. Numbers written as text (YAML
reads ``1e-6``, without a dot, as a string) are still read."""
Integer = Annotated[int, BeforeValidator(_not_bool)]
"""The type of every int field: ``context_window: true`` is refused, not read as 1."""
NonNeg = Annotated[Number, Field(ge=0)]
Positive = Annotated[Number, Field(gt=0)]


class _Strict(BaseModel):
    """Base of the config's models: unknown fields are errors, values are frozen, and no float
    anywhere may be NaN or infinite (a NaN weight or threshold routed every call to the top
    tier; an infinite price made costs NaN, so no budget ever tripped)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Price(_Strict):
    """USD per million tokens (re-exported by :mod:`agentroute.config`; here, below the
    config, so that :mod:`agentroute.pricing` can build one without importing the config)."""

    input: NonNeg
    output: NonNeg
    cache_read: NonNeg | None = None
    cache_write: NonNeg | None = None
    cache_write_1h: NonNeg | None = None

    @functools.cached_property
    def per_token(self) -> tuple[float, float, float, float, float]:
        """USD per token: (input, cache read, 5-minute cache write, 1-hour write, output)."""
        return (
            self.input * 1e-6,
            self.cache_read_or_input * 1e-6,
            self.cache_write_or_input * 1e-6,
            self.cache_write_1h_or_default * 1e-6,
            self.output * 1e-6,
        )

    @property
    def cache_read_or_input(self) -> float:
        return self.input if self.cache_read is None else self.cache_read

    @property
    def cache_write_or_input(self) -> float:
        return self.input if self.cache_write is None else self.cache_write

    @property
    def cache_write_1h_or_default(self) -> float:
        return self.cache_write_or_input if self.cache_write_1h is None else self.cache_write_1h


ToolErrorPreset: TypeAlias = Literal["default", "openai_agents", "pydantic_ai", "langchain"]
"""The names of the shipped tool-error detectors (:mod:`agentroute.policy.tool_errors`, which
re-exports it): here so that the config can name them without importing the policy."""


class ResilienceConfig(_Strict):
    """Retries, fallbacks, deadlines and cooldowns (:mod:`agentroute.middleware.recovery`).

    * ``attempt_timeout_s`` bounds one attempt (for a stream: the wait for each chunk);
      ``deadline_s`` the whole call, every retry and backoff included. Each is enforced with
      an anyio cancel scope, which has a cost per call (the ``complete()`` rows with and
      without timeouts in ``benchmarks/results/overhead.md``); ``null`` turns one off, and
      with both off no scope is entered (the HTTP client's own timeouts still apply).
    * ``min_attempt_s``: an attempt after the first is started only if at least this much of
      ``deadline_s`` is left (never more than ``deadline_s`` itself): under load a backoff or
      the event loop can wake up late, and an attempt started with no time left can only time
      out. How late each attempt started is on its record (``Attempt.lag_s``).
    * ``max_retries``: retries of one deployment after a transient fault (429, 5xx, timeout,
      dropped connection) before moving on; ``max_attempts``: attempts of one call in all.
    * Backoff: full jitter under ``min(backoff_max_s, backoff_base_s·2ⁿ⁻¹)``; a ``Retry-After``
      is waited as given up to ``retry_after_cap_s``, and above it the deployment is put aside
      for that long instead.
    * ``allowed_fails`` failures within ``failure_window_s`` put a deployment aside for
      ``cooldown_s`` (shared through the state store). A deployment put aside is tried after
      the others, never dropped: a cooldown alone never fails a call.
    * ``content_policy_fallback``: the model tried when a provider refuses the content.
    * ``escalate_on_exhaustion``: when every deployment of the tier failed, try the tier above.
    * ``stream_restarts``: how many times a stream that broke after its first chunk starts over
      on another deployment (its next chunk says ``restarted``) instead of raising
      ``StreamInterrupted``; 0 by default, since the caller must then discard what it got.
    """

    attempt_timeout_s: Positive | None = 60.0
    deadline_s: Positive | None = 180.0
    min_attempt_s: NonNeg = 0.1
    max_retries: Integer = Field(default=2, ge=0)
    max_attempts: Integer = Field(default=8, ge=1)
    backoff_base_s: NonNeg = 0.5
    backoff_max_s: NonNeg = 8.0
    retry_after_cap_s: NonNeg = 30.0
    allowed_fails: Integer = Field(default=3, ge=1)
    failure_window_s: Positive = 60.0
    cooldown_s: NonNeg = 30.0
    content_policy_fallback: str | None = None
    escalate_on_exhaustion: bool = True
    stream_restarts: Integer = Field(default=0, ge=0)


class BudgetConfig(_Strict):
    """Per-session limits (:mod:`agentroute.middleware.budget`), checked before each call.

    * ``max_cost_usd``: once a session has spent this much (every billed attempt counted),
      its next call raises :class:`~agentroute.errors.BudgetExceeded`. A call in flight holds
      its expected cost against it (input tokens plus ``policy.output_tokens_guess``, at the
      chosen model's price), so concurrent calls overshoot it only by what the calls already
      in flight cost beyond their reservations (:mod:`agentroute.middleware.budget`).
    * ``max_steps``: a session's call beyond this many raises
      :class:`~agentroute.errors.StepLimitExceeded`.
    * ``cap_tier_at_fraction``: once this share of ``max_cost_usd`` is spent, calls go no
      higher than ``cap_tier`` (default: the start tier); the decision's cause is
      ``budget_cap``. ``null``: never cap.

    A session overrides ``max_cost_usd`` / ``max_steps`` with the same keys in its metadata
    (``router.session(metadata={"max_cost_usd": 0.5})``; ``null`` there lifts the limit).
    """

    max_cost_usd: Positive | None = None
    max_steps: Integer | None = Field(default=None, ge=1)
    cap_tier_at_fraction: Number | None = Field(default=0.8, gt=0, le=1)
    cap_tier: str | None = None


class SessionsConfig(_Strict):
    """Implicit sessions: the ones calls made outside ``router.session()`` get, keyed by the
    conversation (:mod:`agentroute.implicit_sessions`).

    * ``max_implicit``: live implicit sessions kept at most. Past it the least recently used
      is evicted, losing its step count, tier, cost and history; each such eviction of a
      session not yet idle for ``idle_ttl_s`` is counted (``agentroute.sessions.evicted``)
      and logged (``route.session_evicted``). An agent loop that round-robins over more live
      sessions than this loses every session's state before its next step, so the default
      (100,000) is far above the concurrent runs one process serves; the bound also caps
      their memory (what one keeps: ``benchmarks/results/scale.md``).
    * ``idle_ttl_s``: a session idle this long is dropped (swept as the table is used), and
      its conversation starts over as a new session.

    These used to be ``state.max_sessions`` and ``state.session_ttl_s`` (though they never
    were the state store's, and a Redis store could not set them); those names are still read,
    moved here with a ``DeprecationWarning``.
    """

    max_implicit: Integer = Field(default=100_000, ge=1)
    idle_ttl_s: Positive = 3600.0


_LEGACY_SESSION_KEYS = {"max_sessions": "max_implicit", "session_ttl_s": "idle_ttl_s"}


def move_legacy_session_keys(data: Any) -> Any:
    """A raw config with ``state.max_sessions`` / ``state.session_ttl_s`` (their old home)
    rewritten to ``sessions.max_implicit`` / ``sessions.idle_ttl_s``, with a
    ``DeprecationWarning``; both spellings at once is an error naming both fields."""
    if not isinstance(data, Mapping):
        return data
    state, sessions = data.get("state"), data.get("sessions")
    if not isinstance(state, Mapping) or not any(k in state for k in _LEGACY_SESSION_KEYS):
        return data
    if sessions is None:
        sessions = {}
    if not isinstance(sessions, Mapping):
        return data  # validation reports the bad section
    state, sessions = dict(state), dict(sessions)
    moved = [(old, new) for old, new in _LEGACY_SESSION_KEYS.items() if old in state]
    for old, new in moved:
        if new in sessions:
            raise ValueError(
                f"state.{old}: the old name of sessions.{new}, which is also set; "
                f"keep only sessions.{new}"
            )
        sessions[new] = state.pop(old)
    olds = ", ".join(f"state.{old}" for old, _ in moved)
    news = ", ".join(f"sessions.{new}" for _, new in moved)
    warnings.warn(f"config: {olds} deprecated; write {news}", DeprecationWarning, stacklevel=2)
    return {**data, "state": state, "sessions": sessions}


class MemoryStateConfig(_Strict):
    kind: Literal["memory"] = "memory"


class RedisStateConfig(_Strict):
    """State in a Redis server shared by routers in several processes
    (:mod:`agentroute.state.redis`), used fail-open (:mod:`agentroute.state.failopen`).

    * ``op_timeout_s``: how long an operation waits with no answer from the server; then it is
      given up and answered as an empty store would (no cooldown, no pin), like one that
      failed. Only silence counts: time the event loop was busy elsewhere does not, and while
      the server answers other operations (or a new connection's handshake) it is alive, so
      the operation keeps waiting, up to ``op_max_s`` once sent. The default suits a server
      on the same host or network.
    * ``pool_size``: connections to the server at most. At most that many operations are
      sent at once; the others wait their turn (first come, first served) without a time
      limit: under a burst of calls this process is the bottleneck, not the server, and a
      wait for a turn is no failure of the store. Once the breaker opens, operations still
      waiting are skipped.
    * ``breaker_failures``: consecutive failed or timed-out operations that open the circuit
      breaker: the store is then skipped for ``breaker_reset_s`` seconds, after which one
      operation probes it (success closes the breaker). A hung server so costs one
      ``op_timeout_s`` per ``breaker_reset_s``, not one per operation.
    """

    kind: Literal["redis"]
    url: Secret
    namespace: str = Field(default="agentroute", min_length=1)
    op_timeout_s: Positive = 0.05
    op_max_s: Positive = 2.0
    pool_size: int = Field(default=50, ge=1)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_reset_s: Positive = 5.0

    @model_validator(mode="after")
    def _max_covers_timeout(self) -> RedisStateConfig:
        if self.op_max_s < self.op_timeout_s:
            raise ValueError(
                f"op_max_s ({self.op_max_s:g}) must not be below op_timeout_s "
                f"({self.op_timeout_s:g})"
            )
        return self


class AffinityConfig(_Strict):
    """Which deployment of a model serves a call.

    * ``sticky``: once a deployment served a session's call for a model, the session's later
      calls for that model go there first while the pin is fresh — its idle TTL is the
      provider's ``cache_ttl_s``, the life of its prompt cache. Only for models whose
      ``cache_read`` price is below their ``input`` price (else a warm cache saves nothing).
    * ``strategy`` orders the candidates that are not pinned: ``order`` (as configured),
      ``price`` (cheapest model first: input price, then output), ``latency`` (lowest observed
      latency first, an exponentially weighted mean per deployment; unmeasured ones first so
      each gets measured), ``weighted`` (random, by each deployment's ``weight``).
    """

    sticky: bool = True
    strategy: Literal["order", "price", "latency", "weighted"] = "order"


class TelemetryConfig(_Strict):
    capture_content: bool = False
    log_events: bool | None = None
    """structlog events: ``None`` (auto) emits them once the application has configured
    structlog, so an unconfigured app gets no output from the library; ``true``/``false``
    force them on or off."""
