"""agentroute: route every model call of an agent's tool-calling loop.

Start cheap, climb a tier when the loop shows trouble, keep sessions on a warm prompt cache,
survive provider faults, and explain every decision. See the README for the two ways in
(``Router.wrap`` and ``Router.complete``) and docs/architecture.md for the architecture.
"""

from agentroute._chain import build_chain
from agentroute._secrets import Secret
from agentroute._types import (
    Attempt,
    AttemptOutcome,
    CallMode,
    CallNext,
    Cause,
    Decision,
    Deployment,
    Message,
    Middleware,
    ModelCall,
    ModelResult,
    Provider,
    Signals,
    StreamChunk,
    SwitchCost,
    Target,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageOf,
)
from agentroute._version import __version__
from agentroute.clock import Clock, SystemClock
from agentroute.config import RouterConfig
from agentroute.config._files import load_config
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
from agentroute.middleware.validation import Validator
from agentroute.policy import Policy
from agentroute.policy.classifier import HybridClassifier
from agentroute.policy.content import ContentRules
from agentroute.policy.tool_errors import ToolErrorDetector, ToolErrorSpec, ToolResult
from agentroute.providers.base import BaseProvider
from agentroute.router import Router
from agentroute.session import Session, SessionState, current_session
from agentroute.state import MemoryStateStore, StateStore
from agentroute.streaming import RoutedStream

__all__ = [
    "AgentRouteError",
    "AllAttemptsFailed",
    "Attempt",
    "AttemptOutcome",
    "AuthenticationFailed",
    "BadRequest",
    "BaseProvider",
    "BudgetExceeded",
    "CallMode",
    "CallNext",
    "Cause",
    "Clock",
    "ConfigurationError",
    "ContentPolicyRefusal",
    "ContentRules",
    "ContextWindowExceeded",
    "Decision",
    "Deployment",
    "HybridClassifier",
    "MemoryStateStore",
    "Message",
    "Middleware",
    "ModelCall",
    "ModelNotFound",
    "ModelResult",
    "Policy",
    "Provider",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "RoutedStream",
    "Router",
    "RouterConfig",
    "Secret",
    "Session",
    "SessionState",
    "Signals",
    "StateStore",
    "StepLimitExceeded",
    "StreamChunk",
    "StreamInterrupted",
    "SwitchCost",
    "SystemClock",
    "Target",
    "ToolCall",
    "ToolCallDelta",
    "ToolErrorDetector",
    "ToolErrorSpec",
    "ToolResult",
    "Usage",
    "UsageOf",
    "Validator",
    "__version__",
    "build_chain",
    "current_session",
    "load_config",
]
