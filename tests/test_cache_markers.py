"""Cache markers: automatic Anthropic ``cache_control`` breakpoints, OpenAI
``prompt_cache_key`` = session key, neither leaking to the other provider, and the effect of the
breakpoints on the simulator's Anthropic prompt cache through ``Router.complete``."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from agentroute import Router, Target
from agentroute._types import ModelCall
from agentroute.config import ProviderConfig, RouterConfig
from agentroute.providers.anthropic import AnthropicProvider
from agentroute.providers.factory import build_provider
from agentroute.providers.openai import OpenAIProvider
from agentroute.session import SessionState
from agentroute.sim.scenario import SYSTEM_PROMPT, TOOLS
from agentroute.sim.server import Simulator
from agentroute.sim.wire_anthropic import parse as parse_anthropic
from tests.helpers import one_model_config, simulator_fixture

pytestmark = pytest.mark.anyio

AN_TARGET = Target("big", "complex", "an", "anthropic", "claude-sonnet-4-5", 200_000)
OA_TARGET = Target("small", "simple", "oa", "openai", "gpt-4o-mini", 128_000)
FIVE_MIN = {"type": "ephemeral"}
ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}
OA_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {"name": name, "description": f"{name}.", "parameters": {"type": "object"}},
    }
    for name in ("lookup", "book")
]
CONVO: list[dict[str, Any]] = [
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
    {"role": "user", "content": "Take it."},
]


def anthropic(**kwargs: Any) -> AnthropicProvider:
    return AnthropicProvider(name="an", base_url=None, api_key="k", **kwargs)


def openai(**kwargs: Any) -> OpenAIProvider:
    return OpenAIProvider(name="oa", base_url=None, api_key="k", **kwargs)


def an_call(messages: Any = CONVO, **kwargs: Any) -> ModelCall:
    return ModelCall(messages=messages, target=AN_TARGET, **kwargs)


def oa_call(messages: Any = CONVO, **kwargs: Any) -> ModelCall:
    return ModelCall(messages=messages, target=OA_TARGET, **kwargs)


def markers(body: Any, path: str = "") -> list[tuple[str, Any]]:
    """(where, marker) for every ``cache_control`` in ``body``."""
    found: list[tuple[str, Any]] = []
    if isinstance(body, Mapping):
        for key, value in body.items():
            if key == "cache_control":
                found.append((path, value))
            else:
                found.extend(markers(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            found.extend(markers(value, f"{path}[{index}]"))
    return found


# Anthropic breakpoints: positions, TTL, count --------------------------------------------------


@pytest.mark.parametrize(
    ("ttl_s", "marker"), [(300.0, FIVE_MIN), (3599, FIVE_MIN), (3600, ONE_HOUR)]
)
def test_breakpoints_on_tools_system_and_last_message(ttl_s: float, marker: Any) -> None:
    body = anthropic(cache_breakpoints=True, cache_ttl_s=ttl_s).build_request(
        an_call(tools=OA_TOOLS)
    )
    assert dict(markers(body)) == {
        "tools[1]": marker,
        "system[0]": marker,
        "messages[2].content[1]": marker,
    }
    # The string system prompt became one text block to carry the marker.
    assert body["system"] == [
        {"type": "text", "text": "You are a booking agent.", **{"cache_control": marker}}
    ]
    # The last message holds the tool result and the user's text; the text (last) is marked.
    last = body["messages"][-1]["content"]
    assert last[0]["type"] == "tool_result" and "cache_control" not in last[0]
    assert last[1] == {"type": "text", "text": "Take it.", "cache_control": marker}
    assert "cache_control" not in body["tools"][0]
    parse_anthropic(body)  # the simulator's checks (at most four markers) pass


def test_last_message_string_content_becomes_a_block() -> None:
    messages = [{"role": "user", "content": "Hello"}]
    body = anthropic(cache_breakpoints=True).build_request(an_call(messages))
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hello", "cache_control": FIVE_MIN}]}
    ]
    assert "system" not in body and "tools" not in body
    assert len(markers(body)) == 1


def test_last_tool_result_is_marked_when_it_ends_the_conversation() -> None:
    body = anthropic(cache_breakpoints=True).build_request(an_call(CONVO[:4]))
    last = body["messages"][-1]
    assert last["role"] == "user" and last["content"][-1]["type"] == "tool_result"
    assert last["content"][-1]["cache_control"] == FIVE_MIN
    assert {where for where, _ in markers(body)} == {"system[0]", "messages[2].content[0]"}


def test_thinking_blocks_and_empty_text_are_not_marked() -> None:
    messages = [
        {"role": "user", "content": "Think."},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Partial"},
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xyz"},
            ],
        },
    ]
    body = anthropic(cache_breakpoints=True).build_request(an_call(messages))
    blocks = body["messages"][-1]["content"]
    assert blocks[0]["cache_control"] == FIVE_MIN
    assert all("cache_control" not in b for b in blocks[1:])
    empty = anthropic(cache_breakpoints=True).build_request(
        an_call([{"role": "user", "content": ""}])
    )
    assert markers(empty) == []


def test_system_blocks_mark_the_last_one() -> None:
    system = [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]
    messages = [{"role": "user", "content": "Hi"}]
    body = anthropic(cache_breakpoints=True).build_request(
        an_call(messages, params={"system": system})
    )
    assert body["system"] == [
        {"type": "text", "text": "A"},
        {"type": "text", "text": "B", "cache_control": FIVE_MIN},
    ]


def test_off_by_default_when_built_by_hand() -> None:
    assert markers(anthropic().build_request(an_call(tools=OA_TOOLS))) == []
    assert anthropic().build_request(an_call())["system"] == "You are a booking agent."


CALLER_MARKED: list[tuple[str, dict[str, Any]]] = [
    (
        "tool",
        {
            "tools": [
                {"name": "t", "input_schema": {"type": "object"}, "cache_control": FIVE_MIN},
                {"name": "u", "input_schema": {"type": "object"}},
            ]
        },
    ),
    (
        "system block",
        {
            "messages": [
                {
                    "role": "system",
                    "content": [{"type": "text", "text": "S", "cache_control": FIVE_MIN}],
                },
                {"role": "user", "content": "Hi"},
            ]
        },
    ),
    (
        "message block",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Doc", "cache_control": ONE_HOUR}],
                },
                {"role": "assistant", "content": "Read."},
                {"role": "user", "content": "Summarize."},
            ]
        },
    ),
    (
        "inside a tool result",
        {
            "messages": [
                {"role": "user", "content": "Go"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "t", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": "r", "cache_control": FIVE_MIN}],
                        }
                    ],
                },
            ]
        },
    ),
    ("top-level param", {"params": {"cache_control": FIVE_MIN}}),
]


@pytest.mark.parametrize(
    "given", [g for _, g in CALLER_MARKED], ids=[name for name, _ in CALLER_MARKED]
)
def test_none_added_when_the_caller_placed_any(given: dict[str, Any]) -> None:
    kwargs = {"messages": CONVO, "tools": OA_TOOLS, **given}
    auto = anthropic(cache_breakpoints=True).build_request(an_call(**kwargs))
    plain = anthropic().build_request(an_call(**kwargs))
    assert auto == plain
    assert 1 <= len(markers(auto)) <= 4


def test_callers_messages_tools_and_system_are_not_mutated() -> None:
    # Anthropic-shaped input: the conversion may pass such dicts on, so marking must copy.
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": [{"type": "text", "text": "More"}]},
    ]
    tools = [{"name": "t", "description": "T.", "input_schema": {"type": "object"}}]
    system = [{"type": "text", "text": "Sys"}]
    params = {"system": system}
    before = copy.deepcopy((messages, tools, system, CONVO, OA_TOOLS))
    provider = anthropic(cache_breakpoints=True, cache_ttl_s=3600)
    body = provider.build_request(an_call(messages, tools=tools, params=params))
    provider.build_request(an_call(tools=OA_TOOLS))
    assert len(markers(body)) == 3
    assert (messages, tools, system, CONVO, OA_TOOLS) == before
    assert markers((messages, tools, system, CONVO, OA_TOOLS)) == []


def test_breakpoints_in_a_streamed_request_too() -> None:
    body = anthropic(cache_breakpoints=True).build_request(an_call(tools=OA_TOOLS), stream=True)
    assert body["stream"] is True and len(markers(body)) == 3


# OpenAI prompt_cache_key -----------------------------------------------------------------------


def test_prompt_cache_key_is_the_session_key() -> None:
    session = SessionState("ticket-42")
    body = openai(prompt_cache_key=True).build_request(oa_call(session=session))
    assert body["prompt_cache_key"] == "ticket-42"
    streamed = openai(prompt_cache_key=True).build_request(oa_call(session=session), stream=True)
    assert streamed["prompt_cache_key"] == "ticket-42"


def test_prompt_cache_key_off_or_without_a_session() -> None:
    session = SessionState("ticket-42")
    assert "prompt_cache_key" not in openai().build_request(oa_call(session=session))
    assert "prompt_cache_key" not in openai(prompt_cache_key=True).build_request(oa_call())


def test_the_callers_prompt_cache_key_wins() -> None:
    session = SessionState("ticket-42")
    params = {"prompt_cache_key": "mine"}
    body = openai(prompt_cache_key=True).build_request(oa_call(session=session, params=params))
    assert body["prompt_cache_key"] == "mine"
    assert openai().build_request(oa_call(params=params))["prompt_cache_key"] == "mine"


def test_a_long_session_key_is_sent_as_a_stable_digest() -> None:
    long_key = "tenant-7:" + "x" * 80
    provider = openai(prompt_cache_key=True)
    first = provider.build_request(oa_call(session=SessionState(long_key)))["prompt_cache_key"]
    again = provider.build_request(oa_call(session=SessionState(long_key)))["prompt_cache_key"]
    other = provider.build_request(oa_call(session=SessionState(long_key + "y")))
    assert first == again and first.startswith("ar-") and len(first) <= 64
    assert other["prompt_cache_key"] != first
    exact = "k" * 64
    assert provider.build_request(oa_call(session=SessionState(exact)))["prompt_cache_key"] == exact


# Markers never reach the other provider --------------------------------------------------------


def test_anthropic_markers_never_reach_openai() -> None:
    marked = anthropic(cache_breakpoints=True).build_request(an_call(tools=OA_TOOLS))
    # A conversation kept in Anthropic's shape, markers and all, sent to an OpenAI deployment.
    params = {"system": marked["system"], "cache_control": FIVE_MIN}
    body = openai(prompt_cache_key=True).build_request(
        oa_call(marked["messages"], tools=marked["tools"], params=params)
    )
    assert markers(body) == []
    assert "cache_control" not in json.dumps(body)
    assert body["messages"][0] == {
        "role": "system",
        "content": [{"type": "text", "text": "You are a booking agent."}],
    }


def test_prompt_cache_key_never_reaches_anthropic() -> None:
    session = SessionState("ticket-42")
    params = {"prompt_cache_key": "mine", "prompt_cache_retention": "24h"}
    for provider in (anthropic(), anthropic(cache_breakpoints=True)):
        body = provider.build_request(an_call(session=session, params=params))
        assert "prompt_cache" not in json.dumps(body)


# Config and factory -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, True),
        ({"cache_breakpoints": None}, True),
        ({"cache_breakpoints": True}, True),
        ({"cache_breakpoints": False}, False),
        ({"base_url": "http://127.0.0.1:8080"}, True),
    ],
)
def test_factory_anthropic_breakpoints(settings: dict[str, Any], expected: bool) -> None:
    config = ProviderConfig.model_validate({"kind": "anthropic", **settings})
    provider = build_provider("an", config)
    assert isinstance(provider, AnthropicProvider)
    assert provider.cache_breakpoints is expected
    assert (markers(provider.build_request(an_call())) != []) is expected


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, True),
        ({"base_url": "https://api.openai.com/v1"}, True),
        ({"base_url": "https://openrouter.ai/api/v1"}, False),
        ({"base_url": "http://127.0.0.1:8000/v1"}, False),
        ({"base_url": "http://127.0.0.1:8000/v1", "prompt_cache_key": True}, True),
        ({"prompt_cache_key": False}, False),
        ({"prompt_cache_key": None}, True),
    ],
)
def test_factory_openai_prompt_cache_key(settings: dict[str, Any], expected: bool) -> None:
    config = ProviderConfig.model_validate({"kind": "openai", **settings})
    provider = build_provider("oa", config)
    assert isinstance(provider, OpenAIProvider)
    assert provider.prompt_cache_key is expected
    body = provider.build_request(oa_call(session=SessionState("s-1")))
    assert ("prompt_cache_key" in body) is expected


def test_factory_ttl_and_cross_settings_ignored() -> None:
    hour = ProviderConfig.model_validate(
        {"kind": "anthropic", "cache_ttl_s": 3600, "prompt_cache_key": True}
    )
    body = build_provider("an", hour).build_request(an_call(session=SessionState("s-1")))
    assert {str(m.get("ttl")) for _, m in markers(body)} == {"1h"}
    assert "prompt_cache_key" not in body
    oa = ProviderConfig.model_validate({"kind": "openai", "cache_breakpoints": True})
    assert markers(build_provider("oa", oa).build_request(oa_call())) == []


def test_config_fields_validate_and_round_trip() -> None:
    config = ProviderConfig.model_validate({"cache_breakpoints": False, "prompt_cache_key": True})
    assert (config.cache_breakpoints, config.prompt_cache_key) == (False, True)
    assert ProviderConfig.model_validate(config.model_dump()) == config
    with pytest.raises(ValueError, match="cache_breakpoints"):
        ProviderConfig.model_validate({"cache_breakpoints": "sometimes"})


# End to end on the simulator --------------------------------------------------------------------

SIM = {
    "instances": {
        "claude": {"kind": "anthropic", "scenario": {"kind": "echo"}},
        "gpt": {"kind": "openai", "scenario": {"kind": "echo"}},
    }
}
sim = simulator_fixture(SIM)
FOLLOW_UPS = ("Which flights go to SFO tomorrow?", "And the day after?", "Thanks.")


def router_config(kind: str, base_url: str, **provider: Any) -> RouterConfig:
    data = one_model_config(
        {"p": {"kind": kind, "base_url": base_url, **provider}},
        deployment="sim-model",
        price={"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75},
        resilience={"max_retries": 0},
    )
    return RouterConfig.from_mapping(data)


async def three_steps(router: Router) -> list[tuple[int, int]]:
    """Three steps of one session (system prompt, tools, growing conversation): the
    (cache read, cache write) tokens of each."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]
    seen = []
    async with router.session(id="ticket-42"):
        for text in FOLLOW_UPS:
            messages.append({"role": "user", "content": text})
            result = await router.complete(messages, tools=TOOLS)
            messages.append({"role": "assistant", "content": result.text})
            seen.append((result.usage.cache_read_tokens, result.usage.cache_write_tokens))
    return seen


async def test_auto_breakpoints_make_the_session_read_its_cache(sim: Simulator) -> None:
    async with Router(router_config("anthropic", sim.base_url("claude"))) as router:
        reads_writes = await three_steps(router)
    (read1, write1), (read2, write2), (read3, write3) = reads_writes
    assert read1 == 0 and write1 > 1024  # tools + system prompt + first message written
    assert 0 < read2 < read3  # each step reads the whole conversation of the step before
    assert read2 == write1 and read3 == write1 + write2
    assert write2 > 0 and write3 > 0  # and writes only what was added since


async def test_without_breakpoints_the_simulator_caches_nothing(sim: Simulator) -> None:
    # Like the Messages API, the simulator's Anthropic cache only stores prefixes that end at a
    # cache_control breakpoint: without markers every step is full-price input.
    config = router_config("anthropic", sim.base_url("claude"), cache_breakpoints=False)
    async with Router(config) as router:
        reads_writes = await three_steps(router)
    assert reads_writes == [(0, 0)] * 3


async def test_openai_simulator_accepts_prompt_cache_key(sim: Simulator) -> None:
    sent: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        sent.append(json.loads(request.content))

    config = router_config("openai", sim.base_url("gpt"), prompt_cache_key=True)
    async with (
        httpx.AsyncClient(event_hooks={"request": [record]}) as client,
        Router(config, http_client=client) as router,
    ):
        reads_writes = await three_steps(router)
    assert not sim.internal_errors
    assert [body["prompt_cache_key"] for body in sent] == ["ticket-42"] * 3
    # OpenAI-style automatic caching (128-token blocks): the key changes nothing in the simulator.
    assert reads_writes[0] == (0, 0) and 0 < reads_writes[1][0] <= reads_writes[2][0]


async def test_one_hour_ttl_reaches_the_simulator(sim: Simulator) -> None:
    config = router_config("anthropic", sim.base_url("claude"), cache_ttl_s=3600)
    async with Router(config) as router:
        result = await router.complete(
            [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "Hi"}]
        )
    usage = result.usage
    assert usage.cache_write_tokens > 1024
    assert usage.cache_write_1h_tokens == usage.cache_write_tokens
