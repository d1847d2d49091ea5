"""SignalExtractor: the signals of one step, read from OpenAI- and Anthropic-shaped conversations.

Table-driven checks of every signal on realistic conversations (parallel tool calls, error and
non-error tool results, escalation, keywords), the default and a custom tool-error detector,
and the incremental scan: for a conversation that grows by appending to the same list, the
incremental signals equal a fresh full scan at every prefix (a hypothesis property), and a
rewritten history falls back to a full rescan.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from agentroute import Router, Signals, Usage
from agentroute._types import EMPTY
from agentroute.policy.signals import (
    ScanState,
    SignalConfig,
    SignalExtractor,
    default_tool_error_detector,
)
from agentroute.policy.tokens import EstimateCounter, count_message, count_tools
from agentroute.policy.tool_errors import ToolResult, is_tool_error
from agentroute.testing import MockProvider, tool_call_result
from tests.helpers import config_dict

Msg = dict[str, Any]

WINDOW = 16_000

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look up an order by its id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_user",
            "description": "Look up a user by id.",
            "parameters": {"type": "object", "properties": {"user_id": {"type": "string"}}},
        },
    },
]


# Conversation builders ----------------------------------------------------------------------


def system(text: str = "You are an airline support agent. Use the tools.") -> Msg:
    return {"role": "system", "content": text}


def user(text: str) -> Msg:
    return {"role": "user", "content": text}


def assistant_text(text: str) -> Msg:
    return {"role": "assistant", "content": text}


def oa_call(call_id: str, name: str, args: Mapping[str, Any] | str) -> Msg:
    arguments = args if isinstance(args, str) else json.dumps(dict(args))
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def oa_assistant(*calls: Msg, text: str | None = None) -> Msg:
    return {"role": "assistant", "content": text, "tool_calls": list(calls)}


def oa_tool(call_id: str, content: Any) -> Msg:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def an_use(use_id: str, name: str, args: Mapping[str, Any]) -> Msg:
    return {"type": "tool_use", "id": use_id, "name": name, "input": dict(args)}


def an_assistant(*uses: Msg, text: str | None = None) -> Msg:
    blocks: list[Msg] = [{"type": "text", "text": text}] if text else []
    return {"role": "assistant", "content": [*blocks, *uses]}


def an_result(use_id: str, content: Any, *, is_error: bool | None = None) -> Msg:
    block: Msg = {"type": "tool_result", "tool_use_id": use_id, "content": content}
    if is_error is not None:
        block["is_error"] = is_error
    return block


def an_results(*results: Msg) -> Msg:
    return {"role": "user", "content": list(results)}


def oa_turn(n: int, name: str, args: Mapping[str, Any], result: str) -> list[Msg]:
    """One OpenAI tool round: the model's single call and the app's answer."""
    return [oa_assistant(oa_call(f"c{n}", name, args)), oa_tool(f"c{n}", result)]


def an_turn(n: int, name: str, args: Mapping[str, Any], *, error: bool) -> list[Msg]:
    """One Anthropic tool round."""
    content = "Error: not found" if error else '{"ok": true}'
    return [
        an_assistant(an_use(f"t{n}", name, args)),
        an_results(an_result(f"t{n}", content, is_error=error)),
    ]


OK = '{"status": "ok"}'
ERR = "Error: upstream timed out"


# Extraction helpers -------------------------------------------------------------------------


def extractor(
    *,
    recent_window: int = 3,
    repeat_window: int = 6,
    escalate_tool: str = "escalate",
    keywords: Sequence[str] = (),
    detector: Callable[[ToolResult], bool] = default_tool_error_detector,
) -> SignalExtractor:
    return SignalExtractor(
        EstimateCounter(),
        SignalConfig(
            recent_window=recent_window,
            repeat_window=repeat_window,
            escalate_tool=escalate_tool,
            escalation_keywords=tuple(keywords),
        ),
        detector,
    )


def signals_from(
    ex: SignalExtractor,
    scan: ScanState,
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    step: int = 1,
) -> Signals:
    return ex.signals(
        scan,
        step=step,
        tools_tokens=ex.tools_tokens(tools),
        extra_tokens=0,
        reference_window=WINDOW,
        validation_failures=0,
        app_escalation=False,
        hints=EMPTY,
    )


def full_signals(
    messages: Sequence[Msg],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    **cfg: Any,
) -> Signals:
    ex = extractor(**cfg)
    return signals_from(ex, ex.scan(messages, None), tools=tools)


# The table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    messages: list[Msg]
    errors_total: int = 0
    errors_recent: int = 0
    repeats: int = 0
    escalation: bool = False
    cfg: dict[str, Any] = field(default_factory=dict)


HEAD = [system(), user("My flight AB123 was cancelled, please rebook me.")]

CASES: dict[str, Case] = {
    # --- OpenAI shape --------------------------------------------------------------------
    "openai/no-tools": Case([*HEAD, assistant_text("Sure, let me check.")]),
    "openai/parallel-calls-one-error": Case(
        [
            *HEAD,
            oa_assistant(
                oa_call("c1", "get_order", {"order_id": "AB123"}),
                oa_call("c2", "get_user", {"user_id": "u7"}),
            ),
            oa_tool("c1", "Error: order AB123 not found"),
            oa_tool("c2", '{"name": "Ann", "tier": "gold"}'),
        ],
        errors_total=1,
        errors_recent=1,
    ),
    "openai/parallel-calls-both-errors": Case(
        [
            *HEAD,
            oa_assistant(
                oa_call("c1", "get_order", {"order_id": "AB123"}),
                oa_call("c2", "get_user", {"user_id": "u7"}),
            ),
            oa_tool("c1", "error: connection refused"),
            oa_tool("c2", '{"error": "user not found", "code": 404}'),
        ],
        errors_total=2,
        errors_recent=2,
    ),
    "openai/traceback-is-an-error": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "AB123"}, "Traceback (most recent call last):\n"),
        ],
        errors_total=1,
        errors_recent=1,
    ),
    "openai/non-errors": Case(
        [
            *HEAD,
            oa_assistant(
                oa_call("c1", "get_order", {"order_id": "AB123"}),
                oa_call("c2", "lint", {"path": "a.py"}),
                oa_call("c3", "get_user", {"user_id": "u7"}),
            ),
            oa_tool("c1", '{"error": null, "order": {"id": "AB123"}}'),
            oa_tool("c2", "No errors found"),
            oa_tool("c3", '{"status": "ok", "message": "no error here"}'),
        ],
    ),
    "openai/recent-window-drops-old-errors": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "1"}, ERR),
            *oa_turn(2, "get_order", {"order_id": "2"}, OK),
            *oa_turn(3, "get_order", {"order_id": "3"}, OK),
            *oa_turn(4, "get_order", {"order_id": "4"}, OK),
            *oa_turn(5, "get_order", {"order_id": "5"}, ERR),
        ],
        errors_total=2,
        errors_recent=1,
    ),
    "openai/recent-window-counts-the-last-three-tool-turns": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "1"}, OK),
            *oa_turn(2, "get_order", {"order_id": "2"}, OK),
            *oa_turn(3, "get_order", {"order_id": "3"}, ERR),
            *oa_turn(4, "get_order", {"order_id": "4"}, ERR),
            *oa_turn(5, "get_order", {"order_id": "5"}, ERR),
        ],
        errors_total=3,
        errors_recent=3,
    ),
    "openai/text-turns-do-not-age-the-recent-window": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "1"}, ERR),
            assistant_text("Sorry, one moment."),
            user("ok"),
            assistant_text("Still looking."),
            user("ok"),
            assistant_text("Nearly there."),
        ],
        errors_total=1,
        errors_recent=1,
    ),
    "openai/recent-window-of-one": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "1"}, ERR),
            *oa_turn(2, "get_order", {"order_id": "2"}, OK),
        ],
        errors_total=1,
        errors_recent=0,
        cfg={"recent_window": 1},
    ),
    "openai/repeat-with-reordered-argument-keys": Case(
        [
            *HEAD,
            *oa_turn(1, "search_flights", {"from": "SFO", "to": "JFK", "date": "05-01"}, OK),
            *oa_turn(2, "search_flights", {"date": "05-01", "to": "JFK", "from": "SFO"}, OK),
        ],
        repeats=1,
    ),
    "openai/repeat-with-whitespace-in-argument-json": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", '{"order_id":"AB123"}', OK),
            *oa_turn(2, "get_order", '{ "order_id" : "AB123" }', OK),
        ],
        repeats=1,
    ),
    "openai/three-identical-calls-are-two-repeats": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "AB123"}, OK),
            *oa_turn(2, "get_order", {"order_id": "AB123"}, OK),
            *oa_turn(3, "get_order", {"order_id": "AB123"}, OK),
        ],
        repeats=2,
    ),
    "openai/different-argument-is-not-a-repeat": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "AB123"}, OK),
            *oa_turn(2, "get_order", {"order_id": "AB124"}, OK),
        ],
    ),
    "openai/same-arguments-other-tool-is-not-a-repeat": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"id": "AB123"}, OK),
            *oa_turn(2, "cancel_order", {"id": "AB123"}, OK),
        ],
    ),
    "openai/repeat-in-a-parallel-turn": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "AB123"}, OK),
            oa_assistant(
                oa_call("c2", "get_user", {"user_id": "u7"}),
                oa_call("c3", "get_order", {"order_id": "AB123"}),
            ),
            oa_tool("c2", OK),
            oa_tool("c3", OK),
        ],
        repeats=1,
    ),
    "openai/repeat-outside-the-window-is-not-a-repeat": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "A"}, OK),
            *oa_turn(2, "get_order", {"order_id": "B"}, OK),
            *oa_turn(3, "get_order", {"order_id": "C"}, OK),
            *oa_turn(4, "get_order", {"order_id": "A"}, OK),
        ],
        cfg={"repeat_window": 2},
    ),
    "openai/repeat-inside-a-wider-window": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "A"}, OK),
            *oa_turn(2, "get_order", {"order_id": "B"}, OK),
            *oa_turn(3, "get_order", {"order_id": "C"}, OK),
            *oa_turn(4, "get_order", {"order_id": "A"}, OK),
        ],
        repeats=1,
        cfg={"repeat_window": 3},
    ),
    "openai/an-old-repeat-ages-out": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "A"}, OK),
            *oa_turn(2, "get_order", {"order_id": "A"}, OK),
            *oa_turn(3, "get_order", {"order_id": "B"}, OK),
            *oa_turn(4, "get_order", {"order_id": "C"}, OK),
        ],
        cfg={"repeat_window": 2},
    ),
    "openai/escalate-tool-in-the-last-turn": Case(
        [
            *HEAD,
            *oa_turn(1, "get_order", {"order_id": "AB123"}, ERR),
            oa_assistant(
                oa_call("c2", "get_user", {"user_id": "u7"}),
                oa_call("c3", "escalate", {"reason": "the order tool keeps failing"}),
            ),
            oa_tool("c2", OK),
            oa_tool("c3", "escalated: a stronger model takes over"),
        ],
        errors_total=1,
        errors_recent=1,
        escalation=True,
    ),
    "openai/escalate-tool-in-an-earlier-turn-is-spent": Case(
        [
            *HEAD,
            *oa_turn(1, "escalate", {"reason": "hard"}, "escalated"),
            *oa_turn(2, "get_order", {"order_id": "AB123"}, OK),
        ],
    ),
    "openai/escalate-then-a-text-answer-is-spent": Case(
        [
            *HEAD,
            *oa_turn(1, "escalate", {"reason": "hard"}, "escalated"),
            assistant_text("Your flight is rebooked."),
        ],
    ),
    "openai/custom-escalate-tool-name": Case(
        [*HEAD, *oa_turn(1, "ask_supervisor", {"why": "refund rules"}, "ok")],
        escalation=True,
        cfg={"escalate_tool": "ask_supervisor"},
    ),
    "openai/the-default-name-is-not-escalation-when-renamed": Case(
        [*HEAD, *oa_turn(1, "escalate", {"why": "x"}, "ok")],
        cfg={"escalate_tool": "ask_supervisor"},
    ),
    "openai/keyword-in-last-user-message": Case(
        [*HEAD, assistant_text("Done."), user("This is wrong. Let me speak to a HUMAN agent.")],
        escalation=True,
        cfg={"keywords": ("speak to a human",)},
    ),
    "openai/keyword-only-in-an-earlier-user-message": Case(
        [
            system(),
            user("Let me speak to a human."),
            assistant_text("I can help you with that."),
            user("Fine, just rebook flight AB123."),
        ],
        cfg={"keywords": ("speak to a human",)},
    ),
    "openai/keyword-case-insensitive-second-keyword": Case(
        [*HEAD, assistant_text("Done."), user("URGENT please")],
        escalation=True,
        cfg={"keywords": ("speak to a human", "urgent")},
    ),
    "openai/no-keyword-configured": Case(
        [*HEAD, assistant_text("Done."), user("URGENT please")],
    ),
    # --- Anthropic shape -----------------------------------------------------------------
    "anthropic/parallel-tool-use-one-error": Case(
        [
            user("My flight AB123 was cancelled, please rebook me."),
            an_assistant(
                an_use("t1", "get_order", {"order_id": "AB123"}),
                an_use("t2", "get_user", {"user_id": "u7"}),
                text="Let me look up the order and your profile.",
            ),
            an_results(
                an_result("t1", "order service unavailable", is_error=True),
                an_result("t2", '{"name": "Ann"}'),
            ),
        ],
        errors_total=1,
        errors_recent=1,
    ),
    "anthropic/three-parallel-all-errors": Case(
        [
            user("Rebook AB123."),
            an_assistant(
                an_use("t1", "get_order", {"order_id": "AB123"}),
                an_use("t2", "get_user", {"user_id": "u7"}),
                an_use("t3", "search_flights", {"from": "SFO"}),
            ),
            an_results(
                an_result("t1", "timeout", is_error=True),
                an_result("t2", [{"type": "text", "text": "denied"}], is_error=True),
                an_result("t3", "no flights", is_error=True),
            ),
        ],
        errors_total=3,
        errors_recent=3,
    ),
    "anthropic/error-text-without-flag-counts": Case(
        [
            user("Rebook AB123."),
            an_assistant(
                an_use("t1", "get_order", {"order_id": "AB123"}),
                an_use("t2", "get_user", {"user_id": "u7"}),
            ),
            an_results(
                an_result("t1", "fine", is_error=False),
                # no is_error flag: the detector judges the text, as for OpenAI tool messages
                an_result("t2", "Error: looks like one but is not flagged"),
            ),
        ],
        errors_total=1,
        errors_recent=1,
    ),
    "anthropic/recent-window": Case(
        [
            user("Rebook AB123."),
            *an_turn(1, "get_order", {"n": 1}, error=True),
            *an_turn(2, "get_order", {"n": 2}, error=True),
            *an_turn(3, "get_order", {"n": 3}, error=False),
            *an_turn(4, "get_order", {"n": 4}, error=False),
        ],
        errors_total=2,
        errors_recent=1,
    ),
    "anthropic/repeat-with-reordered-input-keys": Case(
        [
            user("Find me a flight."),
            *an_turn(1, "search_flights", {"from": "SFO", "to": "JFK"}, error=False),
            *an_turn(2, "search_flights", {"to": "JFK", "from": "SFO"}, error=False),
        ],
        repeats=1,
    ),
    "anthropic/different-input-is-not-a-repeat": Case(
        [
            user("Find me a flight."),
            *an_turn(1, "search_flights", {"from": "SFO", "to": "JFK"}, error=False),
            *an_turn(2, "search_flights", {"from": "SFO", "to": "EWR"}, error=False),
        ],
    ),
    "anthropic/escalate-tool-use-in-the-last-turn": Case(
        [
            user("Rebook AB123."),
            *an_turn(1, "get_order", {"order_id": "AB123"}, error=True),
            an_assistant(
                an_use("t2", "escalate", {"reason": "tool keeps failing"}),
                text="I need help with this.",
            ),
        ],
        errors_total=1,
        errors_recent=1,
        escalation=True,
    ),
    "anthropic/escalate-in-an-earlier-turn-is-spent": Case(
        [
            user("Rebook AB123."),
            *an_turn(1, "escalate", {"reason": "x"}, error=False),
            *an_turn(2, "get_order", {"order_id": "AB123"}, error=False),
        ],
    ),
    "anthropic/keyword-in-text-blocks": Case(
        [
            user("Rebook AB123."),
            an_assistant(text="Done."),
            {"role": "user", "content": [{"type": "text", "text": "I want a Human, now"}]},
        ],
        escalation=True,
        cfg={"keywords": ("human",)},
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_signals_table(case: Case) -> None:
    sig = full_signals(case.messages, **case.cfg)
    got = (
        sig.tool_errors_total,
        sig.tool_errors_recent,
        sig.repeated_tool_calls,
        sig.escalation_requested,
    )
    assert got == (case.errors_total, case.errors_recent, case.repeats, case.escalation)
    assert sig.context_tokens > 0
    assert sig.context_fraction == pytest.approx(sig.context_tokens / WINDOW)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_signals_table_incremental_equals_full(case: Case) -> None:
    """Feeding the table's conversations one message at a time gives the same signals."""
    ex = extractor(**case.cfg)
    messages: list[Msg] = []
    scan: ScanState | None = None
    for m in case.messages:
        messages.append(m)
        scan = ex.scan(messages, scan)
    assert scan is not None
    assert without_escalation(signals_from(ex, scan)) == without_escalation(
        full_signals(case.messages, **case.cfg)
    )


def without_escalation(signals: Signals) -> Signals:
    return dataclasses.replace(signals, escalation_requested=False)


def test_an_escalation_counts_once_on_the_step_that_first_sees_it() -> None:
    ex = extractor(keywords=("human",))
    convo: list[Msg] = [user("I want a human now")]
    scan = ex.scan(convo, None)
    assert signals_from(ex, scan).escalation_requested  # first sight: escalate
    convo += [{"role": "assistant", "content": "Let me check."}]
    scan = ex.scan(convo, scan)
    assert not signals_from(ex, scan).escalation_requested  # nothing new: no second climb
    convo += [user("still no human?")]
    scan = ex.scan(convo, scan)
    assert signals_from(ex, scan).escalation_requested  # a new message with the keyword
    call = {"id": "e1", "type": "function", "function": {"name": "escalate", "arguments": "{}"}}
    convo += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "e1", "content": "escalated"},
    ]
    scan = ex.scan(convo, scan)
    assert signals_from(ex, scan).escalation_requested  # the model's escalate call, once
    convo += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "thanks"}]
    scan = ex.scan(convo, scan)
    assert not signals_from(ex, scan).escalation_requested


def test_keyword_in_a_text_block_next_to_tool_results() -> None:
    messages = [
        user("Rebook AB123."),
        an_assistant(an_use("t1", "get_order", {"order_id": "AB123"})),
        {
            "role": "user",
            "content": [
                an_result("t1", '{"status": "cancelled"}'),
                {"type": "text", "text": "This is taking forever, get me a human."},
            ],
        },
    ]
    assert full_signals(messages, keywords=("human",)).escalation_requested


# The default detector -----------------------------------------------------------------------

ERRORS = [
    "Error: order not found",
    "error: invalid date",
    "ERROR 500",
    "  \nError: leading whitespace",
    "Exception: ValueError('x')",
    'Traceback (most recent call last):\n  File "tool.py", line 3',
    '{"error": "not found"}',
    '{"status": 404, "error": {"code": "E1", "message": "missing"}}',
    ' {"error": "leading space"}',
    [{"type": "text", "text": "Error: in a content part"}],
]

NON_ERRORS = [
    '{"error": null}',
    '{"error": false, "result": 3}',
    '{"error": ""}',
    "No errors found",
    "0 errors, 2 warnings",
    '{"result": "the error rate is 2%"}',
    '{"message": "no \\"error\\" here"}',
    '{not json but mentions "error"}',
    '["error"]',
    "",
    None,
    "OK",
    [{"type": "text", "text": "all good"}],
]


@pytest.mark.parametrize("content", ERRORS)
def test_default_detector_flags_errors(content: Any) -> None:
    assert is_tool_error(default_tool_error_detector, content) is True


@pytest.mark.parametrize("content", NON_ERRORS)
def test_default_detector_passes_non_errors(content: Any) -> None:
    assert is_tool_error(default_tool_error_detector, content) is False


def test_every_detector_case_as_openai_tool_results() -> None:
    calls = [oa_call(f"c{i}", "t", {"i": i}) for i in range(len(ERRORS) + len(NON_ERRORS))]
    results = [
        oa_tool(c["id"], content) for c, content in zip(calls, ERRORS + NON_ERRORS, strict=True)
    ]
    sig = full_signals([*HEAD, oa_assistant(*calls), *results])
    assert sig.tool_errors_total == len(ERRORS)
    assert sig.tool_errors_recent == len(ERRORS)


def test_custom_detector_replaces_the_default() -> None:
    seen: list[Any] = []

    def detector(result: ToolResult) -> bool:
        seen.append(result.content)
        return result.text.startswith("FAILED")

    messages = [
        *HEAD,
        *oa_turn(1, "run", {"cmd": "a"}, "Error: default would flag this"),
        *oa_turn(2, "run", {"cmd": "b"}, "FAILED: exit 1"),
        *oa_turn(3, "run", {"cmd": "c"}, '{"error": "default would flag this too"}'),
    ]
    sig = full_signals(messages, detector=detector)
    assert (sig.tool_errors_total, sig.tool_errors_recent) == (1, 1)
    assert seen == [
        "Error: default would flag this",
        "FAILED: exit 1",
        '{"error": "default would flag this too"}',
    ]


def test_custom_detector_judges_anthropic_results_and_is_error_always_counts() -> None:
    """One detector for every shape: it judges unflagged Anthropic results by their text;
    ``is_error: true`` counts without asking it."""
    seen: list[ToolResult] = []

    def detector(result: ToolResult) -> bool:
        seen.append(result)
        return result.text.startswith("FAILED")

    messages = [
        user("x"),
        an_assistant(an_use("t1", "t", {})),
        an_results(an_result("t1", "fine-looking text", is_error=True)),
        an_assistant(an_use("t2", "t", {"a": 1})),
        an_results(an_result("t2", "FAILED: exit 1"), an_result("t3", "ok", is_error=False)),
    ]
    sig = full_signals(messages, detector=detector)
    assert sig.tool_errors_total == 2
    assert [(r.text, r.shape) for r in seen] == [
        ("FAILED: exit 1", "anthropic"),
        ("ok", "anthropic"),
    ]


@pytest.mark.anyio
async def test_router_uses_the_custom_detector() -> None:
    def handler(call: Any) -> Any:
        return tool_call_result("run", {"n": call.session.step}, usage=Usage(100, 10))

    router = Router(
        config_dict(telemetry={"log_events": False}),
        providers={"alpha": MockProvider(handler), "beta": MockProvider(handler)},
        tool_error_detector=lambda content: "FAILED" in str(content),
    )
    messages: list[Msg] = [system(), user("Run the build.")]
    async with router.session() as s:
        for step, content in enumerate(["Error: not for this app", "FAILED: exit 2", "ok"], 1):
            await router.complete(messages, tools=TOOLS)
            messages += oa_turn(step, "run", {"n": step}, content)
        await router.complete(messages, tools=TOOLS)
    totals = [d.signals.tool_errors_total for d in s.decisions if d.signals is not None]
    assert totals == [0, 0, 1, 1]


# Context tokens -----------------------------------------------------------------------------


def test_context_tokens_are_the_sum_of_messages_and_tools() -> None:
    counter = EstimateCounter()
    messages = [
        *HEAD,
        oa_assistant(oa_call("c1", "get_order", {"order_id": "AB123"}), text="Checking."),
        oa_tool("c1", '{"order": {"id": "AB123", "status": "cancelled"}}'),
        an_assistant(an_use("t1", "get_user", {"user_id": "u7"})),
        an_results(an_result("t1", [{"type": "text", "text": "Ann, gold member"}])),
    ]
    expected_messages = sum(count_message(counter, m) for m in messages)
    assert full_signals(messages).context_tokens == expected_messages
    with_tools = full_signals(messages, tools=TOOLS).context_tokens
    assert with_tools == expected_messages + count_tools(counter, TOOLS)
    assert with_tools > expected_messages


def test_context_tokens_grow_with_every_message() -> None:
    messages: list[Msg] = []
    ex = extractor()
    scan: ScanState | None = None
    sizes = []
    for m in [
        *HEAD,
        *oa_turn(1, "get_order", {"order_id": "1"}, ERR),
        *an_turn(2, "x", {}, error=False),
    ]:
        messages.append(m)
        scan = ex.scan(messages, scan)
        sizes.append(signals_from(ex, scan).context_tokens)
    assert sizes[0] > 0
    assert all(b > a for a, b in itertools.pairwise(sizes))


def test_tool_results_and_arguments_are_counted() -> None:
    small = full_signals([*HEAD, *oa_turn(1, "get_order", {"id": "1"}, "ok")]).context_tokens
    big_result = full_signals(
        [*HEAD, *oa_turn(1, "get_order", {"id": "1"}, "ok " * 500)]
    ).context_tokens
    big_args = full_signals(
        [*HEAD, *oa_turn(1, "get_order", {"id": "1", "note": "word " * 500}, "ok")]
    ).context_tokens
    assert big_result > small + 300
    assert big_args > small + 300


def test_tools_tokens_follow_a_changed_tools_list() -> None:
    ex = extractor()
    assert ex.tools_tokens(None) == 0
    assert ex.tools_tokens([]) == 0
    one = ex.tools_tokens(TOOLS[:1])
    two = ex.tools_tokens(TOOLS)
    assert 0 < one < two
    assert ex.tools_tokens(TOOLS[:1]) == one


# The incremental scan -----------------------------------------------------------------------


def test_incremental_scan_extends_the_same_state() -> None:
    ex = extractor()
    messages: list[Msg] = [*HEAD]
    first = ex.scan(messages, None)
    messages += oa_turn(1, "get_order", {"order_id": "1"}, ERR)
    second = ex.scan(messages, first)
    assert second is first  # extended in place, not rebuilt
    assert second.seen == len(messages)
    assert signals_from(ex, second) == full_signals(messages)


def _grown() -> list[Msg]:
    return [
        *HEAD,
        *oa_turn(1, "get_order", {"order_id": "1"}, ERR),
        *oa_turn(2, "get_order", {"order_id": "1"}, ERR),
        *oa_turn(3, "escalate", {"reason": "x"}, "escalated"),
    ]


REWRITES: dict[str, Callable[[list[Msg]], list[Msg]]] = {
    "new-first-message-object": lambda ms: [dict(ms[0]), *ms[1:]],
    "different-system-prompt": lambda ms: [system("You are terse."), *ms[1:]],
    "removed-error-result": lambda ms: [m for i, m in enumerate(ms) if i != 3],
    "removed-last-message": lambda ms: ms[:-1],
    "trimmed-to-the-head": lambda ms: ms[:2],
    "removed-one-then-appended-two": lambda ms: [
        *[m for i, m in enumerate(ms) if i != 3],
        user("and?"),
        assistant_text("done"),
    ],
    "replaced-last-message": lambda ms: [*ms[:-1], oa_tool("c3", "Error: replaced")],
    "empty": lambda ms: [],
}


@pytest.mark.parametrize("rewrite", list(REWRITES.values()), ids=list(REWRITES))
def test_rewritten_history_falls_back_to_a_full_rescan(
    rewrite: Callable[[list[Msg]], list[Msg]],
) -> None:
    ex = extractor()
    original = _grown()
    state = ex.scan(original, None)
    rewritten = rewrite(original)
    again = ex.scan(rewritten, state)
    fresh = extractor()
    expected = signals_from(fresh, fresh.scan(rewritten, None))
    assert signals_from(ex, again) == expected


def test_a_removed_error_lowers_the_counts_after_a_rescan() -> None:
    ex = extractor()
    messages = _grown()
    state = ex.scan(messages, None)
    assert signals_from(ex, state).tool_errors_total == 2
    trimmed = [m for m in messages if m.get("content") != ERR]
    again = ex.scan(trimmed, state)
    assert again is not state
    sig = signals_from(ex, again)
    assert (sig.tool_errors_total, sig.tool_errors_recent) == (0, 0)
    assert (
        sig.context_tokens
        < signals_from(extractor(), extractor().scan(messages, None)).context_tokens
    )


def test_a_rewritten_middle_message_is_rescanned() -> None:
    ex = extractor()
    messages = _grown()
    state = ex.scan(messages, None)
    rewritten = list(messages)
    rewritten[3] = oa_tool("c1", "[old tool result cleared]")  # was the first error result
    again = ex.scan(rewritten, state)
    assert signals_from(ex, again) == full_signals(rewritten)


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_message_edited_in_place_is_rescanned(where: str) -> None:
    # the same dict object, its content changed: identities alone would keep the stale counts
    ex = extractor()
    messages = _grown()
    state = ex.scan(messages, None)
    edited = messages[0 if where == "first" else -1]
    edited["content"] = "Error: edited in place. " + "x" * 400
    again = ex.scan(messages, state)
    assert signals_from(ex, again) == full_signals(messages)


def test_the_scan_state_keeps_no_message_alive() -> None:
    import gc
    import weakref

    class Probe(dict[str, Any]):
        """A message that can be weakly referenced (a plain dict cannot)."""

    ex = extractor()
    messages: list[Msg] = [Probe(m) for m in _grown()]
    alive = [weakref.ref(m) for m in messages]
    state = ex.scan(messages, None)
    del messages
    gc.collect()
    assert [r() for r in alive] == [None] * len(alive)
    assert state.seen == len(alive)


# Hypothesis: incremental == full at every prefix ----------------------------------------------

NAMES = ("search", "lookup", "book", "escalate")
ERROR_TEXTS = (
    "Error: boom",
    "error: bad input",
    "Traceback (most recent call last):",
    '{"error": "x"}',
)
OK_TEXTS = ('{"error": null}', "No errors found", '{"ok": 1}', "done")

args_strategy = st.dictionaries(
    st.sampled_from(["q", "n", "date", "id"]),
    st.one_of(st.integers(0, 2), st.sampled_from(["a", "b"])),
    max_size=3,
)
call_strategy = st.tuples(st.sampled_from(NAMES), args_strategy)
result_strategy = st.one_of(
    st.none(),  # the app has not answered this call (yet)
    st.tuples(st.just(True), st.sampled_from(ERROR_TEXTS)),
    st.tuples(st.just(False), st.sampled_from(OK_TEXTS)),
)
turn_strategy = st.one_of(
    st.tuples(st.just("user"), st.sampled_from(["hi", "please help me", "Let me talk to a HUMAN"])),
    st.tuples(st.just("text"), st.sampled_from(["ok", "Let me check."])),
    st.tuples(
        st.just("tools"),
        st.lists(st.tuples(call_strategy, result_strategy), min_size=1, max_size=3),
    ),
)


def _shuffle_keys(args: dict[str, Any], flip: bool) -> dict[str, Any]:
    return dict(reversed(list(args.items()))) if flip else dict(args)


def build_messages(turns: list[Any], shape: str, flip: bool) -> list[Msg]:
    out: list[Msg] = [system()]
    for n, (kind, payload) in enumerate(turns):
        if kind == "user":
            out.append(user(payload))
        elif kind == "text":
            out.append(assistant_text(payload))
        elif shape == "openai":
            calls = [
                oa_call(f"c{n}_{i}", name, _shuffle_keys(a, flip and i % 2 == 0))
                for i, ((name, a), _) in enumerate(payload)
            ]
            out.append(oa_assistant(*calls))
            for i, (_, res) in enumerate(payload):
                if res is not None:
                    out.append(oa_tool(f"c{n}_{i}", res[1]))
        else:
            uses = [
                an_use(f"t{n}_{i}", name, _shuffle_keys(a, flip and i % 2 == 1))
                for i, ((name, a), _) in enumerate(payload)
            ]
            out.append(an_assistant(*uses))
            blocks = [
                an_result(f"t{n}_{i}", res[1], is_error=res[0])
                for i, (_, res) in enumerate(payload)
                if res is not None
            ]
            if blocks:
                out.append(an_results(*blocks))
    return out


@settings(max_examples=150, deadline=None)
@given(
    turns=st.lists(turn_strategy, min_size=1, max_size=12),
    shape=st.sampled_from(["openai", "anthropic"]),
    flip=st.booleans(),
    recent_window=st.integers(1, 4),
    repeat_window=st.integers(2, 5),
)
def test_incremental_scan_equals_full_scan_at_every_prefix(
    turns: list[Any], shape: str, flip: bool, recent_window: int, repeat_window: int
) -> None:
    cfg: dict[str, Any] = {
        "recent_window": recent_window,
        "repeat_window": repeat_window,
        "keywords": ("human",),
    }
    conversation = build_messages(turns, shape, flip)
    ex = extractor(**cfg)
    growing: list[Msg] = []  # the same list object, appended to like an agent loop does
    scan: ScanState | None = None
    previous_tokens = 0
    for m in conversation:
        growing.append(m)
        scan = ex.scan(growing, scan)
        incremental = signals_from(ex, scan, tools=TOOLS)
        full = full_signals(list(growing), tools=TOOLS, **cfg)
        # Escalations count once, on the step that first sees them; everything else is the
        # same whichever way the conversation was read.
        assert without_escalation(incremental) == without_escalation(full)
        assert full.context_tokens > previous_tokens
        assert full.tool_errors_recent <= full.tool_errors_total
        previous_tokens = full.context_tokens
    last = full_signals(conversation, **cfg)
    event(f"errors={last.tool_errors_recent > 0} repeats={last.repeated_tool_calls > 0}")
    event(f"escalation={last.escalation_requested}")


@settings(max_examples=60, deadline=None)
@given(
    turns=st.lists(turn_strategy, min_size=2, max_size=10),
    shape=st.sampled_from(["openai", "anthropic"]),
    cut=st.integers(0, 30),
    drop=st.integers(0, 30),
)
def test_a_trimmed_history_is_rescanned_correctly(
    turns: list[Any], shape: str, cut: int, drop: int
) -> None:
    conversation = build_messages(turns, shape, flip=False)
    ex = extractor()
    state = ex.scan(conversation, None)
    # drop one message (when there is one to drop) and keep a prefix: a shorter history
    shorter = [m for i, m in enumerate(conversation) if i != drop % len(conversation)]
    shorter = shorter[: max(0, len(shorter) - cut % (len(shorter) + 1))]
    again = ex.scan(shorter, state)
    assert signals_from(ex, again) == full_signals(shorter)
    # and growing again from the rescanned state stays correct
    grown = [*shorter, *oa_turn(99, "search", {"q": "a"}, ERR)]
    assert signals_from(ex, ex.scan(grown, again)) == full_signals(grown)
