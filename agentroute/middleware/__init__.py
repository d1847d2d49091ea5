"""The built-in middlewares, outermost first (docs/architecture.md, "Call path").

A user's own middlewares (``Router(middleware=[...])``) run right after routing: they see the
call with its :class:`~agentroute.Decision` and candidate targets set, and wrap every attempt
the fallback step makes, so they are called once per routed call.
"""

from agentroute.middleware.fallback import FallbackMiddleware
from agentroute.middleware.routing import RoutingMiddleware

__all__ = ["FallbackMiddleware", "RoutingMiddleware"]
