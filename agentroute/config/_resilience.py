"""The ``resilience`` section: retries, fallbacks, deadlines and cooldowns."""

from __future__ import annotations

from pydantic import Field

from agentroute.config._fields import Integer, NonNeg, Positive, _Strict

__all__ = ["ResilienceConfig"]


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
