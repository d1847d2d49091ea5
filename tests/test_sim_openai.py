"""The simulator's OpenAI Chat Completions wire format, with the official ``openai`` SDK as client.

Every client validates answers strictly (``_strict_response_validation=True``), so an answer that
does not match the SDK's own models fails the test. Usage is checked against numbers computed by
hand from the simulator's documented rules, and against the simulator's own records.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from agentroute.sim.scenario import SYSTEM_PROMPT, TOOLS, USER_REQUEST
from agentroute.sim.server import Simulator
from tests.helpers import simulator_fixture

pytestmark = pytest.mark.anyio

CONFIG: dict[str, Any] = {
    "instances": {
        "echo": {"kind": "openai"},
        "air": {"kind": "openai", "scenario": {"kind": "airline", "skills": {"big": 2}}},
        "script": {
            "kind": "openai",
            "scenario": {
                "kind": "scripted",
                "steps": [
                    {"tool": "lookup", "arguments": {"q": "flights", "n": 3}},
                    {"text": "Searching.", "tool": "search", "arguments": {}},
                    {"text": "All done."},
                ],
                "then": "Nothing more.",
            },
        },
        "other": {"kind": "openai"},
        "short_ttl": {"kind": "openai", "cache": {"ttl_s": 0.05}},
    }
}
# The openai SDK stops reading at ``data: [DONE]`` and leaves its chain of async generators
# (SSE decoder, httpx body iterator) unclosed; trio's finalizer warns about each. That is the
# SDK's behaviour against any server, not the simulator's.
SDK_STREAM_GENERATOR = pytest.mark.filterwarnings("ignore:Async generator '.*':ResourceWarning")
LONG = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": USER_REQUEST}]


sim = simulator_fixture(CONFIG)


def client(sim: Simulator, name: str, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=sim.base_url(name),
        api_key="k",
        max_retries=0,
        _strict_response_validation=True,
        **kw,
    )


def prompt_tokens(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> int:
    """The simulator's documented estimate: 4 characters per token of the serialized prompt."""
    text = json.dumps([tools or [], *messages], sort_keys=True, default=str)
    return len(text) // 4


def cached_blocks(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> int:
    """What a warm cache serves: every whole 128-token block of the prompt."""
    text = json.dumps([tools or [], *messages], sort_keys=True, default=str)
    return len(text) // (128 * 4) * 128


async def test_plain_text_answer_parses_and_reports_usage(sim: Simulator) -> None:
    async with client(sim, "echo") as c:
        messages = [{"role": "user", "content": "hello there"}]
        r = await c.chat.completions.create(model="gpt-sim", messages=messages)  # type: ignore[arg-type]
    assert r.object == "chat.completion" and r.model == "gpt-sim"
    assert r.id.startswith("chatcmpl-")
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content == "You said: hello there"
    assert choice.message.tool_calls is None
    record = sim.records("echo")[-1]
    assert r.usage is not None and record.usage is not None
    assert r.usage.prompt_tokens == prompt_tokens(messages) == record.usage.prompt_tokens
    assert r.usage.completion_tokens == record.output_tokens
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens_details is not None
    assert r.usage.prompt_tokens_details.cached_tokens == 0


async def test_tool_call_in_openai_shape(sim: Simulator) -> None:
    async with client(sim, "air") as c:
        r = await c.chat.completions.create(model="small", messages=LONG, tools=TOOLS)  # type: ignore[arg-type]
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_reservation"
    assert json.loads(call.function.arguments) == {"reservation_id": "ZFA04Y"}


async def test_airline_loop_runs_to_the_end_with_a_skilled_model(sim: Simulator) -> None:
    from agentroute.sim.scenario import run_tool

    messages: list[dict[str, Any]] = list(LONG)
    async with client(sim, "air") as c:
        for _ in range(8):
            r = await c.chat.completions.create(model="big", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
            msg = r.choices[0].message
            messages.append(msg.model_dump(exclude_none=True))
            if not msg.tool_calls:
                break
            for call in msg.tool_calls:
                result = run_tool(call.function.name, json.loads(call.function.arguments))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    assert "HAT101" in (msg.content or "")
    assert sim.stats("air").requests == 5


async def test_scripted_steps_follow_the_assistant_turns(sim: Simulator) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    seen = []
    async with client(sim, "script") as c:
        for _ in range(4):
            r = await c.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
            msg = r.choices[0].message
            calls = [
                (t.function.name, json.loads(t.function.arguments)) for t in msg.tool_calls or []
            ]
            seen.append((msg.content, calls, r.choices[0].finish_reason))
            messages.append(msg.model_dump(exclude_none=True))
            for t in msg.tool_calls or []:
                messages.append({"role": "tool", "tool_call_id": t.id, "content": "ok"})
    assert seen == [
        (None, [("lookup", {"q": "flights", "n": 3})], "tool_calls"),
        ("Searching.", [("search", {})], "tool_calls"),
        ("All done.", [], "stop"),
        ("Nothing more.", [], "stop"),
    ]


@SDK_STREAM_GENERATOR
async def test_stream_with_usage_chunk(sim: Simulator) -> None:
    async with client(sim, "air") as c:
        stream = await c.chat.completions.create(
            model="small",
            messages=LONG,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)
    assert len({ch.id for ch in chunks}) == 1
    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert all(ch.usage is None for ch in body)
    assert body[0].choices[0].delta.role == "assistant"
    assert body[-1].choices[0].finish_reason == "tool_calls"
    args = "".join(
        tc.function.arguments or ""
        for ch in body
        for tc in ch.choices[0].delta.tool_calls or []
        if tc.function is not None
    )
    names = [
        tc.function.name
        for ch in body
        for tc in ch.choices[0].delta.tool_calls or []
        if tc.function and tc.function.name
    ]
    assert names == ["get_reservation"]
    assert json.loads(args) == {"reservation_id": "ZFA04Y"}
    record = sim.records("air")[-1]
    assert record.stream and record.usage is not None
    assert last.usage.prompt_tokens == prompt_tokens(LONG, TOOLS) == record.usage.prompt_tokens
    assert last.usage.completion_tokens == record.output_tokens


@SDK_STREAM_GENERATOR
async def test_stream_text_without_usage(sim: Simulator) -> None:
    async with client(sim, "echo") as c:
        stream = await c.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "a longer sentence to stream back"}],
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "You said: a longer sentence to stream back"
    assert all(ch.usage is None for ch in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_repeated_prefix_is_cached_on_the_same_instance_only(sim: Simulator) -> None:
    async with client(sim, "air") as a, client(sim, "other") as b:
        first = await a.chat.completions.create(model="m", messages=LONG, tools=TOOLS)  # type: ignore[arg-type]
        second = await a.chat.completions.create(model="m", messages=LONG, tools=TOOLS)  # type: ignore[arg-type]
        elsewhere = await b.chat.completions.create(model="m", messages=LONG, tools=TOOLS)  # type: ignore[arg-type]

    def cached(r: Any) -> int:
        return int(r.usage.prompt_tokens_details.cached_tokens)

    assert cached(first) == 0
    assert cached(second) == cached_blocks(LONG, TOOLS) > 1024
    assert second.usage is not None and second.usage.prompt_tokens == prompt_tokens(LONG, TOOLS)
    assert cached(elsewhere) == 0
    assert sim.stats("air").cache_read_tokens == cached(second)
    assert sim.stats("other").cache_read_tokens == 0


async def test_growing_conversation_reads_the_old_prefix(sim: Simulator) -> None:
    longer = [
        *LONG,
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "thanks"},
    ]
    async with client(sim, "other") as c:
        await c.chat.completions.create(model="m", messages=LONG)  # type: ignore[arg-type]
        r = await c.chat.completions.create(model="m", messages=longer)  # type: ignore[arg-type]
    assert r.usage is not None and r.usage.prompt_tokens_details is not None
    # the blocks of the first prompt that are whole blocks of the second too
    assert r.usage.prompt_tokens_details.cached_tokens == cached_blocks(LONG)


async def test_short_prompts_and_expired_entries_are_not_cached(sim: Simulator) -> None:
    import anyio

    short = [{"role": "user", "content": "hi"}]
    async with client(sim, "short_ttl") as c:
        await c.chat.completions.create(model="m", messages=short)  # type: ignore[arg-type]
        again = await c.chat.completions.create(model="m", messages=short)  # type: ignore[arg-type]
        await c.chat.completions.create(model="m", messages=LONG)  # type: ignore[arg-type]
        await anyio.sleep(0.1)
        expired = await c.chat.completions.create(model="m", messages=LONG)  # type: ignore[arg-type]
    for r in (again, expired):
        assert r.usage is not None and r.usage.prompt_tokens_details is not None
        assert r.usage.prompt_tokens_details.cached_tokens == 0
