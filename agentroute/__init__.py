"""agentroute: route every model call of an agent's tool-calling loop.

Start cheap, climb a tier when the loop shows trouble, keep sessions on a warm prompt cache,
survive provider faults, and explain every decision. See the README for the two ways in
(``Router.wrap`` and ``Router.complete``) and docs/architecture.md for the architecture.
"""

from agentroute._chain import build_chain
from agentroute._config_files import load_config
from agentroute._types import (
    Attempt,
    CallNext,
    Cause,
    Decision,
    Deployment,
    Middleware,
    ModelCall,
    ModelResult,
    Provider,
    Signals,
    StreamChunk,
    SwitchCost,
    Target,
    ToolCall,
    Usage,
)
from agentroute.config import RouterConfig
from agentroute.errors import (
    AgentRouteError,
    AllAttemptsFailed,
    AuthenticationFailed,
    BadRequest,
    BudgetExceeded,
    ConfigurationError,
    ContentPolicyRefusal,
    ContextWindowExceeded,
    ModelNotFound,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StepLimitExceeded,
    StreamInterrupted,
)
from agentroute.policy.tool_errors import ToolResult
from agentroute.router import Router
from agentroute.session import Session, SessionState, current_session
from agentroute.streaming import RoutedStream

__version__ = "0.1.0"

__all__ = [
    "AgentRouteError",
    "AllAttemptsFailed",
    "Attempt",
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "CallNext",
    "Cause",
    "ConfigurationError",
    "ContentPolicyRefusal",
    "ContextWindowExceeded",
    "Decision",
    "Deployment",
    "Middleware",
    "ModelCall",
    "ModelNotFound",
    "ModelResult",
    "Provider",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "RoutedStream",
    "Router",
    "RouterConfig",
    "Session",
    "SessionState",
    "Signals",
    "StepLimitExceeded",
    "StreamChunk",
    "StreamInterrupted",
    "SwitchCost",
    "Target",
    "ToolCall",
    "ToolResult",
    "Usage",
    "__version__",
    "build_chain",
    "current_session",
    "load_config",
]
