"""Every name ``agentroute.config`` offered before it became a package is still importable from
it, and is the same object as where it is defined now.

Pinned before the move, so the move is checked against what users could import: the public
``__all__`` (unchanged), and the other names the module had of its own or re-exported from the
sections it held (field types, the signal names, the tool-error presets, the legacy-key
migration, the validation-error formatter), plus the two user-facing types it imported
(``Secret``, ``ConfigurationError``). Not pinned: what it imported for its own use from
pydantic, ``typing`` or agentroute's private helpers.
"""

from __future__ import annotations

import importlib

import pytest

import agentroute.config

PUBLIC = [
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

ALSO_IMPORTABLE = [
    "ConfigurationError",
    "Integer",
    "Keyword",
    "NonNeg",
    "Number",
    "Positive",
    "SIGNAL_NAMES",
    "Secret",
    "ToolErrorPreset",
    "format_validation_error",
    "move_legacy_session_keys",
]


def test_the_public_names_are_unchanged() -> None:
    assert sorted(agentroute.config.__all__) == PUBLIC


@pytest.mark.parametrize("name", PUBLIC + ALSO_IMPORTABLE)
def test_every_name_is_importable_from_agentroute_config(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from agentroute.config import {name}", namespace)  # the statement users write
    assert namespace[name] is getattr(agentroute.config, name)


@pytest.mark.parametrize("name", PUBLIC)
def test_each_config_class_is_defined_where_it_says(name: str) -> None:
    cls = getattr(agentroute.config, name)
    assert getattr(importlib.import_module(cls.__module__), name) is cls
