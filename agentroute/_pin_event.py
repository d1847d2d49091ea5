"""What affinity did for one routed call: a value object of its own, low in the layers, because
both the call's progress record (:class:`agentroute._types.CallProgress`) and the error tree
carry it."""

from __future__ import annotations

from typing import Literal, TypeAlias

from agentroute._frozen import value_object

__all__ = ["PinEvent", "PinKind"]

PinKind: TypeAlias = Literal["new", "hit", "break"]


@value_object
class PinEvent:
    """What affinity did for one call: a new pin, a hit (the pinned deployment served), or a
    break (the pinned deployment failed or was cooling down; ``reason`` says which). It travels
    back on the call's own progress record (``call.progress.pin``, what the route span reads)
    and, when every attempt failed, on :class:`~agentroute.errors.AllAttemptsFailed`
    (``pin``)."""

    kind: PinKind
    model: str
    deployment: str
    """The deployment key now pinned (for a break: where the session moved, or ``""``)."""
    previous: str | None = None
    reason: str = ""
