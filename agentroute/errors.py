"""The error tree. Every error agentroute raises is one of these::

    AgentRouteError
    ├── ConfigurationError           a developer's mistake (config, call shape): never retried
    ├── ProviderError                a provider answered with an error or could not be reached
    │   ├── RateLimited              429; carries ``retry_after`` when the provider sent one
    │   ├── ProviderUnavailable      5xx, 529 overloaded, 409 conflict
    │   ├── ProviderTimeout          the attempt timed out (408, client timeouts)
    │   ├── ProviderConnectionError  connect/read/protocol errors, dropped connections
    │   ├── ContextWindowExceeded    the input does not fit the model's context window
    │   ├── ContentPolicyRefusal     the provider refused the content
    │   ├── AuthenticationFailed     401/403: bad or missing credentials for that deployment
    │   ├── ModelNotFound            404: the deployment's model name is unknown to the provider
    │   └── BadRequest               other 4xx: the request itself is wrong; never retried
    ├── BudgetExceeded               the session's cost budget is spent
    ├── StepLimitExceeded            the session reached its step limit
    ├── StreamInterrupted            a stream failed after its first chunk was delivered;
    │                                holds the partial output and the cause
    └── AllAttemptsFailed            (also an ExceptionGroup) every attempt failed; holds each
                                     attempt's error and its :class:`~agentroute.Attempt` record

Foreign errors (SDK, httpx) are translated at the boundary with ``raise ... from exc``, so the
original stays reachable as ``__cause__``. Messages never contain secret values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from agentroute._pin_event import PinEvent
    from agentroute._types import Attempt, ModelResult

__all__ = [
    "AgentRouteError",
    "AllAttemptsFailed",
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "ConfigurationError",
    "ContentPolicyRefusal",
    "ContextWindowExceeded",
    "ModelNotFound",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "StepLimitExceeded",
    "StreamInterrupted",
]


class AgentRouteError(Exception):
    """Base of every error raised by agentroute."""


class ConfigurationError(AgentRouteError):
    """A developer's mistake: invalid config, unknown name, missing env var, bad call shape."""


class ProviderError(AgentRouteError):
    """A provider answered with an error, or could not be reached.

    Attributes name where it happened; any of them may be ``None`` when unknown (for instance
    when the error was classified outside a routed call).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        deployment: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.deployment = deployment
        self.status_code = status_code
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.deployment) if p)
        parts = [self.message]
        if where:
            parts.append(f"deployment={where}")
        if self.model:
            parts.append(f"model={self.model}")
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        if self.retry_after is not None:
            parts.append(f"retry_after={self.retry_after:g}s")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"

    def located(self, *, provider: str, model: str, deployment: str) -> Self:
        """Fill in where the error happened (keeps values already set); returns ``self``."""
        self.provider = self.provider or provider
        self.model = self.model or model
        self.deployment = self.deployment or deployment
        return self


class RateLimited(ProviderError):
    """HTTP 429: too many requests or tokens; ``retry_after`` is honoured when present."""


class ProviderUnavailable(ProviderError):
    """HTTP 5xx (and Anthropic's 529 overloaded, 409 conflict): a transient server fault."""


class ProviderTimeout(ProviderError):
    """The attempt did not finish in time (client timeout, HTTP 408)."""


class ProviderConnectionError(ProviderError):
    """The connection could not be made or was dropped before a full answer."""


class ContextWindowExceeded(ProviderError):
    """The call does not fit the model's context window (said by the provider, or known before)."""


class ContentPolicyRefusal(ProviderError):
    """The provider refused the request or its output on content-policy grounds."""


class AuthenticationFailed(ProviderError):
    """HTTP 401/403: the deployment's credentials are missing, wrong or not allowed."""


class ModelNotFound(ProviderError):
    """HTTP 404: the provider does not know the deployment's model name."""


class BadRequest(ProviderError):
    """Another 4xx: the request is malformed; retrying it elsewhere would fail the same way."""


class BudgetExceeded(AgentRouteError):
    """The session's ``max_cost_usd`` is spent; raised before any network call.

    ``session_id``, ``spent_usd`` and ``limit_usd`` say whose budget and how far (None when
    the error was built without them)."""

    def __init__(
        self,
        message: str,
        *,
        session_id: str | None = None,
        spent_usd: float | None = None,
        limit_usd: float | None = None,
    ) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd


class StepLimitExceeded(AgentRouteError):
    """The session made ``max_steps`` model calls; raised before any network call.

    ``session_id``, ``steps`` (calls made) and ``limit`` say whose limit and where it stands
    (None when the error was built without them)."""

    def __init__(
        self,
        message: str,
        *,
        session_id: str | None = None,
        steps: int | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.steps = steps
        self.limit = limit


class StreamInterrupted(AgentRouteError):
    """A routed stream failed after its first chunk had been delivered.

    Chunks already handed to the caller cannot be taken back, so the router does not fall back
    silently here (before the first chunk it does, like any call). ``partial`` is what arrived:
    a :class:`~agentroute.ModelResult` with the text and the complete tool calls so far, the
    target, and every attempt of the call (the interrupted one last, with its error);
    ``error`` is the cause (a :class:`ProviderError`, also ``__cause__``).
    """

    def __init__(self, message: str, *, partial: ModelResult, error: ProviderError) -> None:
        super().__init__(message)
        self.partial = partial
        self.error = error


class AllAttemptsFailed(ExceptionGroup[Exception], AgentRouteError):
    """Every attempt of a routed call failed.

    An ``ExceptionGroup`` of each attempt's error, in order, so ``except*`` works; ``attempts``
    holds the matching :class:`~agentroute.Attempt` records (deployment, model, tier, error
    class, duration, retry_after, cancelled or not).
    """

    attempts: tuple[Attempt, ...]
    pin: PinEvent | None = None
    """What affinity did for the call (a pin it broke), if it acted on it."""

    def __new__(
        cls, message: str, exceptions: Sequence[Exception], attempts: Sequence[Attempt] = ()
    ) -> Self:
        self = super().__new__(cls, message, exceptions)
        self.attempts = tuple(attempts)
        return self

    def __init__(
        self, message: str, exceptions: Sequence[Exception], attempts: Sequence[Attempt] = ()
    ) -> None:
        super().__init__(message, exceptions)

    def derive(self, excs: Sequence[Exception]) -> AllAttemptsFailed:  # type: ignore[override]
        kept = {id(e) for e in excs}
        attempts = [a for a in self.attempts if id(a.error) in kept]
        derived = AllAttemptsFailed(self.message, excs, attempts)
        derived.pin = self.pin
        return derived
