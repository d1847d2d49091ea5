"""The airline scenario's moves: tools a request does not offer are skipped, and a failed
tool result is read in the scenario's and the OpenAI Agents SDK's conventions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentroute.sim.scenario import TOOLS, USER_REQUEST, Move, next_move, offered_tools


def _history(*results: tuple[str, str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": USER_REQUEST}]
    for i, (name, content) in enumerate(results):
        call = {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": "{}"}}
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": content})
    return messages


def test_tool_names_are_read_from_each_wire_shape() -> None:
    chat = {"type": "function", "function": {"name": "a"}}
    anthropic = {"name": "b", "input_schema": {}}
    responses = {"type": "function", "name": "c"}
    assert offered_tools([chat, anthropic, responses, {"type": "web_search"}]) == {"a", "b", "c"}


def test_a_three_tool_agent_is_never_asked_for_the_fourth() -> None:
    offered = frozenset({"get_reservation", "search_flights", "update_reservation"})
    done = _history(
        ("get_reservation", "{}"),
        ("search_flights", "[]"),
        ("update_reservation", json.dumps({"status": "changed"})),
    )
    move = next_move(done, skill=2, offered=offered)
    assert move.tool is None and move.text is not None and "HAT101" in move.text


def test_without_tools_offered_every_move_is_made() -> None:
    done = _history(
        ("get_reservation", "{}"),
        ("search_flights", "[]"),
        ("update_reservation", json.dumps({"status": "changed"})),
    )
    assert next_move(done, skill=2) == Move(
        tool="send_confirmation", arguments={"reservation_id": "ZFA04Y"}
    )
    assert len(TOOLS) == 5


@pytest.mark.parametrize(
    "failure",
    [
        "Error: basic economy fares cannot be changed",
        "An error occurred while running the tool. Please try again. Error: basic economy",
    ],
)
def test_a_failed_update_is_tried_again(failure: str) -> None:
    history = _history(("get_reservation", "{}"), ("search_flights", "[]"))
    history += _history(("update_reservation", failure))[1:]
    move = next_move(history, skill=0)
    assert move.tool == "update_reservation"
    assert move.arguments is not None and move.arguments["cabin"] == "basic_economy"
