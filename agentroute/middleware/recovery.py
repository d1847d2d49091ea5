"""What to do after a failed attempt: one table from error class to action, and the backoff.

The fallback step (:mod:`agentroute.middleware.fallback`) looks every provider error up in
:data:`RULES` (first matching row wins) instead of deciding in scattered ``except`` blocks:

=========================  ======================  ==========================================
error                      action                  cooldown
=========================  ======================  ==========================================
BadRequest                 raise                   no: the request is wrong everywhere
ContextWindowExceeded      bigger window           no: the lowest model (this tier or above)
                                                   whose window is larger
ContentPolicyRefusal       content fallback        no: ``resilience.content_policy_fallback``
                                                   (raise when none is configured)
AuthenticationFailed       next deployment         at once: the key will not fix itself
ModelNotFound              next deployment         at once: the deployment's name is wrong
RateLimited                retry, then next        counted (``Retry-After`` above the cap:
                                                   at once, for that long, and move on)
ProviderUnavailable        retry, then next        counted
ProviderTimeout            retry, then next        counted
ProviderConnectionError    retry, then next        counted
any other ProviderError    next deployment         counted
=========================  ======================  ==========================================

"Retry" means the same deployment again after a backoff, up to ``resilience.max_retries``
times (the same deployment keeps its prompt cache warm); then the next deployment of the same
model, then the next model of the tier, then — when ``escalate_on_exhaustion`` is on — the next
tier up. "Counted" failures put a deployment aside for ``cooldown_s`` once it has
``allowed_fails`` of them within ``failure_window_s``. Errors outside the tree (programming
errors, cancellation) are not in the table: they propagate at once and are never retried.
"""

from __future__ import annotations

from enum import StrEnum

from agentroute._frozen import value_object
from agentroute.errors import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRefusal,
    ContextWindowExceeded,
    ModelNotFound,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

__all__ = ["RULES", "Action", "Backoff", "CoolDown", "Rule", "rule_for"]


class Action(StrEnum):
    """Where the next attempt goes."""

    RETRY = "retry"
    """The same deployment after a backoff (up to ``max_retries``), then as NEXT_DEPLOYMENT."""
    NEXT_DEPLOYMENT = "next_deployment"
    """The next candidate: the model's next deployment, the tier's next model, a tier up."""
    BIGGER_WINDOW = "bigger_window"
    """The lowest model, in this tier or above, whose context window is larger."""
    CONTENT_FALLBACK = "content_fallback"
    """The configured content-policy fallback model (raise when none is configured)."""
    RAISE = "raise"
    """Stop: the call fails with every attempt so far."""


class CoolDown(StrEnum):
    """How a failure counts against its deployment."""

    NO = "no"
    COUNTED = "counted"
    """One of ``allowed_fails`` within ``failure_window_s``."""
    AT_ONCE = "at_once"
    """Put aside for ``cooldown_s`` right away."""


@value_object
class Rule:
    """One row of the table."""

    error: type[ProviderError]
    action: Action
    cooldown: CoolDown


RULES: tuple[Rule, ...] = (
    Rule(BadRequest, Action.RAISE, CoolDown.NO),
    Rule(ContextWindowExceeded, Action.BIGGER_WINDOW, CoolDown.NO),
    Rule(ContentPolicyRefusal, Action.CONTENT_FALLBACK, CoolDown.NO),
    Rule(AuthenticationFailed, Action.NEXT_DEPLOYMENT, CoolDown.AT_ONCE),
    Rule(ModelNotFound, Action.NEXT_DEPLOYMENT, CoolDown.AT_ONCE),
    Rule(RateLimited, Action.RETRY, CoolDown.COUNTED),
    Rule(ProviderUnavailable, Action.RETRY, CoolDown.COUNTED),
    Rule(ProviderTimeout, Action.RETRY, CoolDown.COUNTED),
    Rule(ProviderConnectionError, Action.RETRY, CoolDown.COUNTED),
    Rule(ProviderError, Action.NEXT_DEPLOYMENT, CoolDown.COUNTED),
)
"""The policy table; first matching row wins (subclasses before their bases)."""

_BY_CLASS: dict[type[ProviderError], Rule] = {}


def rule_for(error: ProviderError) -> Rule:
    """The first row of :data:`RULES` matching ``error`` (memoized by class)."""
    cls = type(error)
    found = _BY_CLASS.get(cls)
    if found is None:
        found = next(r for r in RULES if isinstance(error, r.error))
        _BY_CLASS[cls] = found
    return found


@value_object
class Backoff:
    """Exponential backoff with full jitter, and ``Retry-After`` honoured up to a cap.

    The *n*-th retry of a deployment waits a uniform draw in ``[0, min(max_s, base_s·2ⁿ⁻¹))``
    (AWS's "full jitter": clients that failed together do not retry together). When the provider
    said ``Retry-After``, that is waited instead, if it is at most ``retry_after_cap_s``; above
    the cap, :meth:`delay` returns ``None``: do not wait here, move on (and cool the deployment
    down for that long).
    """

    base_s: float = 0.5
    max_s: float = 8.0
    retry_after_cap_s: float = 30.0

    def delay(self, retry: int, retry_after: float | None, draw: float) -> float | None:
        """Seconds to wait before retry number ``retry`` (1-based); ``draw`` is in [0, 1)."""
        if retry_after is not None:
            return retry_after if retry_after <= self.retry_after_cap_s else None
        return draw * min(self.max_s, self.base_s * 2.0 ** (retry - 1))
