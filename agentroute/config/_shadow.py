"""The ``shadow`` section: sample live steps to a reference tier and compare the answers
(:mod:`agentroute.shadow`). Off unless the section is present."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agentroute.config._fields import Integer, Number, Positive, _Strict

__all__ = ["ShadowConfig"]


class ShadowConfig(_Strict):
    """Shadow routing: a sampled step's call is also sent to ``tier`` in the background; its
    answer is compared with the one the user got and never returned (:mod:`agentroute.shadow`).

    * ``sample``: the share of steps (``unit: step``) or sessions (``unit: session``: every
      step of a sampled session) shadowed; chosen by a hash of the session's key (and step),
      so the same session samples the same steps in every process.
    * ``tier``: the reference tier, usually the strongest.
    * ``tiers``: the served tiers sampled (default: every tier below ``tier``; list ``tier``
      itself to measure how far the reference agrees with itself: the noise floor).
    * ``max_concurrency``: shadow calls in flight at once; a sample beyond them is dropped
      (counted), never queued.
    * ``budget_usd_per_day``: the shadow calls' spend per UTC day; once it (with the calls in
      flight, at their expected cost) would be exceeded, samples are dropped until the day
      ends. ``0`` samples nothing.
    * ``timeout_s``: one shadow call at most; ``judge_timeout_s``: the application's judge
      (``Router(shadow_judge=...)``) at most.
    """

    sample: Number = Field(default=0.05, ge=0, le=1)
    tier: str
    unit: Literal["step", "session"] = "step"
    tiers: list[str] | None = None
    max_concurrency: Integer = Field(default=4, ge=1)
    budget_usd_per_day: Number = Field(default=5.0, ge=0)
    timeout_s: Positive = 60.0
    judge_timeout_s: Positive = 30.0
