"""The config turned into lookup tables the hot path can use without recomputing anything.

Built once per Router: tier order, each tier's :class:`~agentroute.Target` list (every model's
deployments, in config order), prices by model, and per-deployment call keyword arguments with
their secrets still unresolved (resolved at use: docs/architecture.md, "Configuration").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentroute._secrets import Secret
from agentroute._types import Deployment, Target
from agentroute.config import Price, RouterConfig
from agentroute.errors import ConfigurationError


class Catalog:
    """Read-only views of a RouterConfig for routing and the terminals."""

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.tiers: tuple[str, ...] = config.tier_names
        self._tier_index = {t: i for i, t in enumerate(self.tiers)}
        self.prices: dict[str, Price] = {name: m.price for name, m in config.models.items()}
        self._targets: dict[tuple[str, str], tuple[Target, ...]] = {}
        self._kwargs: dict[tuple[str, str], tuple[dict[str, Any], bool]] = {}
        for tier, models in config.tiers.items():
            for model in models:
                self._targets[(tier, model)] = self._build_targets(tier, model)
        self._by_candidates: dict[tuple[str, tuple[str, ...]], tuple[Target, ...]] = {}
        share = 1.0 - config.policy.context_margin
        self._usable = {name: m.context_window * share for name, m in config.models.items()}
        self._tier_models = {tier: tuple(models) for tier, models in config.tiers.items()}
        self._tier_usable = {
            tier: min(self._usable[m] for m in models) for tier, models in config.tiers.items()
        }
        self._windows = {
            tier: min(config.models[m].context_window for m in models)
            for tier, models in config.tiers.items()
        }

    def _build_targets(self, tier: str, model: str) -> tuple[Target, ...]:
        spec = self.config.models[model]
        out = []
        for dep in spec.deployments:
            provider = self.config.providers[dep.provider]
            out.append(
                Target(
                    model=model,
                    tier=tier,
                    provider=dep.provider,
                    provider_kind=provider.kind,
                    deployment=dep.name,
                    context_window=spec.context_window,
                    max_output_tokens=spec.max_output_tokens,
                )
            )
            merged = {**provider.kwargs, **dep.kwargs}
            self._kwargs[(dep.provider, dep.name)] = (merged, _has_secret(merged))
        return tuple(out)

    def fitting(self, tier: str, tokens: int) -> tuple[str, ...]:
        """``tier``'s models whose window, less ``policy.context_margin``, holds ``tokens``."""
        if tokens <= self._tier_usable[tier]:  # the common case: every model of the tier fits
            return self._tier_models[tier]
        return tuple(m for m in self._tier_models[tier] if tokens <= self._usable[m])

    def smallest_window(self, tier: str) -> int:
        """The smallest context window among ``tier``'s models."""
        return self._windows[tier]

    def highest(self, reached: Sequence[str]) -> str | None:
        """The highest of ``reached`` by the ladder's order (``None``: none; a tier not in the
        ladder counts below every one that is)."""
        rank = self._tier_index
        return max(reached, key=lambda t: rank.get(t, -1)) if reached else None

    def index(self, tier: str) -> int:
        """Position of ``tier`` in the ladder (0 = cheapest)."""
        try:
            return self._tier_index[tier]
        except KeyError:
            raise ConfigurationError(
                f"unknown tier {tier!r} (tiers: {', '.join(self.tiers)})"
            ) from None

    def ceiling(self, cap: str | None) -> int:
        """Ladder position of the highest tier a call may climb to inside itself (a validation
        re-run, ``escalate_on_exhaustion``): the budget's tier cap ``cap``, else the top."""
        return self.index(cap) if cap else len(self.tiers) - 1

    def targets(self, tier: str, models: Sequence[str] | None = None) -> tuple[Target, ...]:
        """Every deployment of ``models`` (default: the tier's models), in preference order."""
        names = self.config.tiers[tier] if models is None else models
        key = (tier, tuple(names))
        found = self._by_candidates.get(key)
        if found is None:
            found = ()
            for model in names:
                if model not in self.config.models:
                    raise ConfigurationError(f"unknown model {model!r} in a routing decision")
                found += self._targets.get((tier, model)) or self._build_targets(tier, model)
            self._by_candidates[key] = found
        return found

    def tier_above(self, tier: str) -> str | None:
        """The next tier up the ladder, or ``None`` at the top."""
        i = self._tier_index[tier] + 1
        return self.tiers[i] if i < len(self.tiers) else None

    def larger_window(self, target: Target) -> tuple[Target, ...]:
        """The deployments of the lowest model — in ``target``'s tier or above, in ladder then
        config order — whose context window is larger than ``target``'s (empty if none)."""
        for tier in self.tiers[self._tier_index[target.tier] :]:
            for model in self._tier_models[tier]:
                if self.config.models[model].context_window > target.context_window:
                    return self.targets(tier, (model,))
        return ()

    def model_targets(self, model: str) -> tuple[Target, ...]:
        """The deployments of ``model`` in the lowest tier that lists it (empty if none)."""
        for tier in self.tiers:
            if model in self._tier_models[tier]:
                return self.targets(tier, (model,))
        return ()

    def call_kwargs(self, target: Target) -> dict[str, Any]:
        """Keyword arguments configured for ``target``'s deployment, secrets resolved now."""
        merged, secret = self._kwargs[(target.provider, target.deployment)]
        if not secret:
            return dict(merged)
        return {k: _resolve(v, f"{target.key} kwargs.{k}") for k, v in merged.items()}

    def deployment(self, target: Target) -> Deployment:
        """``target`` as a :class:`~agentroute.Deployment`: its provider's address and
        credentials, secrets resolved now (a missing ``env:`` variable is a
        ConfigurationError naming it)."""
        provider = self.config.providers[target.provider]
        where = f"providers.{target.provider}"
        key = provider.api_key
        return Deployment(
            provider=target.provider,
            kind=target.provider_kind,
            model=target.model,
            name=target.deployment,
            tier=target.tier,
            base_url=provider.base_url,
            api_key=None if key is None else key.resolve(f"{where}.api_key"),
            headers={
                name: value.resolve(f"{where}.headers.{name}")
                for name, value in provider.headers.items()
            },
        )

    def configured_kwargs(self) -> dict[str, dict[str, Any]]:
        """Every deployment's configured call keyword arguments (provider's and deployment's
        merged, secrets unresolved), by ``provider/deployment``, for every model in the config
        (also one no tier lists): what ``wrap()`` checks a function against once."""
        providers = self.config.providers
        return {
            f"{dep.provider}/{dep.name}": {**providers[dep.provider].kwargs, **dep.kwargs}
            for spec in self.config.models.values()
            for dep in spec.deployments
        }


def _has_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def _resolve(value: Any, where: str) -> Any:
    """A copy of ``value`` with every Secret inside replaced by its value."""
    if isinstance(value, Secret):
        return value.resolve(where)
    if isinstance(value, dict):
        return {k: _resolve(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, where) for v in value]
    return value
