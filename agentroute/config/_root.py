"""``RouterConfig``: the whole router described as data, validated when it is built.

Load it from YAML or TOML (:func:`load_config`), or build it in Python. Every problem is
reported as a :class:`~agentroute.errors.ConfigurationError` whose lines each name the field
(``models.sonnet.price.input``) and the reason; values are not echoed, so a misplaced secret
never reaches an error message. Secrets are written ``env:NAME`` and resolved at use
(:mod:`agentroute._secrets`).

Decisions where the design is silent:

* Tier order is the order of the ``tiers`` mapping (cheap → strong), as written in the file.
* ``policy.thresholds`` maps every tier but the first to the score at which it starts; omitted
  tiers get evenly spaced defaults (0.3, 0.6, 0.9, …) and the result must be strictly
  increasing in tier order.
* Prices are USD per million tokens. ``cache_read`` defaults to ``input`` (no discount) and
  ``cache_write`` to ``input`` (no premium) when a provider has no caching price;
  ``cache_write_1h`` defaults to ``cache_write``. A model without a price gets one from the
  genai-prices database (:class:`ModelConfig`).
* Files are read by :mod:`agentroute._config_files` (``load_config``); duplicate YAML keys
  are an error there.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from agentroute.config._sections import (
    AffinityConfig,
    BudgetConfig,
    Integer,
    MemoryStateConfig,
    NonNeg,
    Number,
    Positive,
    Price,
    RedisStateConfig,
    ResilienceConfig,
    SessionsConfig,
    TelemetryConfig,
    ToolErrorPreset,
    _Strict,
    move_legacy_session_keys,
)
from agentroute._secrets import ENV_PREFIX, Secret, remember_secrets
from agentroute._urls import HTTP_URL_RULE, is_http_url
from agentroute._validation_errors import format_validation_error
from agentroute.errors import ConfigurationError

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

SIGNAL_NAMES = (
    "content",
    "step",
    "tool_errors_total",
    "tool_errors_recent",
    "repeated_tool_calls",
    "context_fraction",
    "validation_failures",
    "escalation_requested",
)


_SECRET_WORDS = ("key", "token", "secret", "password", "authorization")


_STATE_KINDS = ("memory", "redis")


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank (it would match every turn)")
    return text


Keyword = Annotated[str, AfterValidator(_not_blank)]


def _protect(value: Any, key: str = "") -> Any:
    """``env:NAME`` strings become Secrets, and so do literal strings under secret-looking keys
    (``api_key``, ``Authorization``, …), at any depth of nested mappings and lists."""
    if isinstance(value, Mapping):
        return {k: _protect(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_protect(v, key) for v in value]
    if isinstance(value, str) and (
        value.startswith(ENV_PREFIX) or any(w in key.lower() for w in _SECRET_WORDS)
    ):
        return Secret.parse(value)
    return value


def _protect_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: _protect(v, k) for k, v in kwargs.items()}


def _show(value: Any) -> Any:
    """Serialize with secrets as their references (``env:NAME``) or masked."""
    if isinstance(value, Secret):
        return value.display
    if isinstance(value, dict):
        return {k: _show(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_show(v) for v in value]
    return value


def _show_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: _show(v) for k, v in kwargs.items()}


class ProviderConfig(_Strict):
    """Where and how to reach one provider account.

    ``kind`` is the wire format (``openai``: Chat Completions and compatible servers;
    ``anthropic``: Messages API). ``kwargs`` are passed to a wrapped call function for every
    deployment of this provider (string values ``env:NAME`` are resolved at call time).
    ``cache_breakpoints`` (``kind: anthropic``): automatic ``cache_control`` breakpoints on the
    tools, system prompt and last message (``None``: on). ``prompt_cache_key`` (``kind:
    openai``): send the session key as ``prompt_cache_key`` (``None``: on for the official API,
    i.e. no ``base_url`` or ``api.openai.com``, off for other servers, which may reject it).
    Both apply to a ``wrap()``-ed function's call too (see
    :mod:`agentroute.providers.function_cache`).
    ``base_url`` must be an ``http://`` or ``https://`` URL with a host (a key pasted there by
    mistake is an error naming the field, never quoting the value).
    """

    kind: Literal["openai", "anthropic"] = "openai"
    base_url: str | None = None
    api_key: Secret | None = None
    cache_ttl_s: NonNeg = 300.0
    cache_breakpoints: bool | None = None
    prompt_cache_key: bool | None = None
    headers: dict[str, Secret] = Field(default_factory=dict)
    kwargs: dict[str, Any] = Field(default_factory=dict)

    _kwargs = field_validator("kwargs")(_protect_kwargs)
    _dump_kwargs = field_serializer("kwargs")(_show_kwargs)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not is_http_url(value):
            raise ValueError(HTTP_URL_RULE)
        return value


class DeploymentConfig(_Strict):
    """One provider's deployment of a model: which provider, and the provider's model name."""

    provider: str = Field(min_length=1)
    name: str = Field(min_length=1)
    weight: Positive = 1.0
    kwargs: dict[str, Any] = Field(default_factory=dict)

    _kwargs = field_validator("kwargs")(_protect_kwargs)
    _dump_kwargs = field_serializer("kwargs")(_show_kwargs)


class ModelConfig(_Strict):
    """A model: its window, its deployments (in order of preference) and its price.

    ``price`` may be omitted: it is then looked up in the genai-prices database when the
    config is validated (needs ``pip install 'agentroute[prices]'``), by ``price_ref`` —
    ``"provider:model"`` with a genai-prices provider id (``anthropic``, ``openai``,
    ``openrouter``, ``deepseek``, …), or a bare ``"model"`` whose provider is guessed from the
    name — else by the first deployment's ``provider:name`` (the provider's name in this config
    taken as the id; when genai-prices knows no such provider, guessed from the model name).
    A configured price always wins. No price anywhere is an error naming
    ``models.<name>.price``. See :func:`agentroute.pricing.lookup_price`.
    """

    context_window: Integer = Field(gt=0)
    max_output_tokens: Integer | None = Field(default=None, gt=0)
    """The most output tokens one answer of this model may take. Its one effect: the built-in
    providers lower a call's ``max_tokens``/``max_completion_tokens`` above it to it (a limit
    meant for a bigger model of another tier would be refused by this one's API), and the
    Anthropic provider's 4096 default when the call sets none. A call without a limit is sent
    as before, a ``wrap()``-ed function gets the caller's arguments, and the context-window
    check counts the input only (less ``policy.context_margin``)."""
    price_ref: str | None = Field(default=None, min_length=1)
    deployments: list[DeploymentConfig] = Field(min_length=1)
    # After ``price_ref`` and ``deployments``: its lookup reads them. Always a Price once
    # validated (the validator fills it in or fails).
    price: Price = Field(default=None, validate_default=True)

    @field_validator("price", mode="before")
    @classmethod
    def _look_up_price(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            return value
        from agentroute.pricing import PriceNotFound, lookup_price

        ref: str | None = info.data.get("price_ref")
        guess = False
        if ref is None:
            deployments: list[DeploymentConfig] = info.data.get("deployments") or []
            if not deployments:
                raise ValueError("no price configured, and no deployment to look one up by")
            first = deployments[0]
            ref, guess = f"{first.provider}:{first.name}", True
        try:
            return lookup_price(ref, guess_provider=guess)
        except PriceNotFound as exc:
            raise ValueError(
                f"no price configured, and none found for {ref!r}: {exc}; set the price "
                "(input, output, … USD per million tokens) or a price_ref"
            ) from None


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class PolicyConfig(_Strict):
    """The default per-step policy's knobs (docs/architecture.md, "Routing policy")."""

    start_tier: str | None = None
    weights: dict[str, Number] = Field(
        default_factory=lambda: {
            "tool_errors_recent": 0.45,
            "repeated_tool_calls": 0.35,
            "step": 0.02,
            "context_fraction": 0.5,
            "validation_failures": 0.3,
        }
    )
    thresholds: dict[str, Number] = Field(default_factory=dict)
    dwell_steps: Integer = Field(default=3, ge=1)
    margin: NonNeg = 0.05
    recent_window: Integer = Field(default=3, ge=1)
    repeat_window: Integer = Field(default=6, ge=2)
    context_margin: Number = Field(default=0.05, ge=0, lt=1)
    expected_steps: Integer = Field(default=12, ge=1)
    """Steps a session is expected to take (τ-bench airline runs average 12.3); the remaining
    ones are the horizon over which a step-down must pay back its cache loss."""
    output_tokens_guess: Integer = Field(default=300, ge=0)
    token_counter: Literal["estimate", "exact", "auto"] = "estimate"
    escalate_tool: str = Field(default="escalate", min_length=1)
    escalation_keywords: list[Keyword] = Field(default_factory=list)
    """Words or phrases in the last user turn that escalate the step (case-insensitive
    substrings); a blank one would match every turn, so it is refused."""
    task_types: dict[str, str] = Field(default_factory=dict)
    """task_type hint → the lowest tier allowed for it."""
    plans: dict[str, str] = Field(default_factory=dict)
    """plan hint (the user's plan) → the highest tier allowed for it."""
    max_validation_retries: Integer = Field(default=1, ge=0)
    content_rules: bool = False
    """Score the first turn's content (length, code, hard-task keywords) as signal ``content``."""
    tool_error_detector: list[ToolErrorPreset] = Field(default=["default"], min_length=1)
    """Which tool results are errors: a preset name, or a list (an error when any says so)."""
    _one_detector = field_validator("tool_error_detector", mode="before")(_as_list)


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
        if problems:
            raise ValueError("\n".join(problems))
        return self

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
