"""The simulator's configuration: named provider instances, each with its wire format, context
windows, latency model, faults, prompt cache and scenario.

Validated with pydantic (frozen models, unknown fields rejected) so a typo in ``sim.yaml`` is an
error that names the field (``instances.fast.faults.rates.rate_limt: unknown fault kind``), not a
silently ignored setting. Load a file with :func:`load_sim_config`; build one in Python with
:meth:`SimConfig.from_mapping` or the models themselves.

Decisions where the brief is silent:

* Instance names are URL path segments, so they are limited to letters, digits, ``_``, ``.``
  and ``-``.
* ``host`` must be a loopback address: the simulator is a test double and never listens on a
  network interface.
* A fault ``schedule`` maps the 1-based request number *of that instance* to a fault, written
  either as a kind (``3: rate_limit``) or as a mapping with parameters
  (``3: {kind: timeout, delay_s: 0.5}``). Scheduled faults win over the probabilistic ``rates``.
* A scripted scenario's step is chosen by the number of assistant turns already in the
  conversation; once the script is exhausted the model answers ``then`` (a text).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agentroute.config._errors import format_validation_error
from agentroute.errors import ConfigurationError

__all__ = [
    "FAULT_KINDS",
    "AirlineScenario",
    "CacheConfig",
    "EchoScenario",
    "FaultKind",
    "FaultSpec",
    "FaultsConfig",
    "InstanceConfig",
    "LatencyConfig",
    "ScenarioConfig",
    "ScriptStep",
    "ScriptedScenario",
    "SimConfig",
    "load_sim_config",
    "read_sim_file",
]

FaultKind: TypeAlias = Literal[
    "rate_limit",
    "server_error",
    "unavailable",
    "overloaded",
    "timeout",
    "drop",
    "drop_mid_response",
    "context_window",
    "content_policy",
]
FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]

NonNeg = Annotated[float, Field(ge=0)]
Probability = Annotated[float, Field(ge=0, le=1)]
_UNIONS = {"scenario": ("airline", "scripted", "echo")}
"""Discriminated unions: field → kinds (taken out of error paths, see config.py)."""
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyConfig(_Strict):
    """Time to answer: ``base_ms`` before the first byte, ``per_output_token_ms`` for each token
    produced (between stream chunks when streaming), ± up to ``jitter_ms`` drawn from a seeded RNG.
    """

    base_ms: NonNeg = 0.0
    per_output_token_ms: NonNeg = 0.0
    jitter_ms: NonNeg = 0.0


class FaultSpec(_Strict):
    """One fault and its parameters.

    ``retry_after_s`` is sent as ``Retry-After`` with ``rate_limit`` (and ``retry-after-ms`` on
    ``openai`` instances). ``delay_s`` is how long a ``timeout`` holds the request before answering
    normally; ``None`` holds it until the client gives up and closes the connection.
    """

    kind: FaultKind
    retry_after_s: NonNeg = 1.0
    delay_s: NonNeg | None = None


def _as_spec(value: Any) -> Any:
    return {"kind": value} if isinstance(value, str) else value


class FaultsConfig(_Strict):
    """Faults of one instance: a seeded probabilistic mix, a schedule, and content triggers.

    ``rates`` maps a fault kind to its probability per request (their sum is at most 1);
    ``schedule`` forces a fault on a given request number (1-based, per instance).
    ``content_policy_triggers``: a last user message containing one of these words
    (case-insensitive) is refused. ``refusal`` chooses how: ``error`` (HTTP 400 with the API's
    error body) or ``stop_reason`` (HTTP 200 with Anthropic's ``stop_reason: "refusal"`` /
    OpenAI's ``finish_reason: "content_filter"``).
    """

    seed: int = 0
    rates: dict[FaultKind, Probability] = Field(default_factory=dict)
    schedule: dict[Annotated[int, Field(ge=1)], FaultSpec] = Field(default_factory=dict)
    retry_after_s: NonNeg = 1.0
    timeout_delay_s: NonNeg | None = None
    content_policy_triggers: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    refusal: Literal["error", "stop_reason"] = "error"

    @model_validator(mode="before")
    @classmethod
    def _specs(cls, data: Any) -> Any:
        """Scheduled faults written as a bare kind, or without parameters, take the instance's
        ``retry_after_s`` and ``timeout_delay_s``."""
        if not isinstance(data, Mapping) or not isinstance(data.get("schedule"), Mapping):
            return data
        defaults = {
            "retry_after_s": data.get("retry_after_s", 1.0),
            "delay_s": data.get("timeout_delay_s"),
        }
        schedule = {
            k: {**defaults, **v} if isinstance(v, Mapping) else v
            for k, v in ((k, _as_spec(v)) for k, v in data["schedule"].items())
        }
        return {**data, "schedule": schedule}

    @field_validator("rates")
    @classmethod
    def _sum(cls, value: dict[str, float]) -> dict[str, float]:
        if sum(value.values()) > 1.0 + 1e-9:
            raise ValueError("the rates add up to more than 1")
        return value

    def spec(self, kind: FaultKind) -> FaultSpec:
        """The parameters a probabilistic fault of ``kind`` uses (the instance-wide defaults)."""
        return FaultSpec(kind=kind, retry_after_s=self.retry_after_s, delay_s=self.timeout_delay_s)


class CacheConfig(_Strict):
    """The instance's prompt cache (:mod:`agentroute.sim.cache`).

    ``min_tokens``: shorter prompts (openai) or cache prefixes (anthropic) are never cached
    (OpenAI: 1,024; Anthropic: 1,024 for most models, 2,048 or 4,096 for some). ``block_tokens``:
    granularity of OpenAI-style automatic caching. ``ttl_s``: idle lifetime of an entry
    (Anthropic's ``ttl: "1h"`` markers always live an hour).
    """

    enabled: bool = True
    ttl_s: Annotated[float, Field(gt=0)] = 300.0
    min_tokens: Annotated[int, Field(ge=1)] = 1024
    block_tokens: Annotated[int, Field(ge=1)] = 128
    chars_per_token: Annotated[int, Field(ge=1)] = 4


class AirlineScenario(_Strict):
    """The airline rebooking agent of :mod:`agentroute.sim.scenario`; ``skills`` maps the
    request's model name to the simulated model's skill (``default_skill`` otherwise)."""

    kind: Literal["airline"]
    skills: dict[str, int] = Field(default_factory=dict)
    default_skill: int = 0
    wander: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    """Request model name → lookups: how a model too weak for the task fails. Unlisted (0), it
    asks for the refused basic-economy change (a loud failure: a tool error). Listed, it
    instead looks the fare rules up with ``get_policy`` that many times, each on a new topic,
    then answers without changing anything: a long, quiet failure (no tool error, no repeated
    call) that only the step count can see (:func:`agentroute.sim.scenario.next_move`)."""


class ScriptStep(_Strict):
    """One answer of a scripted model: a text, a tool call, or a text followed by a tool call."""

    text: str | None = None
    tool: Annotated[str, Field(min_length=1)] | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _something(self) -> ScriptStep:
        if self.text is None and self.tool is None:
            raise ValueError("a step needs a text, a tool, or both")
        if self.tool is None and self.arguments:
            raise ValueError("arguments need a tool")
        return self


class ScriptedScenario(_Strict):
    """Answers ``steps[n]`` where n is the number of assistant turns so far, then ``then``."""

    kind: Literal["scripted"]
    steps: list[ScriptStep] = Field(min_length=1)
    then: str = "Done."


class EchoScenario(_Strict):
    """Answers with a text that quotes the last user message."""

    kind: Literal["echo"] = "echo"
    prefix: str = "You said: "


ScenarioConfig: TypeAlias = Annotated[
    AirlineScenario | ScriptedScenario | EchoScenario, Field(discriminator="kind")
]


class InstanceConfig(_Strict):
    """One simulated provider endpoint.

    ``context_window`` applies to every model name not listed in ``context_windows``. ``api_key``,
    when set, must be presented (``Authorization: Bearer`` / ``x-api-key``) or the request gets
    the API's 401.
    """

    kind: Literal["openai", "anthropic"]
    context_window: Annotated[int, Field(gt=0)] = 128_000
    context_windows: dict[str, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    faults: FaultsConfig = Field(default_factory=FaultsConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    scenario: ScenarioConfig = Field(default_factory=EchoScenario)
    api_key: str | None = Field(default=None, repr=False)

    def window(self, model: str) -> int:
        return self.context_windows.get(model, self.context_window)


class SimConfig(_Strict):
    """The whole simulator: where it listens and its named instances."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 0
    max_body_bytes: Annotated[int, Field(ge=1024)] = 8 * 1024 * 1024
    idle_timeout_s: Annotated[float, Field(gt=0)] = 60.0
    instances: dict[str, InstanceConfig] = Field(min_length=1)

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        host = "127.0.0.1" if value == "localhost" else value
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError("must be a loopback address (127.0.0.1, ::1 or localhost)")
        return host

    @field_validator("instances")
    @classmethod
    def _names(cls, value: dict[str, InstanceConfig]) -> dict[str, InstanceConfig]:
        for name in value:
            if not name or not set(name) <= _NAME_CHARS:
                raise ValueError(f"{name!r}: use letters, digits, '_', '.' or '-' (a URL path)")
        return value

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "sim config") -> SimConfig:
        """Validate a plain mapping; every problem becomes one line of a ConfigurationError."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigurationError(format_validation_error(exc, source, unions=_UNIONS)) from None


def read_sim_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a YAML config file (not validated yet; duplicate keys are an error)."""
    # The shared reader: duplicate keys, alias bombs and non-UTF-8 bytes are errors there.
    from agentroute.config._files import _load_yaml, read_config_text

    p = Path(path)
    data = _load_yaml(read_config_text(p), str(p))
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{p}: the top level must be a mapping")
    return dict(data)


def load_sim_config(path: str | Path) -> SimConfig:
    """Load and validate a simulator config from a YAML file."""
    return SimConfig.from_mapping(read_sim_file(path), source=str(path))
