"""The simulator's Anthropic Messages wire format, with the official ``anthropic`` SDK as client.

Answers are parsed with strict validation; streams through both the raw event iterator and the
SDK's ``messages.stream()`` accumulator. Cache usage is checked against numbers computed here
from the documented rule (the prefix up to a ``cache_control`` block, 4 characters per token;
``input_tokens`` excludes cache reads and writes).
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest

from agentroute.sim.scenario import SYSTEM_PROMPT, TOOLS, USER_REQUEST, run_tool
from agentroute.sim.server import Simulator
from tests.helpers import simulator_fixture

pytestmark = pytest.mark.anyio

CONFIG: dict[str, Any] = {
    "instances": {
        "claude": {"kind": "anthropic", "scenario": {"kind": "airline", "skills": {"opus": 2}}},
        "cold": {"kind": "anthropic", "scenario": {"kind": "airline"}},
        "echo": {"kind": "anthropic"},
        "strict_min": {"kind": "anthropic", "cache": {"min_tokens": 4096}},
    }
}
A_TOOLS = [
    {
        "name": t["function"]["name"],
        "description": t["function"]["description"],
        "input_schema": t["function"]["parameters"],
    }
    for t in TOOLS
]
MARK = {"type": "ephemeral"}
SYSTEM = [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": MARK}]
FIRST = [{"role": "user", "content": USER_REQUEST}]


sim = simulator_fixture(CONFIG)


def client(sim: Simulator, name: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=sim.base_url(name), api_key="k", max_retries=0, _strict_response_validation=True
    )


def _blocks(system: list[Any], messages: list[Any], tools: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [*tools, *system]
    for m in messages:
        out.append({"role": m["role"]})
        content = m["content"]
        out.extend([{"type": "text", "text": content}] if isinstance(content, str) else content)
    return out


def expected(system: list[Any], messages: list[Any], tools: list[Any]) -> tuple[int, list[int]]:
    """(prompt tokens, tokens of the prefix ending at each cache_control block)."""
    length, marks = 0, []
    for block in _blocks(system, messages, tools):
        length += len(
            json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)
        )
        if "cache_control" in block:
            marks.append(length // 4)
    return length // 4, marks


async def test_plain_text_message(sim: Simulator) -> None:
    async with client(sim, "echo") as c:
        m = await c.messages.create(
            model="claude-sim", max_tokens=64, messages=[{"role": "user", "content": "ping"}]
        )
    assert m.type == "message" and m.role == "assistant" and m.model == "claude-sim"
    assert m.id.startswith("msg_")
    assert m.stop_reason == "end_turn" and m.stop_sequence is None
    assert [b.type for b in m.content] == ["text"]
    assert m.content[0].text == "You said: ping"  # type: ignore[union-attr]
    total, _ = expected([], [{"role": "user", "content": "ping"}], [])
    assert m.usage.input_tokens == total
    assert m.usage.cache_read_input_tokens == 0 == m.usage.cache_creation_input_tokens
    assert m.usage.output_tokens == sim.records("echo")[-1].output_tokens


async def test_tool_use_block(sim: Simulator) -> None:
    async with client(sim, "claude") as c:
        m = await c.messages.create(
            model="haiku",
            max_tokens=256,
            system=SYSTEM_PROMPT,
            tools=A_TOOLS,
            messages=FIRST,  # type: ignore[arg-type]
        )
    assert m.stop_reason == "tool_use"
    (block,) = m.content
    assert block.type == "tool_use" and block.id.startswith("toolu_")
    assert block.name == "get_reservation" and block.input == {"reservation_id": "ZFA04Y"}


async def test_airline_loop_with_tool_results_and_error_flags(sim: Simulator) -> None:
    """A whole loop in Anthropic's shape: tool_use ids round-trip, is_error results are seen."""

    async def run(model: str) -> tuple[str, int]:
        messages: list[dict[str, Any]] = list(FIRST)
        errors = 0
        async with client(sim, "claude") as c:
            for _ in range(8):
                m = await c.messages.create(
                    model=model,
                    max_tokens=256,
                    system=SYSTEM_PROMPT,
                    tools=A_TOOLS,
                    messages=messages,  # type: ignore[arg-type]
                )
                messages.append(
                    {
                        "role": "assistant",
                        "content": [b.model_dump(exclude_none=True) for b in m.content],
                    }
                )
                uses = [b for b in m.content if b.type == "tool_use"]
                if not uses:
                    return m.content[0].text, errors  # type: ignore[union-attr]
                results = []
                for use in uses:
                    out = run_tool(use.name, use.input)  # type: ignore[arg-type]
                    failed = out.startswith("Error")
                    errors += failed
                    results.append(
                        {
                            "type": "tool_result",
                            "tool_use_id": use.id,
                            "content": out.removeprefix("Error: "),
                            "is_error": failed,
                        }
                    )
                messages.append({"role": "user", "content": results})
        return "", errors

    text, errors = await run("opus")
    assert "HAT101" in text and errors == 0
    _, weak_errors = await run("haiku")  # keeps asking to change a basic economy fare
    assert weak_errors >= 3


async def test_cache_control_writes_then_reads(sim: Simulator) -> None:
    tools = [*A_TOOLS[:-1], {**A_TOOLS[-1], "cache_control": MARK}]
    total, (tools_end, system_end) = expected(SYSTEM, FIRST, tools)
    async with client(sim, "claude") as c, client(sim, "cold") as other:
        kw: dict[str, Any] = {
            "model": "haiku",
            "max_tokens": 256,
            "system": SYSTEM,
            "tools": tools,
            "messages": FIRST,
        }
        first = await c.messages.create(**kw)
        second = await c.messages.create(**kw)
        elsewhere = await other.messages.create(**kw)
    assert tools_end < 1024 <= system_end  # the tools alone are too short to be cached
    assert first.usage.cache_creation_input_tokens == system_end
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.input_tokens == total - system_end
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == system_end
    assert second.usage.cache_read_input_tokens == system_end
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == total - system_end
    assert elsewhere.usage.cache_read_input_tokens == 0
    assert elsewhere.usage.cache_creation_input_tokens == system_end
    stats = sim.stats("claude")
    assert (stats.cache_read_tokens, stats.cache_write_tokens) == (system_end, system_end)
    assert stats.input_tokens == 2 * total  # counted with the cache included


async def test_moving_breakpoint_reads_old_prefix_and_writes_the_extension(sim: Simulator) -> None:
    turn1 = [
        {"role": "user", "content": [{"type": "text", "text": USER_REQUEST, "cache_control": MARK}]}
    ]
    turn2 = [
        {"role": "user", "content": [{"type": "text", "text": USER_REQUEST}]},
        {"role": "assistant", "content": "Let me check."},
        {"role": "user", "content": [{"type": "text", "text": "Thanks!", "cache_control": MARK}]},
    ]
    total1, (sys1, end1) = expected(SYSTEM, turn1, A_TOOLS)
    total2, (sys2, end2) = expected(SYSTEM, turn2, A_TOOLS)
    async with client(sim, "echo") as c:
        a = await c.messages.create(
            model="m", max_tokens=64, system=SYSTEM, tools=A_TOOLS, messages=turn1
        )  # type: ignore[arg-type]
        b = await c.messages.create(
            model="m", max_tokens=64, system=SYSTEM, tools=A_TOOLS, messages=turn2
        )  # type: ignore[arg-type]
    assert sys1 == sys2 < end1 < end2
    assert (a.usage.cache_read_input_tokens, a.usage.cache_creation_input_tokens) == (0, end1)
    assert a.usage.input_tokens == total1 - end1
    # turn 2 has no marker where turn 1's last one was; the lookback still finds that entry
    assert b.usage.cache_read_input_tokens == end1
    assert b.usage.cache_creation_input_tokens == end2 - end1
    assert b.usage.input_tokens == total2 - end2


async def test_one_hour_ttl_is_reported_apart(sim: Simulator) -> None:
    system = [
        {"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    _, (end,) = expected(system, FIRST, [])
    async with client(sim, "echo") as c:
        m = await c.messages.create(model="m", max_tokens=64, system=system, messages=FIRST)  # type: ignore[arg-type]
    assert m.usage.cache_creation is not None
    assert m.usage.cache_creation.ephemeral_1h_input_tokens == end
    assert m.usage.cache_creation.ephemeral_5m_input_tokens == 0


async def test_no_marker_or_too_short_prefix_is_never_cached(sim: Simulator) -> None:
    async with client(sim, "echo") as c, client(sim, "strict_min") as s:
        for _ in range(2):
            plain = await c.messages.create(
                model="m", max_tokens=64, system=SYSTEM_PROMPT, messages=FIRST
            )
            short = await s.messages.create(model="m", max_tokens=64, system=SYSTEM, messages=FIRST)  # type: ignore[arg-type]
    for m in (plain, short):
        assert m.usage.cache_read_input_tokens == 0 == m.usage.cache_creation_input_tokens


async def test_raw_stream_event_sequence_and_usage(sim: Simulator) -> None:
    async with client(sim, "claude") as c:
        stream = await c.messages.create(
            model="haiku",
            max_tokens=256,
            system=SYSTEM,
            tools=A_TOOLS,
            messages=FIRST,
            stream=True,  # type: ignore[arg-type]
        )
        events = [e async for e in stream]
    types = [e.type for e in events]
    assert types[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and delta.type == "message_delta"
    assert delta.delta.stop_reason == "tool_use"
    record = sim.records("claude")[-1]
    assert record.usage is not None
    assert start.message.usage.cache_creation_input_tokens == record.usage.written_tokens
    assert delta.usage.output_tokens == record.output_tokens
    assert delta.usage.input_tokens == record.usage.uncached_tokens


async def test_ping_is_sent_and_skipped_by_the_sdk(sim: Simulator) -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with httpx.AsyncClient() as raw:
        r = await raw.post(sim.base_url("echo") + "/v1/messages", json=body)
    names = [
        line.removeprefix("event: ") for line in r.text.splitlines() if line.startswith("event: ")
    ]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert r.headers["content-type"].startswith("text/event-stream")


async def test_stream_helper_accumulates_the_final_message(sim: Simulator) -> None:
    async with client(sim, "echo") as c:
        text = "a sentence long enough to need several text deltas"
        async with c.messages.stream(
            model="m", max_tokens=64, messages=[{"role": "user", "content": text}]
        ) as s:
            pieces = [t async for t in s.text_stream]
            final = await s.get_final_message()
    assert "".join(pieces) == f"You said: {text}" == final.content[0].text  # type: ignore[union-attr]
    assert len(pieces) > 1
    assert final.usage.output_tokens == sim.records("echo")[-1].output_tokens
    assert final.stop_reason == "end_turn"


async def test_stream_helper_with_tool_use_and_cache(sim: Simulator) -> None:
    async with client(sim, "claude") as c:
        kw: dict[str, Any] = {
            "model": "haiku",
            "max_tokens": 256,
            "system": SYSTEM,
            "tools": A_TOOLS,
            "messages": FIRST,
        }
        await c.messages.create(**kw)
        async with c.messages.stream(**kw) as s:
            final = await s.get_final_message()
    _, (end,) = expected(SYSTEM, FIRST, A_TOOLS)
    (block,) = final.content
    assert block.type == "tool_use" and block.input == {"reservation_id": "ZFA04Y"}
    assert final.usage.cache_read_input_tokens == end


async def test_too_many_breakpoints_is_a_bad_request(sim: Simulator) -> None:
    system = [{"type": "text", "text": f"part {i}", "cache_control": MARK} for i in range(5)]
    async with client(sim, "echo") as c:
        with pytest.raises(anthropic.BadRequestError) as info:
            await c.messages.create(model="m", max_tokens=8, system=system, messages=FIRST)  # type: ignore[arg-type]
    assert "A maximum of 4 blocks with cache_control may be provided. Found 5." in str(info.value)


async def test_missing_max_tokens_is_rejected_like_the_api(sim: Simulator) -> None:
    async with httpx.AsyncClient() as raw:
        r = await raw.post(
            sim.base_url("echo") + "/v1/messages", json={"model": "m", "messages": FIRST}
        )
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error" and body["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }
    assert body["request_id"] == r.headers["request-id"]
