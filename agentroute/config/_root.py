"""The whole router: :class:`RouterConfig`, its sections put together, and the checks that need
more than one section (a deployment's provider, a tier's models, the policy's tiers and
thresholds, the resilience fallback model, the budget's cap tier).

Tier order is the order of the ``tiers`` mapping (cheap → strong), as written in the file.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, ValidationError, model_validator

from agentroute._secrets import remember_secrets
from agentroute.config._affinity import AffinityConfig
from agentroute.config._budget import BudgetConfig
from agentroute.config._errors import format_validation_error
from agentroute.config._fields import _Strict
from agentroute.config._models import ModelConfig, ProviderConfig
from agentroute.config._policy import SIGNAL_NAMES, PolicyConfig
from agentroute.config._resilience import ResilienceConfig
from agentroute.config._sessions import (
    MemoryStateConfig,
    RedisStateConfig,
    SessionsConfig,
    move_legacy_session_keys,
)
from agentroute.config._shadow import ShadowConfig
from agentroute.config._telemetry import TelemetryConfig
from agentroute.errors import ConfigurationError

__all__ = ["RouterConfig"]

_STATE_KINDS = ("memory", "redis")


class RouterConfig(_Strict):
    """The router: providers, models, tiers (cheap → strong) and the policy's knobs."""

    providers: dict[str, ProviderConfig] = Field(min_length=1)
    models: dict[str, ModelConfig] = Field(min_length=1)
    tiers: dict[str, list[str]] = Field(min_length=1)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    resilience: ResilienceConfig = Field(default_factory=ResilienceConfig)
    affinity: AffinityConfig = Field(default_factory=AffinityConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    state: Annotated[MemoryStateConfig | RedisStateConfig, Field(discriminator="kind")] = Field(
        default_factory=MemoryStateConfig
    )
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    shadow: ShadowConfig | None = None
    """Shadow routing (:mod:`agentroute.shadow`); ``None``: off."""

    _legacy_session_keys = model_validator(mode="before")(move_legacy_session_keys)

    @model_validator(mode="after")
    def _cross_check(self) -> RouterConfig:
        problems: list[str] = []
        for model_name, model in self.models.items():
            seen: set[tuple[str, str]] = set()
            for i, dep in enumerate(model.deployments):
                where = f"models.{model_name}.deployments.{i}"
                if dep.provider not in self.providers:
                    problems.append(
                        f"{where}.provider: unknown provider {dep.provider!r} "
                        f"(known: {', '.join(self.providers)})"
                    )
                if (dep.provider, dep.name) in seen:
                    problems.append(f"{where}: duplicate deployment {dep.provider}/{dep.name}")
                seen.add((dep.provider, dep.name))
        for tier, names in self.tiers.items():
            if not names:
                problems.append(f"tiers.{tier}: a tier needs at least one model")
            for name in names:
                if name not in self.models:
                    problems.append(
                        f"tiers.{tier}: unknown model {name!r} (known: {', '.join(self.models)})"
                    )
            if len(set(names)) != len(names):
                problems.append(f"tiers.{tier}: a model is listed twice")
        problems.extend(self._check_policy())
        r = self.resilience
        if (
            r.deadline_s is not None
            and r.attempt_timeout_s is not None
            and (r.deadline_s < r.attempt_timeout_s)
        ):
            problems.append("resilience.deadline_s: must be >= resilience.attempt_timeout_s")
        fallback = self.resilience.content_policy_fallback
        if fallback is not None and not any(fallback in names for names in self.tiers.values()):
            problems.append(
                f"resilience.content_policy_fallback: {fallback!r} is not a model of any tier"
            )
        cap_tier = self.budget.cap_tier
        if cap_tier is not None and cap_tier not in self.tiers:
            problems.append(f"budget.cap_tier: unknown tier {cap_tier!r}")
        problems.extend(self._check_shadow())
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _check_shadow(self) -> list[str]:
        shadow = self.shadow
        if shadow is None:
            return []
        known = ", ".join(self.tiers)
        if shadow.tier not in self.tiers:
            return [f"shadow.tier: unknown tier {shadow.tier!r} (tiers: {known})"]
        return [
            f"shadow.tiers: unknown tier {tier!r} (tiers: {known})"
            for tier in shadow.tiers or ()
            if tier not in self.tiers
        ]

    @property
    def shadowed_tiers(self) -> tuple[str, ...]:
        """The served tiers shadow routing samples (``shadow.tiers``, default every tier below
        the reference tier); empty when shadow routing is off."""
        shadow = self.shadow
        if shadow is None:
            return ()
        if shadow.tiers is not None:
            return tuple(shadow.tiers)
        tiers = list(self.tiers)
        return tuple(tiers[: tiers.index(shadow.tier)])

    @model_validator(mode="after")
    def _remember_secrets(self) -> RouterConfig:
        """Every secret of the config is masked by ``redact()`` from now on: literal ones, and
        ``env:`` ones whose variable is set (the Router does it again when it is built)."""
        remember_secrets(self)
        return self

    def _check_policy(self) -> list[str]:
        problems: list[str] = []
        tiers = list(self.tiers)
        policy = self.policy
        if policy.start_tier is not None and policy.start_tier not in self.tiers:
            problems.append(
                f"policy.start_tier: unknown tier {policy.start_tier!r} (tiers: {', '.join(tiers)})"
            )
        for signal in policy.weights:
            if signal not in SIGNAL_NAMES:
                problems.append(
                    f"policy.weights.{signal}: unknown signal (known: {', '.join(SIGNAL_NAMES)})"
                )
        for field_name, mapping in (("task_types", policy.task_types), ("plans", policy.plans)):
            for key, tier in mapping.items():
                if tier not in self.tiers:
                    problems.append(f"policy.{field_name}.{key}: unknown tier {tier!r}")
        for tier in policy.thresholds:
            if tier not in self.tiers:
                problems.append(f"policy.thresholds.{tier}: unknown tier")
            elif tier == tiers[0]:
                problems.append(
                    f"policy.thresholds.{tier}: the first tier has no threshold (it is the floor)"
                )
        if not problems:
            values = self.thresholds
            for lower, upper in itertools.pairwise(tiers[1:]):
                if values[upper] <= values[lower]:
                    problems.append(
                        f"policy.thresholds: must increase in tier order, but {upper} "
                        f"({values[upper]:g}) <= {lower} ({values[lower]:g})"
                    )
        return problems

    # Derived views -----------------------------------------------------------------------

    @property
    def tier_names(self) -> tuple[str, ...]:
        """Tier names, cheap → strong."""
        return tuple(self.tiers)

    @property
    def start_tier(self) -> str:
        return self.policy.start_tier or next(iter(self.tiers))

    @property
    def thresholds(self) -> dict[str, float]:
        """The score at which each tier above the first starts (defaults filled in)."""
        out: dict[str, float] = {}
        for i, tier in enumerate(list(self.tiers)[1:], start=1):
            out[tier] = self.policy.thresholds.get(tier, round(0.3 * i, 6))
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "config") -> RouterConfig:
        """Validate a plain mapping; errors become one ConfigurationError naming each field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            message = format_validation_error(exc, source, unions={"state": _STATE_KINDS})
            raise ConfigurationError(message) from None
