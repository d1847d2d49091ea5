"""``RouterConfig``: the whole router described as data, validated when it is built.

Load it from YAML or TOML (:func:`~agentroute.load_config`), or build it in Python. Every
problem is reported as a :class:`~agentroute.errors.ConfigurationError` whose lines each name
the field (``models.sonnet.price.input``) and the reason; values are not echoed, so a misplaced
secret never reaches an error message. Secrets are written ``env:NAME`` and resolved at use
(:mod:`agentroute._secrets`).

Import every name from here. The package keeps one private module per concept:

* ``_fields``: the number types and the strict base model every section is built from;
* ``_price``: :class:`Price` (apart, so that :mod:`agentroute.pricing` can build one);
* ``_models``: what can be called: :class:`ProviderConfig`, :class:`DeploymentConfig`,
  :class:`ModelConfig`;
* ``_policy``: :class:`PolicyConfig`, the signal names, the tool-error preset names;
* ``_resilience``, ``_budget``, ``_affinity``, ``_telemetry``, ``_shadow``: one section each;
* ``_sessions``: :class:`SessionsConfig` and the ``state`` store's settings;
* ``_root``: :class:`RouterConfig` and the checks across sections;
* ``_files``: YAML and TOML files → a ``RouterConfig`` (:func:`agentroute.load_config`);
* ``_errors``: pydantic's validation errors as one message naming each field (the
  simulator's config uses it too).

The names imported here ``as`` themselves (the number types, the signal and preset names, the
legacy-key move, the error formatter, ``Secret``, ``ConfigurationError``) stay importable from
``agentroute.config`` as they were before it became a package, without being in ``__all__``.
"""

from __future__ import annotations

from agentroute._secrets import Secret as Secret
from agentroute.config._affinity import AffinityConfig
from agentroute.config._budget import BudgetConfig
from agentroute.config._errors import format_validation_error as format_validation_error
from agentroute.config._fields import Integer as Integer
from agentroute.config._fields import NonNeg as NonNeg
from agentroute.config._fields import Number as Number
from agentroute.config._fields import Positive as Positive
from agentroute.config._models import DeploymentConfig, ModelConfig, ProviderConfig
from agentroute.config._policy import SIGNAL_NAMES as SIGNAL_NAMES
from agentroute.config._policy import Keyword as Keyword
from agentroute.config._policy import PolicyConfig
from agentroute.config._policy import ToolErrorPreset as ToolErrorPreset
from agentroute.config._price import Price
from agentroute.config._resilience import ResilienceConfig
from agentroute.config._root import RouterConfig
from agentroute.config._sessions import (
    MemoryStateConfig,
    RedisStateConfig,
    SessionsConfig,
)
from agentroute.config._sessions import move_legacy_session_keys as move_legacy_session_keys
from agentroute.config._shadow import ShadowConfig
from agentroute.config._telemetry import TelemetryConfig
from agentroute.errors import ConfigurationError as ConfigurationError

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
    "ShadowConfig",
    "TelemetryConfig",
]
