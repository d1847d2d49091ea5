"""The built-in HTTP providers over httpx.MockTransport, with recorded-shape bodies of both APIs."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, aclosing
from typing import Any

import httpx
import pytest

from agentroute import Router, Target, Usage
from agentroute._secrets import Secret
from agentroute._types import ModelCall, StreamChunk
from agentroute.config import ProviderConfig
from agentroute.errors import (
    AuthenticationFailed,
    BadRequest,
    ConfigurationError,
    ContentPolicyRefusal,
    ContextWindowExceeded,
    ModelNotFound,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from agentroute.providers.anthropic import AnthropicProvider
from agentroute.providers.factory import build_provider
from agentroute.providers.openai import OpenAIProvider
from agentroute.providers.transport import SSEEvent, default_client, iter_sse
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

KEY = "sk-test-provider-secret-123"
IN_30_S = "<an HTTP date 30 s from now>"  # made when the request is answered, not at import
OA_TARGET = Target("small", "simple", "oa", "openai", "gpt-4o-mini", 128000)
AN_TARGET = Target("big", "complex", "an", "anthropic", "claude-sonnet-4-5", 200000)

Handler = Callable[[httpx.Request], httpx.Response]
Provider = OpenAIProvider | AnthropicProvider


class Recorder:
    """A MockTransport handler that records requests and answers from a fixed response."""

    def __init__(self, respond: Handler) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].content)  # type: ignore[no-any-return]


def answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Handler:
    def respond(request: httpx.Request) -> httpx.Response:
        sent = {k: http_date(30) if v == IN_30_S else v for k, v in (headers or {}).items()}
        if isinstance(body, bytes | str):
            return httpx.Response(status, content=body, headers=sent)
        return httpx.Response(status, json=body, headers=sent)

    return respond


def sse(*events: tuple[str | None, Any]) -> Handler:
    lines = []
    for name, data in events:
        if name:
            lines.append(f"event: {name}")
        lines.append("data: " + (data if isinstance(data, str) else json.dumps(data)))
        lines.append("")
    payload = ("\n".join(lines) + "\n").encode()
    return answer(200, payload, {"content-type": "text/event-stream"})


def make(kind: str, handler: Handler, stack: AsyncExitStack, **kwargs: Any) -> Provider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    stack.push_async_callback(client.aclose)
    cls = OpenAIProvider if kind == "openai" else AnthropicProvider
    base = "https://oa.test/v1" if kind == "openai" else "https://an.test"
    return cls(name=kind[:2], base_url=base, api_key=KEY, client=client, **kwargs)


def call(kind: str, messages: Any = CONVERSATION, **kwargs: Any) -> ModelCall:
    target = OA_TARGET if kind == "openai" else AN_TARGET
    return ModelCall(messages=messages, target=target, **kwargs)


async def collect(provider: Provider, model_call: ModelCall) -> list[StreamChunk]:
    async with aclosing(provider.stream(model_call)) as chunks:
        return [chunk async for chunk in chunks]


async def run(provider: Provider, kind: str, mode: str) -> object:
    """One call in ``mode``: ``send``, or ``stream`` read to the end."""
    if mode == "send":
        return await provider.send(call(kind))
    return await collect(provider, call(kind))


# Requests --------------------------------------------------------------------------------------

ANTHROPIC_SHAPED = [
    {
        "role": "user",
        "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}],
    },
    {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {"q": "x"}}],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "boom", "is_error": True}
        ],
    },
]
ANTHROPIC_TOOLS = [
    {
        "name": "lookup",
        "description": "Look up.",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        "cache_control": {"type": "ephemeral"},
    }
]


async def test_openai_request_from_anthropic_shaped_call() -> None:
    recorder = Recorder(answer(200, OPENAI_TEXT))
    async with AsyncExitStack() as stack:
        provider = make("openai", recorder, stack)
        params = {
            "system": [{"type": "text", "text": "Sys", "cache_control": {"type": "ephemeral"}}],
            "temperature": 0.2,
            "stop_sequences": ["END"],
            "top_k": 5,
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "metadata": {"user_id": "u-1"},
        }
        await provider.send(call("openai", ANTHROPIC_SHAPED, tools=ANTHROPIC_TOOLS, params=params))
    request = recorder.requests[0]
    assert str(request.url) == "https://oa.test/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in request.headers
    assert b"cache_control" not in request.content
    assert recorder.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Sys"}]},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_01",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_01", "content": "Error: boom"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "Look up.",
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
                },
            }
        ],
        "temperature": 0.2,
        "stop": ["END"],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "user": "u-1",
    }


async def test_openai_request_passes_its_own_params_and_adds_no_max_tokens() -> None:
    recorder = Recorder(answer(200, OPENAI_TEXT))
    async with AsyncExitStack() as stack:
        provider = make("openai", recorder, stack, headers={"HTTP-Referer": "https://app.test"})
        params = {"prompt_cache_key": "s-1", "seed": 7, "tool_choice": "auto"}
        await provider.send(call("openai", params=params))
    body = recorder.body
    assert body["messages"] == CONVERSATION
    assert (body["prompt_cache_key"], body["seed"]) == ("s-1", 7)
    assert "max_tokens" not in body and "stream" not in body
    assert "tool_choice" not in body  # OpenAI rejects tool_choice without tools
    assert recorder.requests[0].headers["http-referer"] == "https://app.test"


async def test_anthropic_request_from_openai_shaped_call() -> None:
    recorder = Recorder(answer(200, ANTHROPIC_TOOL_ANSWER))
    messages = [
        {"role": "system", "content": "Sys"},
        {"role": "user", "content": "Weather?", "name": "alice"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call:1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call:1", "content": "sunny"},
    ]
    tools = [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}]
    params = {
        "temperature": 1.4,
        "stop": "END",
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "prompt_cache_key": "s-1",
        "seed": 3,
        "n": 1,
        "user": "u-9",
        "response_format": {"type": "json_object"},
    }
    async with AsyncExitStack() as stack:
        provider = make("anthropic", recorder, stack)
        await provider.send(call("anthropic", messages, tools=tools, params=params))
    request = recorder.requests[0]
    assert str(request.url) == "https://an.test/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    body = recorder.body
    tool_id = body["messages"][1]["content"][0]["id"]
    assert tool_id.startswith("call_1_")
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "system": "Sys",
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": tool_id, "name": "w", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "sunny"}],
            },
        ],
        "tools": [{"name": "w", "input_schema": {"type": "object"}}],
        "temperature": 1.0,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-9"},
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    }


@pytest.mark.parametrize(
    ("params", "default", "expected"),
    [({}, 1024, 1024), ({"max_tokens": 99}, 1024, 99), ({"max_completion_tokens": 77}, 4096, 77)],
)
async def test_anthropic_max_tokens(params: dict[str, Any], default: int, expected: int) -> None:
    recorder = Recorder(answer(200, ANTHROPIC_TOOL_ANSWER))
    async with AsyncExitStack() as stack:
        provider = make("anthropic", recorder, stack, default_max_tokens=default)
        await provider.send(call("anthropic", params=params))
    assert recorder.body["max_tokens"] == expected
    assert "max_completion_tokens" not in recorder.body


# Responses -------------------------------------------------------------------------------------

OPENAI_TEXT = {
    "id": "chatcmpl-AB1",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello!",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 19, "completion_tokens": 3, "total_tokens": 22},
}
OPENAI_TOOL_ANSWER = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                    },
                    {
                        "id": "call_Xq1",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"tz":"CET"}'},
                    },
                ],
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 2006,
        "completion_tokens": 17,
        "total_tokens": 2023,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}
ANTHROPIC_TOOL_ANSWER = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "text", "text": "I'll check."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "Paris"},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 50,
        "cache_creation_input_tokens": 1200,
        "cache_read_input_tokens": 3000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1200, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 40,
        "service_tier": "standard",
    },
}


async def test_openai_response_with_tool_calls_and_cached_tokens() -> None:
    async with AsyncExitStack() as stack:
        provider = make("openai", Recorder(answer(200, OPENAI_TOOL_ANSWER)), stack)
        result = await provider.send(call("openai"))
    assert result.raw == OPENAI_TOOL_ANSWER
    assert result.text is None
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", {"location": "Paris"}),
        ("call_Xq1", "get_time", {"tz": "CET"}),
    ]
    assert result.finish_reason == "tool_calls"
    assert result.usage == Usage(input_tokens=2006, output_tokens=17, cache_read_tokens=1920)
    assert result.response_model == "gpt-4o-2024-08-06"


async def test_anthropic_response_with_tool_use_and_cache_tokens() -> None:
    async with AsyncExitStack() as stack:
        provider = make("anthropic", Recorder(answer(200, ANTHROPIC_TOOL_ANSWER)), stack)
        result = await provider.send(call("anthropic"))
    assert result.text == "I'll check."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("toolu_01A09q90qw90lq917835lq9", "get_weather", {"location": "Paris"})
    ]
    assert result.finish_reason == "tool_calls"
    assert result.usage == Usage(
        input_tokens=4250, output_tokens=40, cache_read_tokens=3000, cache_write_tokens=1200
    )
    assert result.response_model == "claude-sonnet-4-5-20250929"


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
    ],
)
async def test_anthropic_finish_reasons(stop_reason: str, finish: str) -> None:
    body = {**ANTHROPIC_TOOL_ANSWER, "stop_reason": stop_reason}
    async with AsyncExitStack() as stack:
        provider = make("anthropic", Recorder(answer(200, body)), stack)
        assert (await provider.send(call("anthropic"))).finish_reason == finish


# Streaming -------------------------------------------------------------------------------------


def oa_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [choice],
        "usage": None,
    }


OA_USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 25,
        "total_tokens": 1225,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
}


async def test_openai_text_stream_with_usage_at_the_end() -> None:
    recorder = Recorder(
        sse(
            (None, oa_chunk({"role": "assistant", "content": "", "refusal": None})),
            (None, oa_chunk({"content": "Hello"})),
            (None, oa_chunk({"content": " there"})),
            (None, oa_chunk({}, "stop")),
            (None, OA_USAGE_CHUNK),
            (None, "[DONE]"),
        )
    )
    async with AsyncExitStack() as stack:
        provider = make("openai", recorder, stack)
        chunks = await collect(provider, call("openai", params={"stream_options": {"x": 1}}))
    assert recorder.body["stream"] is True
    assert recorder.body["stream_options"] == {"x": 1, "include_usage": True}
    assert "".join(c.text for c in chunks) == "Hello there"
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]
    assert chunks[-1].usage == Usage(input_tokens=1200, output_tokens=25, cache_read_tokens=1024)
    assert [c.usage for c in chunks[:-1]] == [None] * (len(chunks) - 1)


async def test_openai_tool_call_stream() -> None:
    first = {
        "index": 0,
        "id": "call_abc",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    second = {
        "index": 1,
        "id": "call_def",
        "type": "function",
        "function": {"name": "t", "arguments": "{}"},
    }
    recorder = Recorder(
        sse(
            (None, oa_chunk({"role": "assistant", "content": None, "tool_calls": [first]})),
            (None, oa_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"lo'}}]})),
            (None, oa_chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'c":"P"}'}}]})),
            (None, oa_chunk({"tool_calls": [second]})),
            (None, oa_chunk({}, "tool_calls")),
            (None, OA_USAGE_CHUNK),
            (None, "[DONE]"),
        )
    )
    async with AsyncExitStack() as stack:
        chunks = await collect(make("openai", recorder, stack), call("openai"))
    pieces = [d for c in chunks for d in c.tool_calls]
    assert [(p.index, p.id, p.name) for p in pieces if p.id] == [
        (0, "call_abc", "get_weather"),
        (1, "call_def", "t"),
    ]
    arguments = {i: "".join(p.arguments for p in pieces if p.index == i) for i in (0, 1)}
    assert json.loads(arguments[0]) == {"loc": "P"} and json.loads(arguments[1]) == {}
    assert chunks[-2].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.cache_read_tokens == 1024


AN_START = {
    "type": "message_start",
    "message": {
        "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 472,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 2048,
            "output_tokens": 2,
        },
        "content": [],
        "stop_reason": None,
    },
}


def an_delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


async def test_anthropic_stream_with_text_and_tool_use() -> None:
    tool_block = {
        "type": "tool_use",
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "name": "get_weather",
        "input": {},
    }
    recorder = Recorder(
        sse(
            ("message_start", AN_START),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            ("ping", {"type": "ping"}),
            an_delta(0, {"type": "text_delta", "text": "Okay"}),
            an_delta(0, {"type": "text_delta", "text": ", checking."}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 1, "content_block": tool_block},
            ),
            an_delta(1, {"type": "input_json_delta", "partial_json": ""}),
            an_delta(1, {"type": "input_json_delta", "partial_json": '{"location":'}),
            an_delta(1, {"type": "input_json_delta", "partial_json": ' "San Francisco, CA"}'}),
            ("content_block_stop", {"type": "content_block_stop", "index": 1}),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 2,
                    "content_block": {**tool_block, "id": "toolu_2", "name": "now"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 2}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                    "usage": {"output_tokens": 89},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        )
    )
    async with AsyncExitStack() as stack:
        chunks = await collect(make("anthropic", recorder, stack), call("anthropic"))
    assert recorder.body["stream"] is True
    assert "".join(c.text for c in chunks) == "Okay, checking."
    pieces = [d for c in chunks for d in c.tool_calls]
    assert [(p.index, p.id, p.name) for p in pieces if p.id] == [
        (0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
        (1, "toolu_2", "now"),
    ]
    arguments = {i: "".join(p.arguments for p in pieces if p.index == i) for i in (0, 1)}
    assert json.loads(arguments[0]) == {"location": "San Francisco, CA"}
    assert json.loads(arguments[1]) == {}
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["tool_calls"]
    assert chunks[-1].usage == Usage(input_tokens=2520, output_tokens=89, cache_read_tokens=2048)
    assert [c for c in chunks if c.usage is not None] == [chunks[-1]]


async def test_anthropic_stream_error_event_mid_stream() -> None:
    recorder = Recorder(
        sse(
            ("message_start", AN_START),
            an_delta(0, {"type": "text_delta", "text": "Hel"}),
            (
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            ),
        )
    )
    received: list[StreamChunk] = []

    async def consume(provider: Provider) -> None:
        async with aclosing(provider.stream(call("anthropic"))) as chunks:
            async for chunk in chunks:
                received.append(chunk)

    async with AsyncExitStack() as stack:
        provider = make("anthropic", recorder, stack)
        with pytest.raises(ProviderUnavailable, match="Overloaded") as caught:
            await consume(provider)
    assert [c.text for c in received] == ["Hel"]
    assert (caught.value.provider, caught.value.deployment) == ("an", "claude-sonnet-4-5")


async def test_openai_stream_error_chunk_mid_stream() -> None:
    error = {"error": {"code": 502, "message": "Provider returned error", "metadata": {}}}
    recorder = Recorder(sse((None, oa_chunk({"content": "Hi"})), (None, error)))
    async with AsyncExitStack() as stack:
        with pytest.raises(ProviderUnavailable, match="Provider returned error"):
            await collect(make("openai", recorder, stack), call("openai"))


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_stream_cut_short_is_a_connection_error(kind: str) -> None:
    first: tuple[str | None, Any] = (
        (None, oa_chunk({"content": "Hi"})) if kind == "openai" else ("message_start", AN_START)
    )
    async with AsyncExitStack() as stack:
        with pytest.raises(ProviderConnectionError, match="ended before"):
            await collect(make(kind, Recorder(sse(first)), stack), call(kind))


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_connection_dropped_mid_stream(kind: str) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'data: {"type": "ping"}\n\n'
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})

    async with AsyncExitStack() as stack:
        with pytest.raises(ProviderConnectionError) as caught:
            await collect(make(kind, respond, stack), call(kind))
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)


async def test_sse_decoder_handles_comments_multiline_data_and_no_trailing_blank() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [": keep-alive", "event: a", "data: 1", "data: 2", "", "", "data:x"]:
            yield line

    events = [e async for e in iter_sse(lines())]
    assert events == [SSEEvent("a", "1\n2"), SSEEvent(None, "x")]


# Errors ----------------------------------------------------------------------------------------


def http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


def oa_error(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def an_error(kind: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }


OPENAI_ERRORS = [
    pytest.param(
        400,
        oa_error(
            "Invalid value for 'temperature': expected a number between 0 and 2.",
            "invalid_request_error",
            "invalid_value",
            "temperature",
        ),
        {},
        BadRequest,
        id="400",
    ),
    pytest.param(
        400,
        oa_error(
            "This model's maximum context length is 128000 tokens. However, your messages resulted "
            "in 130512 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
        {},
        ContextWindowExceeded,
        id="400-context",
    ),
    pytest.param(
        400,
        oa_error(
            "Your request was rejected as a result of our safety system. Your prompt may contain "
            "text that is not allowed by our safety system.",
            "invalid_request_error",
            "content_policy_violation",
        ),
        {},
        ContentPolicyRefusal,
        id="400-policy",
    ),
    pytest.param(
        403,
        {
            "error": {
                "code": 403,
                "message": "Your chosen model requires moderation and your input was flagged "
                'for "harassment"',
                "metadata": {
                    "reasons": ["harassment"],
                    "flagged_input": "...",
                    "provider_name": "OpenAI",
                    "model_slug": "openai/gpt-4o",
                },
            }
        },
        {},
        ContentPolicyRefusal,
        id="403-openrouter-moderation",
    ),
    pytest.param(
        401,
        oa_error(
            f"Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        {},
        AuthenticationFailed,
        id="401-echoing-the-key",
    ),
    pytest.param(
        403,
        oa_error(
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        ),
        {},
        AuthenticationFailed,
        id="403",
    ),
    pytest.param(
        404,
        oa_error(
            "The model `gpt-9` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        {},
        ModelNotFound,
        id="404",
    ),
    pytest.param(
        408, {"error": {"code": 408, "message": "Request timed out"}}, {}, ProviderTimeout, id="408"
    ),
    pytest.param(
        409, oa_error("Conflict", "invalid_request_error", None), {}, ProviderUnavailable, id="409"
    ),
    pytest.param(
        429,
        oa_error(
            "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): "
            "Limit 30000, Used 29000, Requested 2000. Please try again in 4s.",
            "tokens",
            "rate_limit_exceeded",
        ),
        {"retry-after": "7"},
        RateLimited,
        id="429-seconds",
    ),
    pytest.param(
        429,
        oa_error("You exceeded your current quota.", "insufficient_quota", "insufficient_quota"),
        {"retry-after": IN_30_S},
        RateLimited,
        id="429-http-date",
    ),
    pytest.param(
        500,
        oa_error(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        {},
        ProviderUnavailable,
        id="500",
    ),
    pytest.param(
        503,
        oa_error("The server is overloaded or not ready yet.", "server_error", None),
        {},
        ProviderUnavailable,
        id="503",
    ),
]
ANTHROPIC_ERRORS = [
    pytest.param(
        400,
        an_error(
            "invalid_request_error",
            'messages: roles must alternate between "user" and "assistant", '
            'but found multiple "user" roles in a row',
        ),
        {},
        BadRequest,
        id="400",
    ),
    pytest.param(
        400,
        an_error("invalid_request_error", "prompt is too long: 208656 tokens > 200000 maximum"),
        {},
        ContextWindowExceeded,
        id="400-context",
    ),
    pytest.param(
        400,
        an_error(
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000, "
            "decrease input length or `max_tokens` and try again",
        ),
        {},
        ContextWindowExceeded,
        id="400-context-max-tokens",
    ),
    pytest.param(
        400,
        {
            "type": "error",
            "error": {
                "details": None,
                "type": "invalid_request_error",
                "message": "Output blocked by content filtering policy",
            },
            "request_id": "req_011CaxpBxEpLvE6AvvuDD5BW",
        },
        {},
        ContentPolicyRefusal,
        id="400-policy",
    ),
    pytest.param(
        401,
        an_error("authentication_error", "invalid x-api-key"),
        {},
        AuthenticationFailed,
        id="401",
    ),
    pytest.param(
        403,
        an_error(
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        {},
        AuthenticationFailed,
        id="403",
    ),
    pytest.param(
        404, an_error("not_found_error", "model: claude-nope"), {}, ModelNotFound, id="404"
    ),
    pytest.param(
        408, an_error("timeout_error", "Request timed out"), {}, ProviderTimeout, id="408"
    ),
    pytest.param(409, an_error("conflict_error", "Conflict"), {}, ProviderUnavailable, id="409"),
    pytest.param(
        413,
        an_error("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        {},
        BadRequest,
        id="413",
    ),
    pytest.param(
        429,
        an_error(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization "
            "of 50,000 input tokens per minute.",
        ),
        {"retry-after": "7"},
        RateLimited,
        id="429-seconds",
    ),
    pytest.param(
        429,
        an_error(
            "rate_limit_error", "Number of concurrent connections has exceeded your rate limit."
        ),
        {"retry-after": IN_30_S},
        RateLimited,
        id="429-http-date",
    ),
    pytest.param(
        500, an_error("api_error", "Internal server error"), {}, ProviderUnavailable, id="500"
    ),
    pytest.param(
        503,
        b"<html><body>503 Service Unavailable</body></html>",
        {},
        ProviderUnavailable,
        id="503-html",
    ),
    pytest.param(
        529, an_error("overloaded_error", "Overloaded"), {}, ProviderUnavailable, id="529"
    ),
]


async def check_error(
    kind: str,
    mode: str,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: type[ProviderError],
) -> None:
    async with AsyncExitStack() as stack:
        provider = make(kind, Recorder(answer(status, body, headers)), stack)
        with pytest.raises(ProviderError) as caught:
            await run(provider, kind, mode)
    err = caught.value
    assert type(err) is expected, str(err)
    assert err.status_code == status
    assert err.provider == kind[:2]
    assert KEY not in str(err) and KEY not in repr(err.args)
    if "retry-after" in headers:
        assert err.retry_after is not None
        expected_wait = 7.0 if headers["retry-after"] == "7" else 30.0
        assert expected_wait - 5 <= err.retry_after <= expected_wait
    else:
        assert err.retry_after is None


@pytest.mark.parametrize("mode", ["send", "stream"])
@pytest.mark.parametrize(("status", "body", "headers", "expected"), OPENAI_ERRORS)
async def test_openai_error_statuses(
    mode: str, status: int, body: Any, headers: dict[str, str], expected: type[ProviderError]
) -> None:
    await check_error("openai", mode, status, body, headers, expected)


@pytest.mark.parametrize("mode", ["send", "stream"])
@pytest.mark.parametrize(("status", "body", "headers", "expected"), ANTHROPIC_ERRORS)
async def test_anthropic_error_statuses(
    mode: str, status: int, body: Any, headers: dict[str, str], expected: type[ProviderError]
) -> None:
    await check_error("anthropic", mode, status, body, headers, expected)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("mode", ["send", "stream"])
@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ReadTimeout("The read operation timed out"), ProviderTimeout),
        (httpx.ConnectTimeout("timed out"), ProviderTimeout),
        (httpx.ConnectError("[Errno 111] Connection refused"), ProviderConnectionError),
    ],
)
async def test_transport_failures(
    kind: str, mode: str, raised: Exception, expected: type[ProviderError]
) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        raise raised

    async with AsyncExitStack() as stack:
        provider = make(kind, respond, stack)
        with pytest.raises(expected) as caught:
            await run(provider, kind, mode)
    assert caught.value.__cause__ is raised
    assert caught.value.provider == kind[:2]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize(
    "body",
    [b"<html><body>Bad gateway</body></html>", b'{"unexpected": true}', b"[]", b""],
)
async def test_garbage_200_is_provider_unavailable(kind: str, body: bytes) -> None:
    async with AsyncExitStack() as stack:
        provider = make(kind, Recorder(answer(200, body)), stack)
        with pytest.raises(ProviderUnavailable, match="HTTP 200 from provider") as caught:
            await provider.send(call(kind))
    assert kind[:2] in str(caught.value)


async def test_error_object_in_a_200_body_is_classified() -> None:
    body = {"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min."}}
    async with AsyncExitStack() as stack:
        provider = make("openai", Recorder(answer(200, body)), stack)
        with pytest.raises(RateLimited):
            await provider.send(call("openai"))


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_bad_usage_numbers_are_provider_unavailable(kind: str) -> None:
    body: dict[str, Any] = dict(OPENAI_TEXT if kind == "openai" else ANTHROPIC_TOOL_ANSWER)
    body["usage"] = {"prompt_tokens": "many"} if kind == "openai" else {"input_tokens": -1}
    async with AsyncExitStack() as stack:
        provider = make(kind, Recorder(answer(200, body)), stack)
        with pytest.raises(ProviderUnavailable, match="usage"):
            await provider.send(call(kind))


# Secrets, clients, factory, router -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_env_secret_is_resolved_at_send_time(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(answer(200, OPENAI_TEXT if kind == "openai" else ANTHROPIC_TOOL_ANSWER))
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as client:
        cls = OpenAIProvider if kind == "openai" else AnthropicProvider
        provider = cls(
            name="p",
            base_url=None,
            api_key=Secret(env="AR_TEST_KEY"),
            client=client,
            headers={"x-extra": Secret(env="AR_TEST_HEADER")},
        )
        monkeypatch.delenv("AR_TEST_KEY", raising=False)
        with pytest.raises(ConfigurationError, match="AR_TEST_KEY"):
            await provider.send(call(kind))
        monkeypatch.setenv("AR_TEST_KEY", "sk-from-env-456")
        monkeypatch.setenv("AR_TEST_HEADER", "h-value")
        await provider.send(call(kind))
    headers = recorder.requests[0].headers
    assert "sk-from-env-456" in (headers.get("authorization", "") + headers.get("x-api-key", ""))
    assert headers["x-extra"] == "h-value"


async def test_provider_closes_only_the_client_it_created() -> None:
    own = OpenAIProvider(name="p", base_url=None, api_key=None)
    await own.aclose()
    assert own._endpoint.client.is_closed
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer(200, OPENAI_TEXT))) as client:
        given = AnthropicProvider(name="q", base_url=None, api_key=None, client=client)
        await given.aclose()
        assert not client.is_closed


def test_default_client_timeouts_and_pool() -> None:
    client = default_client(timeout=30.0, max_connections=64)
    assert (client.timeout.read, client.timeout.connect) == (30.0, 10.0)
    pool = getattr(client._transport, "_pool", None)
    if pool is not None:  # httpcore internals: checked when present
        assert pool._max_connections == 64
        assert pool._max_keepalive_connections == 64
    assert default_client().timeout.read == 600.0


@pytest.mark.parametrize(
    ("kind", "base_url", "url"),
    [
        ("openai", None, "https://api.openai.com/v1/chat/completions"),
        (
            "openai",
            "https://openrouter.ai/api/v1/",
            "https://openrouter.ai/api/v1/chat/completions",
        ),
        ("anthropic", None, "https://api.anthropic.com/v1/messages"),
        ("anthropic", "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/messages"),
    ],
)
async def test_build_provider(kind: str, base_url: str | None, url: str) -> None:
    config = ProviderConfig.model_validate(
        {"kind": kind, "base_url": base_url, "api_key": "env:NOPE"}
    )
    async with httpx.AsyncClient() as client:
        provider = build_provider("p", config, client=client)
        assert isinstance(provider, OpenAIProvider if kind == "openai" else AnthropicProvider)
        assert provider.url == url and provider.name == "p"
        await provider.aclose()
        assert not client.is_closed


async def test_router_complete_through_http_providers() -> None:
    oa = Recorder(answer(200, OPENAI_TOOL_ANSWER))
    an = Recorder(answer(200, ANTHROPIC_TOOL_ANSWER))
    async with AsyncExitStack() as stack:
        providers = {"alpha": make("openai", oa, stack), "beta": make("anthropic", an, stack)}
        router = Router(config_dict(), providers=providers)
        small = await router.complete(CONVERSATION, temperature=0)
        big = await router.complete(CONVERSATION, hints={"min_tier": "complex"})
    assert small.target is not None and small.target.key == "alpha/small-1"
    assert oa.body["model"] == "small-1" and oa.body["temperature"] == 0
    assert small.tool_calls[0].name == "get_weather" and small.cost_usd > 0
    assert big.target is not None and big.target.key == "beta/big-b"
    assert an.body["system"] == "You are a helpful agent."
    assert big.usage.cache_read_tokens == 3000
