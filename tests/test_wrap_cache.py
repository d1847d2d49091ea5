"""Prompt-cache markers on the call a ``Router.wrap()``-ed function makes: Anthropic
``cache_control`` breakpoints (end to end with the ``anthropic`` SDK against the simulator's
prompt cache, and placement in each shape a caller can pass) and OpenAI ``prompt_cache_key``."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import anthropic
import pytest

from agentroute import ModelCall, ProviderUnavailable, Router
from agentroute._catalog import Catalog
from agentroute.config import RouterConfig
from agentroute.providers.function_cache import WrapCacheMarkers
from agentroute.sim.scenario import SYSTEM_PROMPT, TOOLS, USER_REQUEST, run_tool
from agentroute.sim.server import Simulator
from tests.helpers import one_model_config, simulator_fixture

pytestmark = pytest.mark.anyio

SIM = {"instances": {"claude": {"kind": "anthropic", "scenario": {"kind": "airline"}}}}
sim = simulator_fixture(SIM)
A_TOOLS: list[dict[str, Any]] = [
    {
        "name": t["function"]["name"],
        "description": t["function"]["description"],
        "input_schema": t["function"]["parameters"],
    }
    for t in TOOLS
]
FIVE_MIN = {"type": "ephemeral"}
ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}
STEPS = 5


def config(**provider: Any) -> dict[str, Any]:
    return one_model_config(
        {"p": provider},
        deployment="claude-sim",
        price={"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75},
        resilience={"max_retries": 0},
    )


def markers(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(where, marker) for every ``cache_control`` in ``value`` (mappings and lists)."""
    found: list[tuple[str, Any]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "cache_control":
                found.append((path, item))
            else:
                found.extend(markers(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(markers(item, f"{path}[{index}]"))
    return found


class Seen:
    """What the wrapped function was handed, per call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []


def claude_function(client: anthropic.AsyncAnthropic, seen: Seen) -> Any:
    async def call_claude(
        messages: Sequence[Any], *, model: str, system: Any, tools: Any, max_tokens: int = 256
    ) -> Any:
        seen.calls.append({"messages": messages, "system": system, "tools": tools})
        return await client.messages.create(
            model=model, max_tokens=max_tokens, system=system, tools=tools, messages=messages
        )

    return call_claude


async def agent_loop(
    sim: Simulator, router: Router, *, system: Any, tools: list[dict[str, Any]]
) -> tuple[list[Any], list[dict[str, Any]], Seen]:
    """An Anthropic-SDK tool loop through ``router.wrap()``: the answers, the caller's own
    history at the end, and what the wrapped function received."""
    seen = Seen()
    messages: list[dict[str, Any]] = [{"role": "user", "content": USER_REQUEST}]
    answers = []
    async with anthropic.AsyncAnthropic(
        base_url=sim.base_url("claude"), api_key="k", max_retries=0
    ) as client:
        routed = router.wrap(claude_function(client, seen))
        async with router.session(id="ticket-42") as session:
            for _ in range(STEPS):
                before = copy.deepcopy((messages, system, tools))
                answer = await routed(messages, system=system, tools=tools)
                # The caller's history, system prompt and tools are exactly as they were.
                assert (messages, system, tools) == before
                answers.append(answer)
                messages.append(
                    {
                        "role": "assistant",
                        "content": answer.content,  # the SDK's own block objects
                    }
                )
                results = []
                for use in (b for b in answer.content if b.type == "tool_use"):
                    out = run_tool(use.name, use.input)
                    results.append(
                        {
                            "type": "tool_result",
                            "tool_use_id": use.id,
                            "content": out,
                            "is_error": out.startswith("Error"),
                        }
                    )
                assert results, "the airline scenario's weak model keeps calling tools"
                messages.append({"role": "user", "content": results})
    assert not sim.internal_errors
    # The router read the SDK's usage, cache reads and writes included, for every step.
    assert session.usage.cache_read_tokens == sum(a.usage.cache_read_input_tokens for a in answers)
    assert session.usage.cache_write_tokens == sum(
        a.usage.cache_creation_input_tokens for a in answers
    )
    return answers, messages, seen


@pytest.mark.parametrize("kind", ["anthropic", None], ids=["kind-anthropic", "kind-unset"])
async def test_anthropic_sdk_loop_reads_its_cache_from_step_two(
    sim: Simulator, kind: str | None
) -> None:
    # Tools in Anthropic's shape tell the call's shape even when the provider's kind is unset
    # (the default, openai): a wrap()-only config often leaves it.
    provider = {"kind": kind} if kind else {}
    async with Router(config(**provider)) as router:
        answers, history, seen = await agent_loop(sim, router, system=SYSTEM_PROMPT, tools=A_TOOLS)
    reads = [a.usage.cache_read_input_tokens for a in answers]
    writes = [a.usage.cache_creation_input_tokens for a in answers]
    assert reads[0] == 0 and writes[0] > 1024  # tools + system + first message written
    assert all(r > 0 for r in reads[1:])  # every later step reads the conversation so far
    assert all(earlier < later for earlier, later in itertools.pairwise(reads[1:]))
    assert any("Error" in str(m["content"]) for m in history)  # the loop had a tool error
    for call in seen.calls:
        # Three breakpoints, on copies: the last tool, the system prompt, the last block.
        assert dict(markers(call)) == {
            f"tools[{len(A_TOOLS) - 1}]": FIVE_MIN,
            "system[0]": FIVE_MIN,
            f"messages[{len(call['messages']) - 1}].content[{last_block(call)}]": FIVE_MIN,
        }
        assert call["tools"] is not A_TOOLS and call["system"] != SYSTEM_PROMPT
    assert markers((history, A_TOOLS)) == []


def last_block(call: Mapping[str, Any]) -> int:
    content = call["messages"][-1]["content"]
    return len(content) - 1


async def test_no_breakpoints_when_the_provider_turns_them_off(sim: Simulator) -> None:
    async with Router(config(kind="anthropic", cache_breakpoints=False)) as router:
        answers, _, seen = await agent_loop(sim, router, system=SYSTEM_PROMPT, tools=A_TOOLS)
    assert [a.usage.cache_read_input_tokens for a in answers] == [0] * STEPS
    assert [a.usage.cache_creation_input_tokens for a in answers] == [0] * STEPS
    assert all(markers(call) == [] for call in seen.calls)
    assert all(call["tools"] is A_TOOLS for call in seen.calls)  # untouched: not even copied


async def test_the_callers_own_markers_are_kept_and_none_added(sim: Simulator) -> None:
    system = [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": ONE_HOUR}]
    async with Router(config(kind="anthropic")) as router:
        answers, _, seen = await agent_loop(sim, router, system=system, tools=A_TOOLS)
    for call in seen.calls:
        assert markers(call) == [("system[0]", ONE_HOUR)]
        assert call["system"] is system and call["tools"] is A_TOOLS
    reads = [a.usage.cache_read_input_tokens for a in answers]
    # The caller's one breakpoint (tools + system prompt) is read from step 2 on, and only it.
    assert reads[0] == 0 and len(set(reads[1:])) == 1 and reads[1] > 1024


# Placement in each shape a caller can pass (a recording function, no network) ------------------

ANSWER: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sim",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 10, "output_tokens": 2},
}
OA_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
    for n in ("lookup", "book")
]
OA_HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a booking agent."},
    {"role": "user", "content": "Book me a flight."},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "Flight HAT101 at 07:05."},
]
AN_HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "Book me a flight."},
    {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}],
    },
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "HAT101"}],
    },
]


def recording(seen: list[dict[str, Any]], response: Any = ANSWER) -> Any:
    async def call_llm(messages: Any, *, model: str, **kwargs: Any) -> Any:
        seen.append({"messages": messages, **kwargs})
        return response

    return call_llm


async def wrapped_call(
    provider: dict[str, Any], messages: Any, fn: Any = None, **params: Any
) -> dict[str, Any]:
    """One call through ``wrap()`` in session ``ticket-42``: what the function received."""
    seen: list[dict[str, Any]] = []
    before = copy.deepcopy((messages, params))
    async with Router(config(**provider)) as router, router.session(id="ticket-42"):
        await router.wrap(fn or recording(seen))(messages, **params)
    assert (messages, params) == before  # nothing the caller passed was changed
    return seen[0] if seen else {}


async def test_an_openai_shaped_history_for_an_anthropic_deployment() -> None:
    # As LiteLLM takes it for a Claude model: markers on the tool, the system message and the
    # last message, in OpenAI's own shapes; the messages in between are passed as they are.
    got = await wrapped_call({"kind": "anthropic"}, OA_HISTORY, tools=OA_TOOLS)
    assert dict(markers(got)) == {
        "tools[1]": FIVE_MIN,
        "messages[0].content[0]": FIVE_MIN,
        "messages[3].content[0]": FIVE_MIN,
    }
    sent = got["messages"]
    assert sent[0] == {
        "role": "system",
        "content": [
            {"type": "text", "text": "You are a booking agent.", "cache_control": FIVE_MIN}
        ],
    }
    assert sent[3]["content"] == [
        {"type": "text", "text": "Flight HAT101 at 07:05.", "cache_control": FIVE_MIN}
    ]
    assert sent[1] is OA_HISTORY[1] and sent[2] is OA_HISTORY[2]
    assert got["tools"][0] is OA_TOOLS[0]


async def test_the_system_param_and_a_one_hour_ttl() -> None:
    got = await wrapped_call(
        {"kind": "anthropic", "cache_ttl_s": 3600}, AN_HISTORY, system="Be brief."
    )
    assert got["system"] == [{"type": "text", "text": "Be brief.", "cache_control": ONE_HOUR}]
    assert dict(markers(got)) == {"system[0]": ONE_HOUR, "messages[2].content[0]": ONE_HOUR}
    assert got["messages"][:2] == AN_HISTORY[:2]


@pytest.mark.parametrize(
    ("messages", "params"),
    [
        (AN_HISTORY, {}),  # tool_use / tool_result blocks
        (AN_HISTORY[:1], {"tools": A_TOOLS}),  # tools with input_schema
        (AN_HISTORY[:1], {"system": [{"type": "text", "text": "Be brief."}]}),  # system blocks
    ],
    ids=["blocks", "tools", "system-blocks"],
)
async def test_an_anthropic_shaped_call_is_marked_whatever_the_kind(
    messages: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    got = await wrapped_call({"kind": "openai", "prompt_cache_key": True}, messages, **params)
    assert markers(got["messages"])  # the last message carries a breakpoint
    assert "prompt_cache_key" not in got  # an OpenAI-only argument would break the call


async def test_an_openai_call_is_passed_as_it_is() -> None:
    # A string system param alone does not make a call Anthropic's: wrapped OpenAI functions
    # may take one too, and must keep getting a string.
    got = await wrapped_call({"kind": "openai"}, OA_HISTORY, tools=OA_TOOLS, system="Be brief.")
    assert got["messages"] is OA_HISTORY and got["tools"] is OA_TOOLS
    assert got["system"] == "Be brief."
    assert markers(got) == []


async def test_a_top_level_cache_control_param_means_the_caller_manages_caching() -> None:
    got = await wrapped_call({"kind": "anthropic"}, AN_HISTORY, cache_control=FIVE_MIN)
    assert got["messages"] is AN_HISTORY and markers(got) == [("", FIVE_MIN)]


async def test_tuples_and_a_renamed_tools_parameter() -> None:
    seen: list[dict[str, Any]] = []

    async def call_llm(messages: Any, *, model: str, tool_defs: Any = None) -> Any:
        seen.append({"messages": messages, "tool_defs": tool_defs})
        return ANSWER

    tools = tuple(A_TOOLS)
    async with Router(config(kind="anthropic")) as router:
        routed = router.wrap(call_llm, tools_param="tool_defs")
        await routed(tuple(AN_HISTORY), tool_defs=tools)
    (got,) = seen
    assert {where for where, _ in markers(got)} == {
        f"tool_defs[{len(tools) - 1}]",
        "messages[2].content[0]",
    }
    assert markers((tools, AN_HISTORY)) == []


async def test_a_fallback_to_an_openai_deployment_gets_the_callers_own_messages() -> None:
    seen: list[dict[str, Any]] = []

    async def flaky(messages: Any, *, model: str, **kwargs: Any) -> Any:
        seen.append({"model": model, "messages": messages, **kwargs})
        if model == "claude-sim":
            raise ProviderUnavailable("overloaded", status_code=529)
        return ANSWER

    data = config(kind="anthropic")
    data["providers"]["oa"] = {"kind": "openai"}
    data["models"]["m"]["deployments"].append({"provider": "oa", "name": "gpt-sim"})
    async with Router(data) as router:
        await router.wrap(flaky)(OA_HISTORY, tools=OA_TOOLS)
    first, second = seen
    assert first["model"] == "claude-sim" and len(markers(first)) == 3
    assert second["model"] == "gpt-sim" and markers(second) == []
    assert second["messages"] is OA_HISTORY and second["tools"] is OA_TOOLS


def test_sdk_objects_are_left_as_they_are() -> None:
    # Messages and blocks that are not mappings (SDK objects) get no marker and are not
    # converted: the marker goes on the last block that is a mapping, or on none.
    catalog = Catalog(RouterConfig.from_mapping(config(kind="anthropic")))
    (target,) = catalog.targets("only")
    cache_markers = WrapCacheMarkers(catalog, recording([]))
    text_block = anthropic.types.TextBlock(type="text", text="Partial answer")
    mixed = {"role": "assistant", "content": [{"type": "text", "text": "So:"}, text_block]}
    out = cache_markers.prepare(ModelCall(messages=[*AN_HISTORY, mixed]), target, {})
    assert out.messages[-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "So:", "cache_control": FIVE_MIN}, text_block],
    }
    assert out.messages[-1]["content"][1] is text_block and markers(mixed) == []

    sdk_message = anthropic.types.Message.model_validate(ANSWER)  # an object, not a mapping
    history = [*AN_HISTORY, sdk_message]
    call = ModelCall(messages=history, tools=A_TOOLS, params={"tools": A_TOOLS})
    kwargs: dict[str, Any] = {"tools": A_TOOLS}
    out = cache_markers.prepare(call, target, kwargs)
    assert out is call and out.messages is history  # nothing to mark in the messages
    assert markers(kwargs) == [(f"tools[{len(A_TOOLS) - 1}]", FIVE_MIN)]  # the tools still are


# OpenAI prompt_cache_key ----------------------------------------------------------------------

OFFICIAL = {"base_url": "https://api.openai.com/v1"}


@pytest.mark.parametrize(
    ("provider", "sent"),
    [
        ({"prompt_cache_key": True}, True),
        ({"prompt_cache_key": True, "kwargs": {"base_url": "http://127.0.0.1:8000/v1"}}, True),
        ({"kwargs": OFFICIAL}, True),  # null: on where the call visibly goes to the official API
        ({}, False),  # null, no base_url kwarg: the function's own client decides, unseen
        ({"kwargs": {"base_url": "http://127.0.0.1:8000/v1"}}, False),
        ({"base_url": "https://api.openai.com/v1"}, False),  # the built-in provider's URL only
        ({"prompt_cache_key": False, "kwargs": OFFICIAL}, False),
        ({"kind": "anthropic", "prompt_cache_key": True}, False),
    ],
)
async def test_prompt_cache_key_through_wrap(provider: dict[str, Any], sent: bool) -> None:
    got = await wrapped_call(provider, OA_HISTORY, tools=OA_TOOLS)
    assert got.get("prompt_cache_key") == ("ticket-42" if sent else None)


async def test_the_callers_prompt_cache_key_wins() -> None:
    got = await wrapped_call({"prompt_cache_key": True}, OA_HISTORY, prompt_cache_key="mine")
    assert got["prompt_cache_key"] == "mine"


async def test_prompt_cache_key_only_to_a_function_that_takes_it() -> None:
    calls: list[str] = []

    async def strict(messages: Any, *, model: str, base_url: str) -> Any:  # no **kwargs
        calls.append(model)
        return ANSWER

    await wrapped_call({"prompt_cache_key": True, "kwargs": OFFICIAL}, OA_HISTORY, fn=strict)
    assert calls == ["claude-sim"]  # called, without an argument it cannot take
