"""The simulator's OpenAI Responses API endpoint (``POST …/v1/responses``), with the official
``openai`` SDK as client.

Every client validates answers strictly (``_strict_response_validation=True``), so an answer or a
stream event that does not match the installed SDK's own models fails the test. Usage is checked
against numbers computed by hand from the simulator's documented rule (the JSON text of
``[tools, instructions, *input items]``, 4 characters a token; whole 128-token blocks of an
earlier prompt of at least 1,024 tokens are cached) and against the simulator's own records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute.sim import wire_responses
from agentroute.sim.cache import MarkedOutcome
from agentroute.sim.faults import InvalidRequest, Reply
from agentroute.sim.scenario import SYSTEM_PROMPT, TOOLS, USER_REQUEST, Move, run_tool
from agentroute.sim.server import Simulator
from tests.helpers import simulator_fixture

pytestmark = pytest.mark.anyio

SCRIPT = {
    "kind": "scripted",
    "steps": [
        {"tool": "lookup", "arguments": {"q": "flights", "n": 3}},
        {"text": "Searching.", "tool": "search", "arguments": {}},
        {"text": "All done."},
    ],
    "then": "Nothing more.",
}
CONFIG: dict[str, Any] = {
    "instances": {
        "echo": {"kind": "openai", "context_windows": {"tiny": 50}},
        "air": {"kind": "openai", "scenario": {"kind": "airline", "skills": {"big": 2}}},
        "script": {"kind": "openai", "scenario": SCRIPT},
        "faulty": {
            "kind": "openai",
            "faults": {
                "schedule": {
                    1: {"kind": "rate_limit", "retry_after_s": 2},
                    2: "server_error",
                    3: "drop",
                    4: "drop_mid_response",
                    5: "context_window",
                    6: "drop_mid_response",
                }
            },
        },
        "refuse": {
            "kind": "openai",
            "faults": {"content_policy_triggers": ["forbidden"], "refusal": "stop_reason"},
        },
        "policy": {"kind": "openai", "faults": {"content_policy_triggers": ["forbidden"]}},
        "an": {"kind": "anthropic"},
    }
}
RTOOLS: list[dict[str, Any]] = [{"type": "function", **t["function"]} for t in TOOLS]
"""The airline scenario's tools in the Responses shape (flat, not under ``function``)."""
USER = {"role": "user", "content": USER_REQUEST}


sim = simulator_fixture(CONFIG)


def client(sim: Simulator, name: str, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=sim.base_url(name),
        api_key="k",
        max_retries=0,
        _strict_response_validation=True,
        **kw,
    )


def prompt(items: Sequence[Any], tools: Sequence[Any] = (), instructions: str | None = None) -> str:
    """The prompt text the simulator documents counting."""
    return json.dumps([list(tools), instructions, *items], sort_keys=True, default=str)


def tokens(text: str) -> int:
    return len(text) // 4


def cached(earlier: Sequence[str], text: str) -> int:
    """What the cache serves: the whole 128-token blocks ``text`` shares with an earlier prompt
    of at least 1,024 tokens (when ``text`` itself has at least 1,024 tokens)."""
    if tokens(text) < 1024:
        return 0
    shared = [common_prefix(e, text) for e in earlier if tokens(e) >= 1024]
    return max(shared, default=0) // 512 * 128


def common_prefix(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


async def drain(stream: Any, into: list[Any]) -> None:
    async for item in stream:
        into.append(item)


# ---- plain answers ------------------------------------------------------------------------


async def test_plain_text_answer_is_a_response_object_with_usage(sim: Simulator) -> None:
    async with client(sim, "echo") as c:
        r = await c.responses.create(model="gpt-sim", input="hello there")
    assert r.object == "response" and r.status == "completed" and r.model == "gpt-sim"
    assert r.id.startswith("resp_") and r.error is None and r.incomplete_details is None
    (item,) = r.output
    assert item.type == "message" and item.role == "assistant" and item.status == "completed"
    assert item.id.startswith("msg_")
    (part,) = item.content
    assert part.type == "output_text" and part.text == "You said: hello there"
    assert r.output_text == "You said: hello there"
    record = sim.records("echo")[-1]
    assert r.usage is not None and record.usage is not None and not record.stream
    expected = tokens(prompt([{"role": "user", "content": "hello there"}]))
    assert r.usage.input_tokens == expected == record.usage.prompt_tokens
    assert r.usage.output_tokens == record.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.usage.input_tokens_details.cached_tokens == 0
    assert r.usage.output_tokens_details.reasoning_tokens == 0


async def test_instructions_and_tools_count_and_are_echoed(sim: Simulator) -> None:
    items = [{"role": "user", "content": "hi"}]
    async with client(sim, "echo") as c:
        bare = await c.responses.create(model="m", input=items)  # type: ignore[arg-type]
        full = await c.responses.create(
            model="m",
            input=items,  # type: ignore[arg-type]
            instructions="Be brief.",
            tools=RTOOLS,  # type: ignore[arg-type]
            tool_choice="required",
            max_output_tokens=64,
            store=False,
            temperature=0.2,
            metadata={"run": "7"},
        )
    assert bare.usage is not None and full.usage is not None
    assert bare.usage.input_tokens == tokens(prompt(items))
    assert full.usage.input_tokens == tokens(prompt(items, RTOOLS, "Be brief."))
    assert full.usage.input_tokens > bare.usage.input_tokens
    assert full.instructions == "Be brief." and full.tool_choice == "required"
    assert full.max_output_tokens == 64 and full.store is False and full.temperature == 0.2
    assert full.metadata == {"run": "7"}
    assert [t.name for t in full.tools if t.type == "function"] == [t["name"] for t in RTOOLS]
    assert bare.store is True and bare.tools == [] and bare.tool_choice == "auto"


async def test_a_string_input_is_one_user_message(sim: Simulator) -> None:
    async with client(sim, "echo") as c:
        text = await c.responses.create(model="m", input="same words")
        listed = await c.responses.create(
            model="m", input=[{"role": "user", "content": "same words"}]
        )
        typed = await c.responses.create(
            model="m",
            input=[
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "same words"}],
                }
            ],
        )
    assert text.usage is not None and listed.usage is not None
    assert text.usage.input_tokens == listed.usage.input_tokens
    assert text.output_text == listed.output_text == typed.output_text == "You said: same words"


async def test_tool_call_is_a_function_call_item(sim: Simulator) -> None:
    async with client(sim, "air") as c:
        r = await c.responses.create(
            model="small",
            instructions=SYSTEM_PROMPT,
            input=[USER],  # type: ignore[list-item]
            tools=RTOOLS,  # type: ignore[arg-type]
        )
    (call,) = r.output
    assert call.type == "function_call" and call.status == "completed"
    assert call.call_id.startswith("call_") and (call.id or "").startswith("fc_")
    assert call.name == "get_reservation"
    assert json.loads(call.arguments) == {"reservation_id": "ZFA04Y"}
    assert r.output_text == ""


# ---- tool-calling loops -------------------------------------------------------------------


async def test_tool_loop_with_function_call_outputs_and_cached_prefixes(sim: Simulator) -> None:
    items: list[dict[str, Any]] = [USER]
    texts: list[str] = []
    async with client(sim, "air") as c:
        for step in range(8):
            r = await c.responses.create(
                model="big",
                instructions=SYSTEM_PROMPT,
                input=items,  # type: ignore[arg-type]
                tools=RTOOLS,  # type: ignore[arg-type]
            )
            text = prompt(items, RTOOLS, SYSTEM_PROMPT)
            record = sim.records("air")[-1]
            assert r.usage is not None and record.usage is not None
            assert r.usage.input_tokens == tokens(text) == record.usage.prompt_tokens
            assert r.usage.output_tokens == record.output_tokens
            read = r.usage.input_tokens_details.cached_tokens
            assert read == cached(texts, text) == record.usage.read_tokens
            if step:  # from the second step on, the previous prompt is a warm prefix
                assert read >= 1024
            texts.append(text)
            items += [o.model_dump(exclude_none=True) for o in r.output]
            calls = [o for o in r.output if o.type == "function_call"]
            if not calls:
                break
            for call in calls:
                result = run_tool(call.name, json.loads(call.arguments))
                items.append(
                    {"type": "function_call_output", "call_id": call.call_id, "output": result}
                )
    assert "HAT101" in r.output_text
    assert step == 4 and sim.stats("air").requests == 5
    assert sim.stats("air").cache_read_tokens == sum(
        rec.usage.read_tokens for rec in sim.records("air") if rec.usage
    )


def history(update_result: str) -> list[Any]:
    """The airline conversation up to the result of ``update_reservation``."""
    items: list[Any] = [USER]
    for n, (name, args) in enumerate(
        [
            ("get_reservation", {"reservation_id": "ZFA04Y"}),
            ("search_flights", {"origin": "JFK", "destination": "SFO", "date": "2026-12-03"}),
            ("update_reservation", {"reservation_id": "ZFA04Y", "flight": "HAT101"}),
        ]
    ):
        call_id = f"call_{n}"
        arguments = json.dumps(args)
        items.append(
            {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}
        )
        output = update_result if name == "update_reservation" else run_tool(name, args)
        items.append({"type": "function_call_output", "call_id": call_id, "output": output})
    return items


async def test_tool_errors_are_read_from_function_call_outputs(sim: Simulator) -> None:
    failed = "Error: basic economy fares cannot be changed; choose cabin 'economy' or higher"
    async with client(sim, "air") as c:
        after_error = await c.responses.create(model="small", input=history(failed))
        after_success = await c.responses.create(model="small", input=history('{"ok": true}'))
        as_parts = await c.responses.create(
            model="small",
            input=[
                *history(failed)[:-1],
                {
                    "type": "function_call_output",
                    "call_id": "call_2",
                    "output": [{"type": "input_text", "text": failed}],
                },
            ],
        )
    names = [o.name for r in (after_error, after_success, as_parts) for o in r.output]  # type: ignore[union-attr]
    # an error makes the weak model try again; a success moves it on to the confirmation
    assert names == ["update_reservation", "send_confirmation", "update_reservation"]


async def test_sdk_output_objects_and_reasoning_items_go_back_as_input(sim: Simulator) -> None:
    async with client(sim, "air") as c:
        first = await c.responses.create(model="small", input=[USER])  # type: ignore[list-item]
        (call,) = first.output
        assert call.type == "function_call"
        output = run_tool(call.name, json.loads(call.arguments))
        result = {"type": "function_call_output", "call_id": call.call_id, "output": output}
        reasoning = {"type": "reasoning", "id": "rs_1", "summary": []}
        plain = await c.responses.create(model="small", input=[USER, *first.output, result])  # type: ignore[list-item]
        with_reasoning = await c.responses.create(
            model="small",
            input=[USER, reasoning, *first.output, result],  # type: ignore[list-item]
        )
    assert [o.name for o in plain.output] == ["search_flights"]  # type: ignore[union-attr]
    assert [o.name for o in with_reasoning.output] == ["search_flights"]  # type: ignore[union-attr]
    assert plain.usage is not None and with_reasoning.usage is not None
    added = len(json.dumps(reasoning, sort_keys=True)) + 2  # the item and its ", "
    assert with_reasoning.usage.input_tokens - plain.usage.input_tokens in (
        added // 4,
        added // 4 + 1,
    )


async def test_scripted_steps_count_one_turn_per_response(sim: Simulator) -> None:
    items: list[Any] = [{"role": "user", "content": "go"}]
    seen = []
    async with client(sim, "script") as c:
        for _ in range(4):
            r = await c.responses.create(model="m", input=items)
            calls = [
                (o.name, json.loads(o.arguments)) for o in r.output if o.type == "function_call"
            ]
            seen.append((r.output_text or None, calls))
            items += r.output  # a text plus a call: two items of one assistant turn
            for o in r.output:
                if o.type == "function_call":
                    items.append(
                        {"type": "function_call_output", "call_id": o.call_id, "output": "ok"}
                    )
    assert seen == [
        (None, [("lookup", {"q": "flights", "n": 3})]),
        ("Searching.", [("search", {})]),
        ("All done.", []),
        ("Nothing more.", []),
    ]


# ---- streaming ----------------------------------------------------------------------------


async def test_streamed_text_follows_the_event_sequence(sim: Simulator) -> None:
    said = "a longer sentence to stream back in pieces"
    async with client(sim, "echo") as c:
        stream = await c.responses.create(model="m", input=said, stream=True)
        events = [e async for e in stream]
    types = [e.type for e in events]
    deltas = types.count("response.output_text.delta")
    assert deltas >= 3
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    created, progress, added, *_, item_done, completed = events
    assert created.type == "response.created" and progress.type == "response.in_progress"
    assert created.response.status == "in_progress" and created.response.usage is None
    assert created.response.output == [] and created.response.id == completed.response.id  # type: ignore[union-attr]
    assert added.type == "response.output_item.added" and added.item.status == "in_progress"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == f"You said: {said}"
    assert {e.item_id for e in events if e.type == "response.output_text.delta"} == {added.item.id}
    assert item_done.type == "response.output_item.done" and item_done.item.status == "completed"
    assert completed.type == "response.completed" and completed.response.output_text == text
    usage = completed.response.usage
    record = sim.records("echo")[-1]
    assert usage is not None and record.usage is not None and record.stream
    assert usage.input_tokens == tokens(prompt([{"role": "user", "content": said}]))
    assert usage.input_tokens == record.usage.prompt_tokens
    assert usage.output_tokens == record.output_tokens
    assert sim.stats("echo").streams == 1


async def test_streamed_tool_call(sim: Simulator) -> None:
    async with client(sim, "air") as c:
        stream = await c.responses.create(
            model="small",
            input=[USER],  # type: ignore[list-item]
            tools=RTOOLS,  # type: ignore[arg-type]
            stream=True,
        )
        events = [e async for e in stream]
    types = [e.type for e in events]
    n = types.count("response.function_call_arguments.delta")
    assert n >= 2
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * n,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    (done,) = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert args == done.arguments and json.loads(args) == {"reservation_id": "ZFA04Y"}
    final = events[-1]
    assert final.type == "response.completed"
    (call,) = final.response.output
    assert call.type == "function_call" and call.name == "get_reservation"
    assert call.arguments == args and call.id == done.item_id
    assert final.response.usage is not None
    assert final.response.usage.total_tokens == sim.records("air")[-1].output_tokens + (
        final.response.usage.input_tokens
    )


async def test_the_sdk_stream_helper_accumulates_the_response(sim: Simulator) -> None:
    async with client(sim, "script") as c:
        async with c.responses.stream(model="m", input="go") as first:
            async for _ in first:
                pass
            one = await first.get_final_response()
        (call,) = one.output
        assert call.type == "function_call"
        items: list[Any] = [
            {"role": "user", "content": "go"},
            *one.output,
            {"type": "function_call_output", "call_id": call.call_id, "output": "ok"},
        ]
        async with c.responses.stream(model="m", input=items) as second:
            snapshots = [e.snapshot async for e in second if e.type == "response.output_text.delta"]
            two = await second.get_final_response()
    assert call.name == "lookup" and json.loads(call.arguments) == {"q": "flights", "n": 3}
    assert snapshots and snapshots[-1] == "Searching."
    assert [o.type for o in two.output] == ["message", "function_call"]
    assert two.output_text == "Searching." and two.usage is not None
    assert two.usage.input_tokens == sim.records("script")[-1].usage.prompt_tokens  # type: ignore[union-attr]


# ---- state the simulator does not keep -----------------------------------------------------


async def test_previous_response_id_is_refused_clearly(sim: Simulator) -> None:
    async with client(sim, "echo") as c:
        first = await c.responses.create(model="m", input="hi")
        with pytest.raises(openai.BadRequestError) as refused:
            await c.responses.create(model="m", input="again", previous_response_id=first.id)
        with pytest.raises(openai.BadRequestError) as conversation:
            await c.responses.create(model="m", input="again", conversation="conv_1")
        with pytest.raises(openai.BadRequestError) as background:
            await c.responses.create(model="m", input="again", background=True)
        with pytest.raises(openai.NotFoundError):
            await c.responses.retrieve(first.id)
    err = refused.value
    assert err.status_code == 400 and err.param == "previous_response_id"
    assert err.code == "previous_response_not_found" and err.type == "invalid_request_error"
    assert first.id in err.message and "stateless" in err.message
    assert "send the whole conversation in 'input'" in err.message
    assert conversation.value.param == "conversation" and "stateless" in conversation.value.message
    assert background.value.param == "background"
    assert [r.status for r in sim.records("echo")] == [200, 400, 400, 400, 404]


# ---- malformed requests -------------------------------------------------------------------

CHAT_TOOL = TOOLS[0]
MALFORMED: list[tuple[dict[str, Any], str | None, str | None, str]] = [
    (
        {"input": "hi"},
        "model",
        "missing_required_parameter",
        "Missing required parameter: 'model'.",
    ),
    ({"model": "m"}, "input", "missing_required_parameter", "Missing required parameter: 'input'."),
    (
        {"model": "m", "input": {"role": "user"}},
        "input",
        "invalid_type",
        "Invalid type for 'input': expected one of a string or an array of input items, "
        "but got an object instead.",
    ),
    ({"model": "m", "input": []}, "input", "empty_array", "Invalid 'input': empty array."),
    (
        {"model": "m", "input": [{"role": "tool", "content": "x"}]},
        "input[0].role",
        "invalid_value",
        "Invalid value: 'tool'. Supported values are: 'user', 'assistant', 'system', and "
        "'developer'.",
    ),
    (
        {"model": "m", "input": [{"role": "user"}]},
        "input[0].content",
        "missing_required_parameter",
        "Missing required parameter: 'input[0].content'.",
    ),
    (
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "input_text", "text": "x"}]},
            ],
        },
        "input[1].content[0]",
        "invalid_value",
        "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'.",
    ),
    (
        {"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
        "input[0].call_id",
        "missing_required_parameter",
        "Missing required parameter: 'input[0].call_id'.",
    ),
    (
        {
            "model": "m",
            "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}],
        },
        "input[0].arguments",
        "invalid_type",
        "Invalid type for 'input[0].arguments': expected a string, but got an object instead.",
    ),
    (
        {"model": "m", "input": [{"type": "function_call_output", "call_id": "c9", "output": "1"}]},
        "input",
        None,
        "No tool call found for function call output with call_id c9.",
    ),
    (
        {"model": "m", "input": [{"type": "computer_call_output", "call_id": "c"}]},
        "input[0].type",
        "invalid_value",
        "Invalid value: 'computer_call_output'.",
    ),
    (
        {"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]},
        "input[0]",
        None,
        "stateless",
    ),
    (
        {"model": "m", "input": [{"type": "reasoning", "id": "rs_1"}]},
        "input[0].summary",
        "missing_required_parameter",
        "Missing required parameter: 'input[0].summary'.",
    ),
    (
        {"model": "m", "input": "hi", "tools": [CHAT_TOOL]},
        "tools[0].name",
        "missing_required_parameter",
        "Missing required parameter: 'tools[0].name'.",
    ),
    (
        {"model": "m", "input": "hi", "tools": [{"type": "web_search"}]},
        "tools[0].type",
        "invalid_value",
        "Invalid value: 'web_search'.",
    ),
    (
        {"model": "m", "input": "hi", "tool_choice": "sometimes"},
        "tool_choice",
        "invalid_value",
        "Invalid value: 'sometimes'. Supported values are: 'none', 'auto', and 'required'.",
    ),
    (
        {"model": "m", "input": "hi", "tool_choice": {"type": "function", "name": 3}},
        "tool_choice.name",
        "invalid_type",
        "Invalid type for 'tool_choice.name': expected a string, but got an integer instead.",
    ),
    (
        {"model": "m", "input": "hi", "max_output_tokens": 5},
        "max_output_tokens",
        "integer_below_min_value",
        "Expected a value >= 16, but got 5 instead.",
    ),
    (
        {"model": "m", "input": "hi", "instructions": ["be brief"]},
        "instructions",
        "invalid_type",
        "Invalid type for 'instructions': expected a string, but got an array instead.",
    ),
    (
        {"model": "m", "input": "hi", "stream": "yes"},
        "stream",
        "invalid_type",
        "Invalid type for 'stream': expected a boolean, but got a string instead.",
    ),
    (
        {"model": "m", "input": "hi", "temperature": 3},
        "temperature",
        "invalid_value",
        "Invalid 'temperature'",
    ),
]


@pytest.mark.parametrize(("body", "param", "code", "message"), MALFORMED)
async def test_malformed_requests_get_the_api_error_naming_the_param(
    sim: Simulator, body: dict[str, Any], param: str | None, code: str | None, message: str
) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.post(sim.base_url("echo") + "/responses", json=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code)
    assert message in error["message"]
    assert sim.records("echo")[-1].status == 400


async def test_a_body_that_is_not_json_or_not_an_object(sim: Simulator) -> None:
    async with httpx.AsyncClient() as c:
        broken = await c.post(sim.base_url("echo") + "/responses", content=b"{not json")
        listed = await c.post(sim.base_url("echo") + "/responses", json=["model"])
    for r in (broken, listed):
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "We could not parse the JSON body of your request."


# ---- faults -------------------------------------------------------------------------------


async def test_faults_behave_like_the_chat_endpoint(sim: Simulator) -> None:
    async with client(sim, "faulty") as c:
        with pytest.raises(openai.RateLimitError) as rate:
            await c.responses.create(model="m", input="hi")
        assert rate.value.response.headers["retry-after"] == "2"
        assert rate.value.code == "rate_limit_exceeded"
        with pytest.raises(openai.InternalServerError) as server:
            await c.responses.create(model="m", input="hi")
        assert server.value.status_code == 500 and server.value.type == "server_error"
        with pytest.raises(openai.APIConnectionError) as dropped:
            await c.responses.create(model="m", input="hi")
        assert type(dropped.value) is openai.APIConnectionError
        with pytest.raises(openai.APIConnectionError) as cut:
            await c.responses.create(model="m", input="hi")
        assert type(cut.value) is openai.APIConnectionError
        with pytest.raises(openai.BadRequestError) as window:
            await c.responses.create(model="m", input="hi")
        assert window.value.code == "context_length_exceeded" and window.value.param == "input"
        assert window.value.body == {
            "message": "Your input exceeds the context window of this model. Please adjust your "
            "input and try again.",
            "type": "invalid_request_error",
            "param": "input",
            "code": "context_length_exceeded",
        }
        stream = await c.responses.create(model="m", input="a sentence long enough", stream=True)
        got: list[Any] = []
        with pytest.raises(openai.APIConnectionError):
            await drain(stream, got)
        assert got and got[0].type == "response.created"
        assert all(e.type != "response.completed" for e in got)
        ok = await c.responses.create(model="m", input="hi")
    assert ok.output_text == "You said: hi"
    stats = sim.stats("faulty")
    assert stats.requests == 7 and stats.answered == 3  # 4 and 6 were answered, then cut short
    assert dict(stats.faults) == {
        "rate_limit": 1,
        "server_error": 1,
        "drop": 1,
        "drop_mid_response": 2,
        "context_window": 1,
    }


async def test_the_context_window_counts_the_whole_input(sim: Simulator) -> None:
    async with client(sim, "echo") as c:
        with pytest.raises(openai.BadRequestError) as err:
            await c.responses.create(model="tiny", input="word " * 100)
        fits = await c.responses.create(model="tiny", input="short")
    assert err.value.param == "input" and err.value.code == "context_length_exceeded"
    assert sim.records("echo")[0].fault == "context_window"
    assert fits.status == "completed"


async def test_content_policy_as_an_error_or_an_incomplete_response(sim: Simulator) -> None:
    async with client(sim, "policy") as strict, client(sim, "refuse") as lenient:
        with pytest.raises(openai.BadRequestError) as err:
            await strict.responses.create(model="m", input="say FORBIDDEN")
        r = await lenient.responses.create(model="m", input="something forbidden")
        stream = await lenient.responses.create(model="m", input="forbidden", stream=True)
        events = [e async for e in stream]
    assert err.value.code == "invalid_prompt"
    assert r.status == "incomplete" and r.output == []
    assert r.incomplete_details is not None and r.incomplete_details.reason == "content_filter"
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.incomplete",
    ]
    assert events[-1].response.incomplete_details.reason == "content_filter"  # type: ignore[union-attr]


async def test_only_openai_instances_serve_the_responses_api(sim: Simulator) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.post(sim.url + "/an/v1/responses", json={"model": "m", "input": "hi"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


# ---- any body at all ----------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers(-5, 100) | st.floats(0, 3) | st.text(max_size=8)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_text = st.text(max_size=12)
_call_id = st.sampled_from(["c1", "c2"])
_caller_part = st.builds(lambda t: {"type": "input_text", "text": t}, _text) | st.just(
    {"type": "input_image", "image_url": "data:image/png;base64,AA=="}
)
_assistant_part = st.builds(lambda t: {"type": "output_text", "text": t, "annotations": []}, _text)
_valid_items = st.one_of(
    st.builds(
        lambda role, content: {"role": role, "content": content},
        st.sampled_from(["user", "system", "developer"]),
        _text | st.lists(_caller_part, max_size=2),
    ),
    st.builds(
        lambda content: {"type": "message", "role": "assistant", "content": content},
        _text | st.lists(_assistant_part, max_size=2),
    ),
    st.builds(
        lambda c, n, a: {"type": "function_call", "call_id": c, "name": n, "arguments": a},
        _call_id,
        _text,
        _text,
    ),
    st.builds(
        lambda c, o: {"type": "function_call_output", "call_id": c, "output": o},
        _call_id,
        _text | st.lists(_caller_part, max_size=2),
    ),
    st.just({"type": "reasoning", "id": "rs_1", "summary": []}),
)


@st.composite
def _items(draw: st.DrawFn) -> list[Any]:
    """Mostly well-formed items; now and then one field of one item is anything at all."""
    items: list[Any] = draw(st.lists(_valid_items, min_size=1, max_size=6))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(items) - 1))
        key = draw(st.sampled_from(["type", "role", "content", "call_id", "arguments", "output"]))
        items[at] = {**items[at], key: draw(_json)}
    return items


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` nine times in ten, else any JSON value."""
    return st.integers(0, 9).flatmap(lambda n: valid if n else _json)


_tool = st.fixed_dictionaries(
    {"type": st.just("function"), "name": _text.filter(bool)},
    optional={"parameters": _mostly(st.just({"type": "object"})), "strict": st.booleans()},
)
_body = st.fixed_dictionaries(
    {"model": _mostly(st.just("m")), "input": _mostly(_items() | _text)},
    optional={
        "instructions": _mostly(_text),
        "tools": _mostly(st.lists(_tool, max_size=2)),
        "tool_choice": _mostly(st.sampled_from(["auto", "none", "required"])),
        "max_output_tokens": _mostly(st.integers(16, 100)),
        "temperature": _mostly(st.floats(0, 2)),
        "metadata": _mostly(st.dictionaries(_text, _text, max_size=2)),
        "store": _mostly(st.booleans()),
        "stream": _mostly(st.booleans()),
    },
)


@settings(max_examples=300, deadline=None, database=None)
@given(body=_body | _json)
def test_any_body_is_answered_or_refused_with_an_invalid_request(body: Any) -> None:
    """Whatever a caller sends, the parser answers it or raises the 400 naming a param (never
    another exception: that would be a 500), and what it accepts can be rendered."""
    try:
        req = wire_responses.parse(body)
    except InvalidRequest as exc:
        assert exc.message
        return
    assert req.model and req.items
    scenario_view = req.conversation
    assert all(isinstance(m.get("content"), str | None) for m in scenario_view)
    json.loads(req.prompt()[0])
    reply = Reply(
        Move(text="t", tool="f", arguments={}), "resp_x", "call_x", 0, MarkedOutcome(1, 0, 0), 1
    )
    json.loads(req.body(reply))
    assert req.events(reply)
