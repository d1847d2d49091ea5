"""What the framework integrations use of a router: :class:`RouterLike`.

The integrations (:mod:`agentroute.integrations`) are built on a router, and the router hands
two of them out (``Router.openai_client()``, ``Router.anthropic_client()``). Typed against the
:class:`~agentroute.Router` class itself, they would import the router module and the router
theirs: a cycle. Typed against this protocol — the three members they use — they import nothing
above the configuration, and the router, which has all three, is one without saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agentroute._types import UsageOf

if TYPE_CHECKING:
    from agentroute.config import RouterConfig

__all__ = ["RouterLike"]


@runtime_checkable
class RouterLike(Protocol):
    """A router as an integration sees it: its validated config, ``wrap()`` and
    ``bind_session()`` (:class:`~agentroute.Router` documents each)."""

    @property
    def config(self) -> RouterConfig:
        """The validated configuration (tiers, models, providers)."""
        ...

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
        """Route every call of the async callable ``fn``."""
        ...

    def bind_session(self, session_id: str) -> AbstractContextManager[None]:
        """Calls made inside join the session named ``session_id``."""
        ...
