"""Value objects behave as frozen dataclasses: immutable, copyable, comparable, picklable."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from agentroute import Attempt, Decision, ModelCall, ModelResult, Signals, Target, Usage
from agentroute.errors import RateLimited

TARGET = Target("m", "simple", "p", "openai", "m-1", 1000)


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        (Usage(1, 2), "input_tokens"),
        (TARGET, "model"),
        (Signals(step=1), "step"),
        (ModelCall(messages=[]), "target"),
        (ModelResult(text="x"), "text"),
        (Decision("simple", None, "start", 1, ("m",)), "tier"),
    ],
)
def test_assignment_and_deletion_raise(obj: object, field: str) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, field, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(obj, field)


def test_defaults_factories_and_replace() -> None:
    call = ModelCall(messages=[{"role": "user", "content": "hi"}])
    assert call.params == {} and call.hints == {} and call.targets == ()
    moved = dataclasses.replace(call, attempt=2, target=TARGET)
    assert (moved.attempt, moved.target, call.attempt) == (2, TARGET, 0)
    assert moved.with_target(TARGET, 3).attempt == 3
    assert [f.name for f in dataclasses.fields(Usage)][:2] == ["input_tokens", "output_tokens"]
    with pytest.raises(TypeError):
        Target("only-one-arg")  # type: ignore[call-arg]


def test_equality_hash_and_pickle() -> None:
    assert Usage(1, 2) == Usage(1, 2) and Usage(1, 2) != Usage(2, 1)
    assert hash(TARGET) == hash(Target("m", "simple", "p", "openai", "m-1", 1000))
    assert {TARGET: 1}[Target("m", "simple", "p", "openai", "m-1", 1000)] == 1
    attempt = Attempt(1, TARGET, "error", 0.5, error_type="RateLimited", error=RateLimited("x"))
    back = pickle.loads(pickle.dumps(attempt))
    assert back == attempt  # the error is left out of comparisons, as declared
    assert back.target == TARGET and back.error_type == "RateLimited"
    assert "error=" not in repr(attempt)  # repr=False on the error field
