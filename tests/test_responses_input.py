"""The Responses API's input (message side): items, a plain-string input, ``instructions``.

Regression tests for issue 13, defect 4: ``responses.create(input=..., instructions=...)`` items
(``message`` with ``input_text``/``output_text`` parts, ``function_call``,
``function_call_output``, ``reasoning``; as dicts or SDK objects) were refused at step 2, a
plain-string ``input`` at step 1, and ``instructions`` was left out of the token count and the
implicit session key. The official SDK's ``responses.create`` is driven through ``wrap()`` over
an ``httpx.MockTransport`` (the simulator's ``/v1/responses`` endpoint is another change).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import openai
import pytest

from agentroute import Router, Signals
from agentroute.policy.signals import SignalConfig, SignalExtractor
from agentroute.policy.tokens import EstimateCounter, count_message
from agentroute.session import derive_session_key
from agentroute.testing import ScriptedProvider
from tests.helpers import config_dict

pytestmark = pytest.mark.anyio

Msg = dict[str, Any]
INSTRUCTIONS = "You are an airline support agent. Use the tools. " * 20


# Builders: one conversation, in the Chat Completions shape and in the Responses shape ----------


def chat_turn(
    n: int, calls: Sequence[tuple[str, dict[str, Any]]], results: Sequence[str]
) -> list[Msg]:
    tool_calls = [
        {
            "id": f"c{n}{i}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for i, (name, args) in enumerate(calls)
    ]
    return [
        {"role": "assistant", "content": None, "tool_calls": tool_calls},
        *(
            {"role": "tool", "tool_call_id": f"c{n}{i}", "content": r}
            for i, r in enumerate(results)
        ),
    ]


def responses_turn(
    n: int, calls: Sequence[tuple[str, dict[str, Any]]], results: Sequence[str]
) -> list[Msg]:
    return [
        {"type": "reasoning", "id": f"rs_{n}", "summary": [{"type": "summary_text", "text": "hm"}]},
        *(
            {
                "type": "function_call",
                "call_id": f"c{n}{i}",
                "name": name,
                "arguments": json.dumps(args),
            }
            for i, (name, args) in enumerate(calls)
        ),
        *(
            {"type": "function_call_output", "call_id": f"c{n}{i}", "output": r}
            for i, r in enumerate(results)
        ),
    ]


TURNS: list[tuple[list[tuple[str, dict[str, Any]]], list[str]]] = [
    ([("get_order", {"id": 42}), ("get_user", {"id": "u1"})], ["Error: order service down", "ok"]),
    ([("get_order", {"id": 42})], [json.dumps({"error": "still down"})]),
    ([("get_order", {"id": 42}), ("get_order", {"id": 43})], ["ok", "ok"]),
    ([("escalate", {"reason": "the order service keeps failing"})], ["escalated"]),
]


def signals_of(messages: Sequence[Any]) -> Signals:
    extractor = SignalExtractor(EstimateCounter(), SignalConfig(recent_window=2))
    state = extractor.scan(messages, None)
    return extractor.signals(
        state,
        step=1,
        tools_tokens=0,
        extra_tokens=0,
        reference_window=100_000,
        validation_failures=0,
        app_escalation=False,
        hints={},
    )


def key_signals(s: Signals) -> tuple[int, int, int, bool]:
    return (
        s.tool_errors_total,
        s.tool_errors_recent,
        s.repeated_tool_calls,
        s.escalation_requested,
    )


@pytest.mark.parametrize("turns", range(1, len(TURNS) + 1))
def test_responses_items_give_the_signals_of_the_same_chat_conversation(turns: int) -> None:
    chat: list[Any] = [{"role": "user", "content": "Where is order 42?"}]
    items: list[Any] = [
        {"role": "user", "content": [{"type": "input_text", "text": "Where is order 42?"}]}
    ]
    for n, (calls, results) in enumerate(TURNS[:turns]):
        chat += chat_turn(n, calls, results)
        items += responses_turn(n, calls, results)
    assert key_signals(signals_of(items)) == key_signals(signals_of(chat))


def test_responses_signals_values() -> None:
    items: list[Any] = [{"role": "user", "content": "Where is order 42?"}]
    for n, (calls, results) in enumerate(TURNS):
        items += responses_turn(n, calls, results)
    # two errors (the text and the JSON); recent_window=2 keeps only the last two turns' errors;
    # get_order {"id": 42} is repeated in turns 2 and 3 (parallel calls are one turn);
    # the model called escalate in its last turn
    assert key_signals(signals_of(items)) == (2, 0, 2, True)
    extractor = SignalExtractor(EstimateCounter())
    assert extractor.scan(items, None).escalate_reason == "the order service keeps failing"


def test_an_output_message_after_the_calls_is_part_of_their_turn() -> None:
    escalate = {"type": "function_call", "call_id": "e", "name": "escalate", "arguments": "{}"}
    lookup = {"type": "function_call", "call_id": "g", "name": "get_order", "arguments": "{}"}
    said = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "."}],
    }
    user = {"role": "user", "content": "hi"}
    extractor = SignalExtractor(EstimateCounter())
    state = extractor.scan([user, escalate, said, lookup], None)
    assert state.fresh_escalate
    assert len(state.turn_calls) == 1  # one turn: the message did not close it
    # a chat-shaped assistant message (no "type") is a turn of its own, as before
    state = extractor.scan([user, escalate, {"role": "assistant", "content": "."}], None)
    assert not state.fresh_escalate


def test_output_messages_parts_and_items_count_tokens() -> None:
    counter = EstimateCounter()
    parts = {
        "role": "assistant",
        "type": "message",
        "content": [{"type": "output_text", "text": "It shipped on Monday.", "annotations": []}],
    }
    assert count_message(counter, parts) == count_message(
        counter, {"role": "assistant", "content": "It shipped on Monday."}
    )
    call = {"type": "function_call", "call_id": "c", "name": "get_order", "arguments": '{"id": 42}'}
    output = {"type": "function_call_output", "call_id": "c", "output": '{"status": "shipped"}'}
    as_chat = chat_turn(0, [("get_order", {"id": 42})], ['{"status": "shipped"}'])
    assert count_message(counter, call) == count_message(counter, as_chat[0])
    assert count_message(counter, output) == count_message(counter, as_chat[1])


# instructions: the token count and the session key -----------------------------------------------


def scripted_router() -> Router:
    providers = {name: ScriptedProvider(default="ok") for name in ("alpha", "beta")}
    return Router(config_dict(telemetry={"log_events": False}), providers=providers)


async def test_instructions_count_like_a_top_level_system() -> None:
    router = scripted_router()
    messages = [{"role": "user", "content": "hi"}]
    bare = await router.complete(messages)
    with_instructions = await router.complete(list(messages), instructions=INSTRUCTIONS)
    as_system = await router.complete(list(messages), system=INSTRUCTIONS)
    tokens = [
        r.decision.signals.context_tokens
        for r in (bare, with_instructions, as_system)
        if r.decision is not None and r.decision.signals is not None
    ]
    assert tokens[1] == tokens[2] > tokens[0] + 100


def test_instructions_key_the_implicit_session() -> None:
    messages = [{"role": "user", "content": "Where is order 42?"}]
    a = derive_session_key(messages, "You are agent A.")
    b = derive_session_key(messages, "You are agent B.")
    assert a != b
    as_message = derive_session_key(
        [{"role": "developer", "content": "You are agent A."}, *messages]
    )
    assert as_message == a
    # the same text as a string, as input_text parts, or as a plain-string input: one key
    parts = [{"role": "user", "content": [{"type": "input_text", "text": "Where is order 42?"}]}]
    assert derive_session_key(parts, "You are agent A.") == a


# wrap(responses.create): a plain-string input, then SDK items -----------------------------------


def _response(n: int, output: list[Msg]) -> Msg:
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": 1,
        "model": "small-1",
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 1000 + n,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 20,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 1020 + n,
        },
    }


def _call(n: int) -> Msg:
    return {
        "type": "function_call",
        "id": f"fc_{n}",
        "call_id": f"call_{n}",
        "name": "get_order",
        "arguments": '{"id": 42}',
        "status": "completed",
    }


ANSWERS = [
    _response(0, [{"type": "reasoning", "id": "rs_0", "summary": []}, _call(0)]),
    _response(1, [_call(1)]),
    _response(
        2,
        [
            {
                "type": "message",
                "id": "msg_2",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Shipped.", "annotations": []}],
            }
        ],
    ),
]


async def test_wrap_responses_create_with_a_string_input_then_sdk_items() -> None:
    requests: list[Msg] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(json.loads(request.content))
        return httpx.Response(200, json=ANSWERS[len(requests) - 1])

    router = Router(config_dict(telemetry={"log_events": False}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = openai.AsyncOpenAI(
            api_key="sk-test", base_url="http://127.0.0.1:9/v1", http_client=http, max_retries=0
        )
        create = router.wrap(client.responses.create, messages_param="input")
        conversation: list[Any] = []
        response = await create(input="Where is order 42?", instructions=INSTRUCTIONS)
        conversation = [{"role": "user", "content": "Where is order 42?"}]
        for n in range(2):
            conversation += response.output  # the SDK's own items
            result = "Error: order service down" if n == 0 else '{"status": "shipped"}'
            conversation.append(
                {"type": "function_call_output", "call_id": f"call_{n}", "output": result}
            )
            response = await create(input=conversation, instructions=INSTRUCTIONS)
    assert response.output_text == "Shipped."
    assert requests[0]["input"] == "Where is order 42?"  # the caller's own string
    assert requests[0]["model"] == "small-1"
    assert all(r["instructions"] == INSTRUCTIONS for r in requests)
    state = router._sessions.get(derive_session_key(conversation, INSTRUCTIONS), conversation)
    assert state.step == 3  # one implicit session: the string and the list key alike
    decision = state.last_decision
    assert decision is not None and decision.signals is not None
    assert (decision.signals.tool_errors_total, decision.signals.repeated_tool_calls) == (1, 1)
    assert state.usage.input_tokens == 1000 + 1001 + 1002  # read from each response


async def test_wrap_passes_a_plain_string_input_unchanged() -> None:
    seen: list[Any] = []

    async def create(*, input: Any, model: str, **kw: Any) -> Msg:
        seen.append(input)
        return {
            "output": [],
            "usage": {
                "input_tokens": 5,
                "output_tokens": 1,
                "input_tokens_details": {"cached_tokens": 0},
            },
        }

    router = Router(config_dict(telemetry={"log_events": False}))
    routed = router.wrap(create, messages_param="input")
    await routed(input="hello")
    await routed(input="hello", instructions="Be brief.")
    assert seen == ["hello", "hello"]
    assert type(seen[0]) is str


async def test_complete_converts_responses_items_for_both_apis() -> None:
    bodies: list[Msg] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "big-b",
                "content": [{"type": "text", "text": "ok"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        )

    items: list[Any] = [
        {"role": "user", "content": [{"type": "input_text", "text": "Where is order 42?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_order",
            "arguments": '{"id": 42}',
        },
        {"type": "function_call", "call_id": "call_2", "name": "get_user", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "Error: down"},
        {"type": "function_call_output", "call_id": "call_2", "output": "ok"},
    ]
    tools = [{"type": "function", "name": "get_order", "parameters": {"type": "object"}}]
    config = config_dict(telemetry={"log_events": False})
    config["providers"]["beta"]["cache_breakpoints"] = False
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        router = Router(config, http_client=http)
        await router.complete(
            items, tools=tools, instructions="Be brief.", hints={"min_tier": "complex"}
        )
    body = bodies[0]
    assert body["system"] == "Be brief."
    assert "instructions" not in body
    assert body["tools"] == [{"name": "get_order", "input_schema": {"type": "object"}}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Where is order 42?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_order", "input": {"id": 42}},
                {"type": "tool_use", "id": "call_2", "name": "get_user", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_1",
                    "content": "Error: down",
                    "is_error": True,
                },
                {"type": "tool_result", "tool_use_id": "call_2", "content": "ok"},
            ],
        },
    ]
