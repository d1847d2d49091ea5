"""A scripted agent scenario: an airline support agent rebooking a flight.

The simulated *model* decides its next move from the conversation and from its skill (0 for
the cheap tier's model, higher for stronger ones): weak models keep asking to move a basic
economy ticket, which the tool refuses; a strong model asks for an economy fare, which works.
So the loop shows exactly what a router must react to: tool errors, repeated calls, and a
step that only a stronger model gets right. The task's difficulty is the reservation's: a weak
model keeps the cabin ``get_reservation`` reports, so it rebooks an ``economy`` fare (an easy
task) and fails on a ``basic_economy`` one (the hard task; :func:`run_tool` always serves that
one). How it fails is the scenario's ``wander`` (sim/config.py): by the refused call, or by a
long run of lookups and a final answer that changed nothing. :func:`rebooked` is the
scenario's own success check, for recording a session's outcome. The *application* side (the
tools) lives here too, so the demo and examples can run whole loops against any provider that
serves this scenario.

:func:`reply` is what the HTTP simulator's model says for any configured scenario (this airline
agent, a scripted list of steps, or an echo). Conversations are read in the OpenAI Chat shape
(``tool_calls`` on assistant messages, ``role: tool`` results); the Anthropic and Responses wire
modules convert their messages and input items to that shape first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentroute.sim.config import ScenarioConfig

__all__ = [
    "FOLLOW_UPS",
    "GAVE_UP",
    "POLICY_ANSWERS",
    "SYSTEM_PROMPT",
    "TOOLS",
    "USER_REQUEST",
    "Move",
    "last_user_text",
    "next_move",
    "offered_tools",
    "rebooked",
    "reply",
    "run_tool",
    "text_of",
]

SYSTEM_PROMPT = "\n".join(
    [
        "You are the customer-support agent of Hattie Airlines. Follow this policy exactly.",
        *(
            f"Rule {i}: {rule}"
            for i, rule in enumerate(
                [
                    "Authenticate the user by reservation id before reading or changing anything.",
                    "Read the reservation with get_reservation before proposing any change.",
                    "Search flights with search_flights; never invent flight numbers or times.",
                    "Basic economy fares cannot be changed; offer an upgrade to economy first.",
                    "A change of flight keeps the origin, destination and number of passengers.",
                    "Collect the fare difference with the payment method on file only.",
                    "Confirm every change with send_confirmation after update_reservation works.",
                    "Never disclose other passengers' data; never promise compensation.",
                    "If a tool returns an error, explain it and correct the request; never "
                    "repeat an identical failing call more than once.",
                    "Answer in short, plain sentences and state the final itinerary at the end.",
                ]
                * 6,
                start=1,
            )
        ),
    ]
)

USER_REQUEST = (
    "Hi, I'm Mia Li, reservation ZFA04Y. Please move my flight from JFK to SFO on December 3 "
    "to the first morning flight the same day. Thanks!"
)

FOLLOW_UPS = (
    "Great, thanks. How many bags can I check on that flight?",
    "And may I bring my cat in the cabin?",
)
"""Easy questions the user asks after the rebooking: one lookup each, then an answer."""

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": desc,
            "parameters": {
                "type": "object",
                "properties": {p: {"type": "string"} for p in params},
                "required": list(params),
            },
        },
    }
    for name, desc, params in [
        ("get_reservation", "Read a reservation.", ["reservation_id"]),
        ("search_flights", "Search direct flights.", ["origin", "destination", "date"]),
        ("update_reservation", "Change flight and cabin.", ["reservation_id", "flight", "cabin"]),
        ("send_confirmation", "E-mail the itinerary.", ["reservation_id"]),
        ("get_policy", "Look up a rule of the airline's policy.", ["topic"]),
    ]
]


@dataclass(frozen=True, slots=True)
class Move:
    """What the simulated model answers: a text, or one tool call."""

    text: str | None = None
    tool: str | None = None
    arguments: Mapping[str, Any] | None = None


def _tool_results(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, bool]]:
    """(tool name, succeeded) for each tool result, matched to its call by id."""
    names: dict[str, str] = {}
    out: list[tuple[str, bool]] = []
    for m in messages:
        if m.get("role") == "user":
            out.clear()  # only what happened since the user's last message counts
        for tc in m.get("tool_calls") or ():
            names[tc["id"]] = tc["function"]["name"]
        if m.get("role") == "tool":
            content = text_of(m.get("content", "")).lstrip()
            failed = content.startswith(_FAILED)
            out.append((names.get(m.get("tool_call_id", ""), "?"), not failed))
    return out


_FAILED = ("Error", "An error occurred")
"""How a failed tool result starts: the scenario's own tools' convention, and the OpenAI Agents
SDK's default text for a tool that raised."""


def offered_tools(tools: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """The names of the tools a request offers, in any of the three wire shapes (Chat
    Completions' ``{"function": {"name"}}``, Anthropic's and Responses' ``{"name"}``)."""
    names: set[str] = set()
    for tool in tools:
        function = tool.get("function")
        name = function.get("name") if isinstance(function, Mapping) else tool.get("name")
        if isinstance(name, str):
            names.add(name)
    return frozenset(names)


def next_move(
    messages: Sequence[Mapping[str, Any]],
    skill: int,
    offered: frozenset[str] = frozenset(),
    wander: int = 0,
) -> Move:
    """The simulated model's next move in the rebooking scenario. A request that offers tools
    but not the one a move needs skips that move (an agent built with fewer tools: e.g. no
    ``send_confirmation``).

    A model below skill 2 asks to keep the reservation's cabin (as ``get_reservation``
    reported it; ``basic_economy`` when unreadable), which the tool refuses for a basic
    economy fare. With ``wander`` > 0 it does not ask for that refused change: it calls
    ``get_policy`` on ``wander`` distinct topics (one per step), then gives up with a text
    that changes nothing."""
    if offered:
        done_by_skipping = {name for name in _SCENARIO_TOOLS if name not in offered}
    else:
        done_by_skipping = set()
    results = _tool_results(messages)
    done = {name for name, ok in results if ok} | done_by_skipping
    last_user = next(
        (str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    if last_user in FOLLOW_UPS:
        topic = "baggage" if "bags" in last_user else "pets"
        if "get_policy" not in done:
            return Move(tool="get_policy", arguments={"topic": topic})
        return Move(text=POLICY_ANSWERS[topic])
    if "get_reservation" not in done:
        return Move(tool="get_reservation", arguments={"reservation_id": "ZFA04Y"})
    if "search_flights" not in done:
        return Move(
            tool="search_flights",
            arguments={"origin": "JFK", "destination": "SFO", "date": "2026-12-03"},
        )
    if "update_reservation" not in done:
        cabin = "economy" if skill >= 2 else _reserved_cabin(messages)
        if cabin == "basic_economy" and wander > 0:
            looked = sum(1 for name, ok in results if name == "get_policy" and ok)
            if looked < wander:
                return Move(
                    tool="get_policy", arguments={"topic": f"fare rules, part {looked + 1}"}
                )
            return Move(text=GAVE_UP)
        return Move(
            tool="update_reservation",
            arguments={"reservation_id": "ZFA04Y", "flight": "HAT101", "cabin": cabin},
        )
    if "send_confirmation" not in done:
        return Move(tool="send_confirmation", arguments={"reservation_id": "ZFA04Y"})
    return Move(text="Done: you are on HAT101 JFK→SFO, Dec 3 at 07:05, economy. Confirmation sent.")


GAVE_UP = "Sorry, I could not find a way to change this booking. Nothing was changed."
"""A weak model's last word after wandering (``wander``): a final answer that failed."""


def _reserved_cabin(messages: Sequence[Mapping[str, Any]]) -> str:
    """The cabin the last ``get_reservation`` result reports; ``basic_economy`` when none
    can be read."""
    names: dict[str, str] = {}
    cabin = "basic_economy"
    for m in messages:
        for tc in m.get("tool_calls") or ():
            names[tc["id"]] = tc["function"]["name"]
        if m.get("role") == "tool" and names.get(m.get("tool_call_id", "")) == "get_reservation":
            try:
                data = json.loads(text_of(m.get("content", "")))
            except ValueError:
                continue
            if isinstance(data, Mapping) and isinstance(data.get("cabin"), str):
                cabin = data["cabin"]
    return cabin


def rebooked(messages: Sequence[Mapping[str, Any]]) -> bool:
    """The scenario's success check: an ``update_reservation`` call went through (its result
    is not an error) in a conversation in the OpenAI Chat shape."""
    names: dict[str, str] = {}
    for m in messages:
        for tc in m.get("tool_calls") or ():
            names[tc["id"]] = tc["function"]["name"]
        if (
            m.get("role") == "tool"
            and names.get(m.get("tool_call_id", "")) == "update_reservation"
            and not text_of(m.get("content", "")).lstrip().startswith(_FAILED)
        ):
            return True
    return False


POLICY_ANSWERS = {
    "baggage": "Economy on HAT101 includes one checked bag up to 23 kg.",
    "pets": "Yes: one cat or small dog in a carrier under the seat, for a $125 fee.",
}


_SCENARIO_TOOLS = tuple(t["function"]["name"] for t in TOOLS)


def run_tool(name: str, arguments: Mapping[str, Any]) -> str:
    """The application's tools. Errors are returned as text starting with ``Error:``."""
    if name == "get_reservation":
        return json.dumps(
            {
                "reservation_id": "ZFA04Y",
                "passenger": "Mia Li",
                "flight": "HAT219",
                "cabin": "basic_economy",
                "date": "2026-12-03",
            }
        )
    if name == "search_flights":
        return json.dumps(
            [
                {"flight": "HAT101", "departs": "07:05", "seats_economy": 4},
                {"flight": "HAT219", "departs": "13:40", "seats_economy": 0},
            ]
        )
    if name == "update_reservation":
        if arguments.get("cabin") == "basic_economy":
            return "Error: basic economy fares cannot be changed; choose cabin 'economy' or higher"
        return json.dumps({"status": "changed", "flight": arguments.get("flight")})
    if name == "send_confirmation":
        return json.dumps({"status": "sent"})
    if name == "get_policy":
        return json.dumps({"topic": arguments.get("topic"), "rule": "see policy section 4"})
    return f"Error: unknown tool {name!r}"


def text_of(content: Any) -> str:
    """The text of a message's ``content``: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, Mapping) and "text" in p
        )
    return ""


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the last ``user`` message ("" when there is none)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return text_of(m.get("content"))
    return ""


def reply(
    scenario: ScenarioConfig,
    messages: Sequence[Mapping[str, Any]],
    model: str,
    tools: Sequence[Mapping[str, Any]] = (),
) -> Move:
    """The simulated model's answer to ``messages`` under ``scenario`` (see sim/config.py),
    offered ``tools`` (the request's, in its wire shape)."""
    if scenario.kind == "airline":
        skill = scenario.skills.get(model, scenario.default_skill)
        return next_move(messages, skill, offered_tools(tools), scenario.wander.get(model, 0))
    if scenario.kind == "scripted":
        turns = sum(1 for m in messages if m.get("role") == "assistant")
        if turns >= len(scenario.steps):
            return Move(text=scenario.then)
        step = scenario.steps[turns]
        return Move(text=step.text, tool=step.tool, arguments=step.arguments if step.tool else None)
    said = last_user_text(messages)
    return Move(text=f"{scenario.prefix}{said}" if said else f"{scenario.prefix}(nothing)")
