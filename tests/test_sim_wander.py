"""The airline scenario's task difficulty and quiet failure: a weak model keeps the cabin the
reservation reports (so an economy fare is an easy task), and with ``wander`` it fails a
basic-economy task by distinct lookups and a final answer that changed nothing; ``rebooked``
is the scenario's success check."""

from __future__ import annotations

import json

import pytest

from agentroute.errors import ConfigurationError
from agentroute.sim.config import SimConfig
from agentroute.sim.scenario import (
    GAVE_UP,
    Move,
    next_move,
    rebooked,
    reply,
    run_tool,
)
from tests.test_sim_scenario import _history

_RESERVATION = run_tool("get_reservation", {"reservation_id": "ZFA04Y"})
_ECONOMY = json.dumps({**json.loads(_RESERVATION), "cabin": "economy"})


def _lookups(k: int) -> list[tuple[str, str]]:
    return [("get_policy", run_tool("get_policy", {"topic": f"t{i}"})) for i in range(k)]


def test_a_weak_model_keeps_an_economy_fare_and_the_change_works() -> None:
    history = _history(("get_reservation", _ECONOMY), ("search_flights", "[]"))
    move = next_move(history, skill=0, wander=3)
    assert move.tool == "update_reservation"
    assert move.arguments is not None
    assert run_tool("update_reservation", move.arguments).startswith("{")


def test_without_wander_a_weak_model_asks_for_the_refused_change() -> None:
    history = _history(("get_reservation", _RESERVATION), ("search_flights", "[]"))
    move = next_move(history, skill=0)
    assert move.arguments is not None and move.arguments["cabin"] == "basic_economy"
    assert run_tool("update_reservation", move.arguments).startswith("Error")


def test_a_wandering_model_looks_up_distinct_topics_then_gives_up() -> None:
    start = [("get_reservation", _RESERVATION), ("search_flights", "[]")]
    topics = []
    for k in range(3):
        move = next_move(_history(*start, *_lookups(k)), skill=0, wander=3)
        assert move.tool == "get_policy" and move.arguments is not None
        topics.append(move.arguments["topic"])
    assert len(set(topics)) == 3  # never a repeated call
    assert next_move(_history(*start, *_lookups(3)), skill=0, wander=3) == Move(text=GAVE_UP)


def test_a_strong_model_never_wanders() -> None:
    history = _history(("get_reservation", _RESERVATION), ("search_flights", "[]"))
    move = next_move(history, skill=2, wander=3)
    assert move.tool == "update_reservation"
    assert move.arguments is not None and move.arguments["cabin"] == "economy"


def test_reply_takes_wander_by_model_name() -> None:
    config = SimConfig.from_mapping(
        {
            "instances": {
                "x": {
                    "kind": "openai",
                    "scenario": {
                        "kind": "airline",
                        "skills": {"weak": 0, "other": 0},
                        "wander": {"weak": 2},
                    },
                }
            }
        }
    )
    scenario = config.instances["x"].scenario
    history = _history(("get_reservation", _RESERVATION), ("search_flights", "[]"))
    assert reply(scenario, history, "weak").tool == "get_policy"
    assert reply(scenario, history, "other").tool == "update_reservation"


def test_a_negative_wander_is_refused_naming_the_field() -> None:
    scenario = {"kind": "airline", "wander": {"weak": -1}}
    with pytest.raises(ConfigurationError, match="wander"):
        SimConfig.from_mapping({"instances": {"x": {"kind": "openai", "scenario": scenario}}})


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        (json.dumps({"status": "changed"}), True),
        ("Error: basic economy fares cannot be changed", False),
        (None, False),
    ],
)
def test_rebooked_is_a_change_that_went_through(update: str | None, expected: bool) -> None:
    results = [("get_reservation", _RESERVATION), ("search_flights", "[]")]
    if update is not None:
        results.append(("update_reservation", update))
    assert rebooked(_history(*results)) is expected
