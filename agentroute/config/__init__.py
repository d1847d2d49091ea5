"""``RouterConfig``: the whole router described as data, validated when it is built.

Load it from YAML or TOML (:func:`~agentroute.load_config`), or build it in Python. Every
problem is reported as a :class:`~agentroute.errors.ConfigurationError` whose lines each name
the field (``models.sonnet.price.input``) and the reason; values are not echoed, so a misplaced
secret never reaches an error message. Secrets are written ``env:NAME`` and resolved at use
(:mod:`agentroute._secrets`).

The package holds one private module per concept and re-exports their public names here, the
one place to import them from:
"""

from __future__ import annotations

from agentroute.config._root import (
    SIGNAL_NAMES,
    AffinityConfig,
    BudgetConfig,
    ConfigurationError,
    DeploymentConfig,
    Integer,
    Keyword,
    MemoryStateConfig,
    ModelConfig,
    NonNeg,
    Number,
    PolicyConfig,
    Positive,
    Price,
    ProviderConfig,
    RedisStateConfig,
    ResilienceConfig,
    RouterConfig,
    Secret,
    SessionsConfig,
    TelemetryConfig,
    ToolErrorPreset,
    format_validation_error,
    move_legacy_session_keys,
)

__all__ = [
    "AffinityConfig",
    "BudgetConfig",
    "DeploymentConfig",
    "MemoryStateConfig",
    "ModelConfig",
    "PolicyConfig",
    "Price",
    "ProviderConfig",
    "RedisStateConfig",
    "ResilienceConfig",
    "RouterConfig",
    "SessionsConfig",
    "TelemetryConfig",
]
