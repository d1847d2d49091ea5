"""Conversion between the OpenAI Chat Completions and Anthropic Messages shapes, both ways."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute.errors import ConfigurationError
from agentroute.providers.convert import (
    RAW_ARGUMENTS_KEY,
    anthropic_tool_id,
    looks_like_tool_error,
    messages_to_anthropic,
    messages_to_openai,
    openai_tool_id,
    tool_choice_to_anthropic,
    tool_choice_to_openai,
    tools_to_anthropic,
    tools_to_openai,
)

ANTHROPIC_ID = re.compile(r"[a-zA-Z0-9_-]+")
PNG = "iVBORw0KGgo="


def contains_key(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(contains_key(v, key) for v in value.values())
    if isinstance(value, list):
        return any(contains_key(v, key) for v in value)
    return False


# System prompt ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "system_param", "expected"),
    [
        ([{"role": "system", "content": "Be brief."}], None, "Be brief."),
        ([{"role": "developer", "content": "Be brief."}], None, "Be brief."),
        (
            [{"role": "system", "content": "A"}, {"role": "developer", "content": "B"}],
            None,
            [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
        ),
        (
            [{"role": "system", "content": [{"type": "text", "text": "A"}]}],
            None,
            [{"type": "text", "text": "A"}],
        ),
        ([], "Top.", "Top."),
        (
            [{"role": "system", "content": "B"}],
            [{"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}}],
            [
                {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "B"},
            ],
        ),
        ([{"role": "system", "content": ""}], None, None),
    ],
)
def test_system_to_anthropic(messages: list[Any], system_param: Any, expected: Any) -> None:
    converted = messages_to_anthropic(
        [*messages, {"role": "user", "content": "hi"}], system=system_param
    )
    assert converted.system == expected
    assert converted.messages == [{"role": "user", "content": "hi"}]


def test_system_mid_conversation_is_hoisted() -> None:
    converted = messages_to_anthropic(
        [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": "Late rule."},
            {"role": "assistant", "content": "ok"},
        ]
    )
    assert converted.system == "Late rule."
    assert [m["role"] for m in converted.messages] == ["user", "assistant"]


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("Be brief.", [{"role": "system", "content": "Be brief."}]),
        (
            [{"type": "text", "text": "A", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            [{"role": "system", "content": [{"type": "text", "text": "A"}]}],
        ),
        (None, []),
    ],
)
def test_system_to_openai(system: Any, expected: list[Any]) -> None:
    assert messages_to_openai([], system=system) == expected


# Text and images -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("openai_part", "anthropic_block"),
    [
        ({"type": "text", "text": "hello"}, {"type": "text", "text": "hello"}),
        (
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ),
        (
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        ),
    ],
)
def test_user_parts_both_ways(openai_part: dict[str, Any], anthropic_block: dict[str, Any]) -> None:
    openai = [{"role": "user", "content": [openai_part]}]
    anthropic = [{"role": "user", "content": [anthropic_block]}]
    assert messages_to_anthropic(openai).messages == anthropic
    assert messages_to_openai(anthropic) == openai


def test_openai_only_parts_and_fields_are_dropped_for_anthropic() -> None:
    converted = messages_to_anthropic(
        [
            {
                "role": "user",
                "name": "alice",
                "content": [
                    {"type": "text", "text": "hi", "prompt_cache_breakpoint": {"mode": "explicit"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x.test/a.png", "detail": "high"},
                    },
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    {"type": "file", "file": {"file_id": "file-1"}},
                    {"type": "text", "text": ""},
                ],
            },
            {
                "role": "assistant",
                "name": "bot",
                "content": [{"type": "refusal", "refusal": "no"}, {"type": "text", "text": "ok"}],
                "refusal": "no",
                "annotations": [],
                "audio": {"id": "audio_1"},
                "function_call": {"name": "legacy", "arguments": "{}"},
            },
        ]
    )
    assert converted.messages == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    ]


def test_anthropic_only_blocks_are_dropped_for_openai() -> None:
    converted = messages_to_openai(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see", "cache_control": {"type": "ephemeral"}},
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "x"},
                    },
                    {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "xyz"},
                    {"type": "text", "text": "done", "citations": []},
                ],
            },
        ]
    )
    assert converted == [
        {"role": "user", "content": [{"type": "text", "text": "see"}]},
        {"role": "assistant", "content": "done"},
    ]


# Tool calls ------------------------------------------------------------------------------------

OPENAI_CALL_TURN: list[dict[str, Any]] = [
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_def",
                "type": "function",
                "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_abc", "content": "18°C"},
    {"role": "tool", "tool_call_id": "call_def", "content": "Error: unknown timezone"},
    {"role": "user", "content": "And tomorrow?"},
]

ANTHROPIC_CALL_TURN: list[dict[str, Any]] = [
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "call_abc",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
            {"type": "tool_use", "id": "call_def", "name": "get_time", "input": {"tz": "CET"}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_abc", "content": "18°C"},
            {
                "type": "tool_result",
                "tool_use_id": "call_def",
                "content": "Error: unknown timezone",
                "is_error": True,
            },
            {"type": "text", "text": "And tomorrow?"},
        ],
    },
]


def test_parallel_tool_calls_and_results_to_anthropic() -> None:
    assert messages_to_anthropic(OPENAI_CALL_TURN).messages == ANTHROPIC_CALL_TURN


def test_parallel_tool_uses_and_results_to_openai() -> None:
    converted = messages_to_openai(ANTHROPIC_CALL_TURN)
    assert converted[0]["content"] == "Checking."
    assert [(c["id"], c["function"]["name"]) for c in converted[0]["tool_calls"]] == [
        ("call_abc", "get_weather"),
        ("call_def", "get_time"),
    ]
    assert [json.loads(c["function"]["arguments"]) for c in converted[0]["tool_calls"]] == [
        {"city": "Paris"},
        {"tz": "CET"},
    ]
    assert converted[1:] == OPENAI_CALL_TURN[1:]


@pytest.mark.parametrize(
    ("arguments", "anthropic_input", "back"),
    [
        ('{"a": [1, 2]}', {"a": [1, 2]}, '{"a": [1, 2]}'),
        ("", {}, "{}"),
        ("not json", {RAW_ARGUMENTS_KEY: "not json"}, "not json"),
        ("[1, 2]", {RAW_ARGUMENTS_KEY: "[1, 2]"}, "[1, 2]"),
    ],
)
def test_tool_call_arguments(arguments: str, anthropic_input: dict[str, Any], back: str) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    converted = messages_to_anthropic(
        [{"role": "assistant", "content": None, "tool_calls": [call]}]
    )
    block = converted.messages[0]["content"][0]
    assert block == {"type": "tool_use", "id": "c1", "name": "f", "input": anthropic_input}
    again = messages_to_openai(converted.messages)
    assert again[0]["content"] is None
    assert again[0]["tool_calls"][0]["function"]["arguments"] == back


def test_assistant_text_blocks_stay_a_list() -> None:
    anthropic = [
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        }
    ]
    openai = messages_to_openai(anthropic)
    assert openai == [
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        }
    ]
    assert messages_to_anthropic(openai).messages == anthropic


# Tool results and the error flag ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "is_error", "openai_content"),
    [
        ("42", False, "42"),
        ("boom", True, "Error: boom"),
        ("Error: boom", True, "Error: boom"),
        ("Traceback (most recent call last): ...", True, "Traceback (most recent call last): ..."),
        ('{"error": "not found"}', True, '{"error": "not found"}'),
        ("", True, "Error"),
        (
            [{"type": "text", "text": "bad input"}],
            True,
            [{"type": "text", "text": "Error: bad input"}],
        ),
        ([{"type": "text", "text": "fine"}], False, [{"type": "text", "text": "fine"}]),
    ],
)
def test_tool_result_error_flag_to_openai(
    content: Any, is_error: bool, openai_content: Any
) -> None:
    block = {"type": "tool_result", "tool_use_id": "t1", "content": content, "is_error": is_error}
    converted = messages_to_openai([{"role": "user", "content": [block]}])
    assert converted == [{"role": "tool", "tool_call_id": "t1", "content": openai_content}]
    back = messages_to_anthropic(converted).messages[0]["content"][0]
    assert back.get("is_error", False) is is_error


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Error: x", True),
        ("error: x", True),
        ("ErrorCode 3", False),  # one detector: the signals' rule (an error *word* first)
        ("Errors: 0", False),
        ("ERROR disk full", True),
        ("Exception: ValueError", True),
        ("Traceback (most recent call last):", True),
        ("  Error: indented", True),
        ('{"error": "bad"}', True),
        ('{"error": null, "result": 1}', False),
        ('{"result": 1}', False),
        ("no errors found", False),
        ("errors: 0", False),
        ("{not json", False),
        ("", False),
    ],
)
def test_looks_like_tool_error(text: str, error: bool) -> None:
    assert looks_like_tool_error(text) is error


def test_tool_result_images_follow_in_a_user_message() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x.test/p.png"}}
    converted = messages_to_openai(
        [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "screenshot"}, image],
                    }
                ],
            }
        ]
    )
    assert converted == [
        {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "screenshot"}]},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://x.test/p.png"}}],
        },
    ]


def test_tool_message_with_text_parts_to_anthropic() -> None:
    converted = messages_to_anthropic(
        [{"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "Error: x"}]}]
    )
    assert converted.messages == [
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "c",
                    "content": [{"type": "text", "text": "Error: x"}],
                    "is_error": True,
                }
            ],
        }
    ]


# Tool definitions and tool choice --------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_tool_definitions_both_ways() -> None:
    openai = [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather.", "parameters": SCHEMA},
        }
    ]
    anthropic = [{"name": "get_weather", "description": "Weather.", "input_schema": SCHEMA}]
    assert tools_to_anthropic(openai) == anthropic
    assert tools_to_openai(anthropic) == openai
    assert tools_to_anthropic(anthropic) == anthropic
    assert tools_to_openai(openai) == openai


def test_tool_definition_edge_cases() -> None:
    assert tools_to_anthropic(
        [{"type": "function", "function": {"name": "ping", "strict": True}}]
    ) == [{"name": "ping", "input_schema": {"type": "object", "properties": {}}}]
    custom = {"type": "custom", "custom": {"name": "grammar", "format": {"type": "text"}}}
    assert tools_to_anthropic([custom]) == []
    server_tool = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    cached = {"name": "f", "input_schema": SCHEMA, "cache_control": {"type": "ephemeral"}}
    assert tools_to_openai([server_tool, cached]) == [
        {"type": "function", "function": {"name": "f", "parameters": SCHEMA}}
    ]
    assert tools_to_anthropic([server_tool]) == [server_tool]
    assert tools_to_anthropic(None) == [] and tools_to_openai(None) == []


@pytest.mark.parametrize(
    ("openai", "parallel", "anthropic"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "function": {"name": "f"}},
            False,
            {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
        ),
    ],
)
def test_tool_choice_both_ways(
    openai: Any, parallel: bool | None, anthropic: dict[str, Any]
) -> None:
    assert tool_choice_to_anthropic(openai, parallel_tool_calls=parallel) == anthropic
    assert tool_choice_to_openai(anthropic) == (openai, parallel)
    assert tool_choice_to_anthropic(anthropic) == anthropic
    assert tool_choice_to_openai(openai) == (openai, None)


def test_tool_choice_edge_cases() -> None:
    assert tool_choice_to_anthropic(None) is None
    assert tool_choice_to_anthropic(None, parallel_tool_calls=False) == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
    assert tool_choice_to_anthropic("none", parallel_tool_calls=False) == {"type": "none"}
    allowed = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": []}}
    assert tool_choice_to_anthropic(allowed) == {"type": "any"}
    assert tool_choice_to_openai(None) == (None, None)


# Portability -----------------------------------------------------------------------------------

CACHED_ANTHROPIC: list[dict[str, Any]] = [
    {
        "role": "user",
        "content": [{"type": "text", "text": "doc", "cache_control": {"type": "ephemeral"}}],
    },
    {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "f",
                "input": {},
                "cache_control": {"type": "ephemeral"},
            }
        ],
    },
    {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": [{"type": "text", "text": "r", "cache_control": {"type": "ephemeral"}}],
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
    },
]


def test_cache_control_never_reaches_the_openai_shape() -> None:
    system = [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]
    openai_shaped_with_marker = {
        "role": "user",
        "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}],
    }
    converted = messages_to_openai([*CACHED_ANTHROPIC, openai_shaped_with_marker], system=system)
    assert not contains_key(converted, "cache_control")
    assert messages_to_anthropic(converted).messages[0]["content"] == [
        {"type": "text", "text": "doc"}
    ]


def test_anthropic_shape_keeps_its_own_cache_markers() -> None:
    converted = messages_to_anthropic(CACHED_ANTHROPIC)
    assert converted.messages == CACHED_ANTHROPIC


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("toolu_01A-b", "toolu_01A-b"),
        ("call.1", "call_1_"),
        ("fs.readFile:7", "fs_readFile_7_"),
        ("", "toolu_"),
        ("ключ", "____"),
    ],
)
def test_anthropic_tool_id(raw: str, clean: str) -> None:
    sanitized = anthropic_tool_id(raw)
    assert sanitized.startswith(clean)
    assert ANTHROPIC_ID.fullmatch(sanitized)
    assert anthropic_tool_id(sanitized) == sanitized
    assert anthropic_tool_id("call:1") != anthropic_tool_id("call.1")


def test_openai_tool_id_shortens_only_long_ids() -> None:
    assert openai_tool_id("call_abc") == "call_abc"
    long = "toolu_" + "x" * 60
    short = openai_tool_id(long)
    assert len(short) == 40 and short.startswith("toolu_xxx")
    assert openai_tool_id(short) == short
    assert openai_tool_id(long + "y") != short


def test_bad_ids_are_sanitized_in_call_and_result_alike() -> None:
    converted = messages_to_anthropic(
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "fn.a:1",
                        "type": "function",
                        "function": {"name": "a", "arguments": "{}"},
                    },
                    {
                        "id": "fn.a/1",
                        "type": "function",
                        "function": {"name": "a", "arguments": "{}"},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "fn.a/1", "content": "second"},
            {"role": "tool", "tool_call_id": "fn.a:1", "content": "first"},
        ]
    )
    uses = converted.messages[0]["content"]
    results = converted.messages[1]["content"]
    assert all(ANTHROPIC_ID.fullmatch(u["id"]) for u in uses)
    assert uses[0]["id"] != uses[1]["id"]
    assert [r["tool_use_id"] for r in results] == [uses[1]["id"], uses[0]["id"]]


def test_long_ids_are_shortened_in_use_and_result_alike() -> None:
    long_id = "toolu_" + "Z" * 50
    anthropic = [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": long_id, "name": "f", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": long_id, "content": "ok"}],
        },
    ]
    converted = messages_to_openai(anthropic)
    call_id = converted[0]["tool_calls"][0]["id"]
    assert len(call_id) <= 40
    assert converted[1]["tool_call_id"] == call_id


def test_conversion_is_idempotent_for_its_own_shape() -> None:
    anthropic = messages_to_anthropic(OPENAI_CALL_TURN, system="S")
    assert messages_to_anthropic(anthropic.messages, system=anthropic.system) == anthropic
    openai = messages_to_openai(ANTHROPIC_CALL_TURN, system="S")
    assert messages_to_openai(openai) == openai


@pytest.mark.parametrize("bad", [["not a message"], [{"role": "wizard", "content": "x"}]])
def test_unknown_messages_are_a_configuration_error(bad: list[Any]) -> None:
    with pytest.raises(ConfigurationError, match=r"messages\[0\]"):
        messages_to_anthropic(bad)
    with pytest.raises(ConfigurationError, match=r"messages\[0\]"):
        messages_to_openai(bad)


# Round trips (property-based) ------------------------------------------------------------------

IDS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
    min_size=1,
    max_size=40,
)
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
TEXT = st.text(min_size=1, max_size=30)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
ARGS = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4)


@st.composite
def openai_conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": draw(TEXT)}]
    if draw(st.booleans()):
        messages.insert(0, {"role": "system", "content": draw(TEXT)})
    ids = iter(draw(st.lists(IDS, min_size=12, max_size=12, unique=True)))
    for _ in range(draw(st.integers(1, 3))):
        calls = [
            {
                "id": next(ids),
                "type": "function",
                "function": {"name": draw(NAMES), "arguments": json.dumps(draw(ARGS))},
            }
            for _ in range(draw(st.integers(1, 3)))
        ]
        messages.append(
            {"role": "assistant", "content": draw(st.none() | TEXT), "tool_calls": calls}
        )
        for call in calls:
            text = draw(TEXT)
            content = f"Error: {text}" if draw(st.booleans()) else text
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
        if draw(st.booleans()):
            messages.append({"role": "user", "content": draw(TEXT)})
    messages.append({"role": "assistant", "content": draw(TEXT)})
    return messages


@st.composite
def anthropic_conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": draw(TEXT)}]
    ids = iter(draw(st.lists(IDS, min_size=12, max_size=12, unique=True)))
    for _ in range(draw(st.integers(1, 3))):
        uses = [
            {"type": "tool_use", "id": next(ids), "name": draw(NAMES), "input": draw(ARGS)}
            for _ in range(draw(st.integers(1, 3)))
        ]
        lead = [{"type": "text", "text": draw(TEXT)}] if draw(st.booleans()) else []
        messages.append({"role": "assistant", "content": lead + uses})
        results: list[dict[str, Any]] = []
        for use in uses:
            text = draw(TEXT)
            content: Any = [{"type": "text", "text": text}] if draw(st.booleans()) else text
            result = {"type": "tool_result", "tool_use_id": use["id"], "content": content}
            if draw(st.booleans()):
                result["is_error"] = True
            results.append(result)
        if draw(st.booleans()):
            results.append({"type": "text", "text": draw(TEXT)})
        messages.append({"role": "user", "content": results})
    messages.append({"role": "assistant", "content": draw(TEXT)})
    return messages


def openai_facts(messages: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    calls = [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for m in messages
        for c in m.get("tool_calls") or ()
    ]
    results = [
        (m["tool_call_id"], m["content"], looks_like_tool_error(m["content"]))
        for m in messages
        if m["role"] == "tool"
    ]
    return calls, results


def result_text(content: Any) -> str:
    return content if isinstance(content, str) else "".join(b["text"] for b in content)


def anthropic_facts(messages: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    blocks = [b for m in messages if isinstance(m["content"], list) for b in m["content"]]
    uses = [(b["id"], b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
    results = [
        (b["tool_use_id"], result_text(b["content"]), b.get("is_error", False))
        for b in blocks
        if b["type"] == "tool_result"
    ]
    return uses, results


@settings(max_examples=120, deadline=None, database=None)
@given(openai_conversations())
def test_openai_to_anthropic_to_openai_round_trip(messages: list[dict[str, Any]]) -> None:
    anthropic = messages_to_anthropic(messages)
    uses, results = anthropic_facts(anthropic.messages)
    calls, tool_results = openai_facts(messages)
    assert uses == calls
    assert results == tool_results
    back = messages_to_openai(anthropic.messages, system=anthropic.system)
    assert openai_facts(back) == (calls, tool_results)
    assert [m["role"] for m in back] == [m["role"] for m in messages]
    assert [m["content"] for m in back if m["role"] != "assistant"] == [
        m["content"] for m in messages if m["role"] != "assistant"
    ]


@settings(max_examples=120, deadline=None, database=None)
@given(anthropic_conversations())
def test_anthropic_to_openai_to_anthropic_round_trip(messages: list[dict[str, Any]]) -> None:
    openai = messages_to_openai(messages)
    back = messages_to_anthropic(openai)
    uses, results = anthropic_facts(messages)
    back_uses, back_results = anthropic_facts(back.messages)
    assert back_uses == uses
    assert [r[0] for r in back_results] == [r[0] for r in results]
    for (_, text, error), (_, back_text, back_error) in zip(results, back_results, strict=True):
        # The documented rule: a flagged result gains "Error: " unless it already reads as one;
        # an unflagged result whose text reads as an error comes back flagged.
        marked = error and not looks_like_tool_error(text)
        assert back_text == (f"Error: {text}" if marked else text)
        assert back_error == (error or looks_like_tool_error(text))
    assert messages_to_anthropic(messages_to_openai(back.messages)) == back


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.text(min_size=1, max_size=50), min_size=1, max_size=5, unique=True))
def test_any_ids_stay_paired_and_valid(ids: list[str]) -> None:
    calls = [
        {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids
    ]
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": None, "tool_calls": calls}]
    messages += [{"role": "tool", "tool_call_id": i, "content": "ok"} for i in reversed(ids)]
    anthropic = messages_to_anthropic(messages)
    uses, results = anthropic_facts(anthropic.messages)
    use_ids = [u[0] for u in uses]
    assert all(ANTHROPIC_ID.fullmatch(i) for i in use_ids)
    assert len(set(use_ids)) == len(ids)
    assert [r[0] for r in results] == list(reversed(use_ids))
    openai = messages_to_openai(anthropic.messages)
    calls_back, results_back = openai_facts(openai)
    assert all(len(c[0]) <= 40 for c in calls_back)
    assert [r[0] for r in results_back] == list(reversed([c[0] for c in calls_back]))
