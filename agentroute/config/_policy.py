"""The ``policy`` section: the default per-step policy's knobs, the signal names its weights
may name, and the shipped tool-error detectors' names.

``policy.thresholds`` maps every tier but the first to the score at which it starts; omitted
tiers get evenly spaced defaults (0.3, 0.6, 0.9, …) and the result must be strictly increasing
in tier order (checked with the tiers, by :class:`~agentroute.config.RouterConfig`).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import AfterValidator, Field, field_validator

from agentroute.config._fields import Integer, NonNeg, Number, _Strict

__all__ = ["SIGNAL_NAMES", "Keyword", "PolicyConfig", "ToolErrorPreset"]

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


ToolErrorPreset: TypeAlias = Literal["default", "openai_agents", "pydantic_ai", "langchain"]
"""The names of the shipped tool-error detectors (:mod:`agentroute.policy.tool_errors`, which
re-exports it): defined in the config so that the config can name them without importing the
policy."""


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank (it would match every turn)")
    return text


Keyword = Annotated[str, AfterValidator(_not_blank)]


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
