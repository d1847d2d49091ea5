"""One tool-error detector for every shape, shared by the signals and the conversion; presets.

Regression tests for issue 13, defect 5: an Anthropic ``tool_result`` reading "Error: …" without
``is_error`` was not counted; ``Router(tool_error_detector=...)`` judged OpenAI tool messages
only; the signals and the built-in providers' conversion had two default rules that disagreed
("Errors: 0", "ERROR disk full"); the frameworks' own error texts had no presets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import pydantic
import pytest

from agentroute import ConfigurationError, Router, RouterConfig
from agentroute.policy.signals import SignalExtractor
from agentroute.policy.tokens import EstimateCounter
from agentroute.policy.tool_errors import (
    PRESETS,
    ToolResult,
    is_tool_error,
    resolve_tool_error_detector,
)
from agentroute.providers.convert import messages_to_anthropic, messages_to_openai
from agentroute.testing import MockProvider, tool_call_result
from tests.helpers import config_dict

Msg = dict[str, Any]

# The frameworks' default texts, copied from their sources.
# openai-agents 0.24 (agents/tool.py): default_tool_error_function, and older releases' text.
AGENTS_FAILURE = "An error occurred while running the tool. Please try again."
AGENTS_FAILURE_OLD = (
    "An error occurred while running the tool. Please try again. Error: order 42 not found"
)
# openai-agents: default_tool_timeout_error_message(tool_name=..., timeout_seconds=...)
AGENTS_TIMEOUT = "Tool 'lookup_order' timed out after 2.5 seconds."
# pydantic-ai (messages.py): RetryPromptPart.model_response() for a ModelRetry message and for
# a validation error, and the {"error": ...} wrapper of an errored ToolReturnPart.
PYDANTIC_AI_RETRY = "Order 42 does not exist\n\nFix the errors and try again."
PYDANTIC_AI_VALIDATION = (
    "1 validation error:\n```json\n"
    '[\n  {\n    "type": "int_parsing",\n    "loc": [\n      "order_id"\n    ],\n'
    '    "msg": "Input should be a valid integer",\n    "input": "x"\n  }\n]\n```'
    "\n\nFix the errors and try again."
)
PYDANTIC_AI_WRAPPED = '{"error":"Order 42 does not exist"}'


def user(text: str) -> Msg:
    return {"role": "user", "content": text}


def oa_turn(n: int, result: str, **extra: Any) -> list[Msg]:
    call = {
        "id": f"c{n}",
        "type": "function",
        "function": {"name": "run", "arguments": f'{{"n": {n}}}'},
    }
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"c{n}", "content": result, **extra},
    ]


def an_turn(n: int, result: str, **flag: Any) -> list[Msg]:
    use = {"type": "tool_use", "id": f"t{n}", "name": "run", "input": {"n": n}}
    block = {"type": "tool_result", "tool_use_id": f"t{n}", "content": result, **flag}
    return [{"role": "assistant", "content": [use]}, {"role": "user", "content": [block]}]


def rs_turn(n: int, result: str) -> list[Msg]:
    call = {
        "type": "function_call",
        "call_id": f"r{n}",
        "name": "run",
        "arguments": f'{{"n": {n}}}',
    }
    return [call, {"type": "function_call_output", "call_id": f"r{n}", "output": result}]


def errors_in(messages: Sequence[Any], detector: Any = None) -> int:
    extractor = SignalExtractor(EstimateCounter(), detector=resolve_tool_error_detector(detector))
    return extractor.scan(messages, None).tool_errors_total


# One default, one detector ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Errors: 0", False),  # the old conversion rule flagged it, the signals did not
        ("ERROR disk full", True),  # the signals flagged it, the old conversion rule did not
        ("ErrorCode 3", False),
        ('{"Error": "quota"}', True),
        ("Error: x", True),
        ("fine", False),
    ],
)
def test_the_scan_and_the_conversion_agree(text: str, error: bool) -> None:
    """Before, "Errors: 0" was counted by neither... but flagged by the conversion, and
    "ERROR disk full" the other way round: the two defaults disagreed."""
    history = [user("go"), *oa_turn(1, text)]
    assert errors_in(history) == int(error)
    block = messages_to_anthropic(history).messages[-1]["content"][0]
    assert block.get("is_error", False) is error


def test_anthropic_error_text_without_is_error_is_counted() -> None:
    assert errors_in([user("go"), *an_turn(1, "Error: order not found")]) == 1
    assert errors_in([user("go"), *an_turn(1, "order found")]) == 0


def test_is_error_true_always_counts_and_is_not_asked() -> None:
    asked: list[ToolResult] = []

    def never(result: ToolResult) -> bool:
        asked.append(result)
        return False

    history = [user("go"), *an_turn(1, "looks fine", is_error=True), *oa_turn(2, "x")]
    history[-1]["is_error"] = True  # honoured on any shape
    assert errors_in(history, never) == 2
    assert asked == []


def test_the_detector_judges_every_shape() -> None:
    seen: list[tuple[str, str]] = []

    def failed(result: ToolResult) -> bool:
        seen.append((result.shape, result.text))
        return result.text.startswith("FAILED")

    history = [
        user("go"),
        *oa_turn(1, "FAILED: a"),
        *an_turn(2, "FAILED: b"),
        *rs_turn(3, "FAILED: c"),
        *rs_turn(4, "Error: the default would count this"),
    ]
    assert errors_in(history, failed) == 3
    assert seen == [
        ("openai", "FAILED: a"),
        ("anthropic", "FAILED: b"),
        ("responses", "FAILED: c"),
        ("responses", "Error: the default would count this"),
    ]


def test_text_of_list_contents_is_joined_in_every_shape() -> None:
    parts = [{"type": "text", "text": "Error: "}, {"type": "text", "text": "boom"}]
    inputs = [{"type": "input_text", "text": "Error: boom"}]
    assert is_tool_error(PRESETS["default"], parts)
    assert is_tool_error(PRESETS["default"], inputs, shape="responses")
    assert not is_tool_error(PRESETS["default"], [{"type": "image_url", "image_url": {}}])


# Presets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "text", "status", "error"),
    [
        ("openai_agents", AGENTS_FAILURE, None, True),
        ("openai_agents", AGENTS_FAILURE_OLD, None, True),
        ("openai_agents", AGENTS_TIMEOUT, None, True),
        ("openai_agents", "Error: not the SDK's text", None, False),
        ("openai_agents", "The tool ran fine", None, False),
        ("pydantic_ai", PYDANTIC_AI_RETRY, None, True),
        ("pydantic_ai", PYDANTIC_AI_VALIDATION, None, True),
        ("pydantic_ai", PYDANTIC_AI_WRAPPED, None, True),
        ("pydantic_ai", '{"error": null, "result": 1}', None, False),
        ("pydantic_ai", "Try again later", None, False),
        ("langchain", "anything", "error", True),
        ("langchain", "Error: but the status says success", "success", False),
        ("langchain", "anything", None, False),
        ("default", AGENTS_FAILURE, None, False),
        ("default", PYDANTIC_AI_RETRY, None, False),
        ("default", PYDANTIC_AI_WRAPPED, None, True),
    ],
)
def test_presets_match_their_frameworks_texts(
    preset: str, text: str, status: str | None, error: bool
) -> None:
    assert is_tool_error(PRESETS[preset], text, status=status) is error


def test_a_list_counts_what_any_of_its_detectors_counts() -> None:
    both = resolve_tool_error_detector(["default", "openai_agents"])
    history = [user("go"), *oa_turn(1, "Error: x"), *oa_turn(2, AGENTS_FAILURE), *oa_turn(3, "ok")]
    assert errors_in(history, both) == 2
    assert errors_in(history, "openai_agents") == 1
    assert errors_in(history, "default") == 1
    custom = resolve_tool_error_detector(["langchain", lambda r: r.text == "ok"])
    assert errors_in(history, custom) == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("openai-agents", r"unknown preset 'openai-agents' \(known: default, openai_agents"),
        ([], "must be a callable"),
        (["default", 3], "preset names and callables only"),
        (42, "got int"),
    ],
)
def test_bad_detector_specs_are_named(spec: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Router(config_dict(), tool_error_detector=spec)


def test_config_selects_presets_by_name() -> None:
    one = RouterConfig.from_mapping(config_dict(policy={"tool_error_detector": "pydantic_ai"}))
    assert one.policy.tool_error_detector == ["pydantic_ai"]
    two = RouterConfig.from_mapping(
        config_dict(policy={"tool_error_detector": ["default", "langchain"]})
    )
    assert two.policy.tool_error_detector == ["default", "langchain"]
    assert RouterConfig.from_mapping(config_dict()).policy.tool_error_detector == ["default"]
    with pytest.raises(ConfigurationError, match=r"policy\.tool_error_detector\.0: Input should"):
        RouterConfig.from_mapping(config_dict(policy={"tool_error_detector": ["agents"]}))


# Through the router ------------------------------------------------------------------------------


async def _totals(router: Router, turns: list[list[Msg]]) -> list[int]:
    messages: list[Any] = [user("Run the build.")]
    async with router.session() as s:
        for turn in turns:
            await router.complete(messages)
            messages += turn
        await router.complete(messages)
    return [d.signals.tool_errors_total for d in s.decisions if d.signals is not None]


def _router(**kwargs: Any) -> Router:
    def handler(call: Any) -> Any:
        return tool_call_result("run", {"n": call.session.step})

    providers = {"alpha": MockProvider(handler), "beta": MockProvider(handler)}
    config = config_dict(telemetry={"log_events": False}, **kwargs.pop("config", {}))
    return Router(config, providers=providers, **kwargs)


@pytest.mark.anyio
async def test_router_counts_anthropic_error_text_without_flag() -> None:
    totals = await _totals(_router(), [an_turn(1, "Error: not found"), an_turn(2, "ok")])
    assert totals == [0, 1, 1]


@pytest.mark.anyio
async def test_router_preset_by_name_and_by_config() -> None:
    turns = [oa_turn(1, AGENTS_FAILURE), an_turn(2, AGENTS_TIMEOUT), rs_turn(3, "Error: x")]
    assert await _totals(_router(tool_error_detector="openai_agents"), turns) == [0, 1, 2, 2]
    both = _router(config={"policy": {"tool_error_detector": ["openai_agents", "default"]}})
    assert await _totals(both, turns) == [0, 1, 2, 3]
    # the Router's argument wins over the config
    arg = _router(
        config={"policy": {"tool_error_detector": "openai_agents"}}, tool_error_detector="default"
    )
    assert await _totals(arg, turns) == [0, 0, 0, 1]


class LangChainToolMessage(pydantic.BaseModel):
    """The fields of LangChain's ``ToolMessage`` the router reads (``type`` is its role)."""

    content: str | list[Any]
    tool_call_id: str
    status: str = "success"
    type: str = "tool"
    artifact: Any = None
    additional_kwargs: dict[str, Any] = {}


@pytest.mark.anyio
async def test_a_status_error_counts_whatever_the_detector() -> None:
    """``status="error"`` is an explicit flag, like ``is_error``: a detector that calls
    nothing an error still counts it."""
    turns = [oa_turn(1, "fine, really", status="error")]
    router = _router(tool_error_detector=lambda result: False)
    assert await _totals(router, turns) == [0, 1]


@pytest.mark.anyio
async def test_langchain_status_error_on_dicts_and_message_objects() -> None:
    turns = [
        oa_turn(1, "Weather: sunny", status="error"),
        [oa_turn(2, "")[0], LangChainToolMessage(content="x", tool_call_id="c2", status="error")],
        [oa_turn(3, "")[0], LangChainToolMessage(content="Error: y", tool_call_id="c3")],
    ]
    assert await _totals(_router(tool_error_detector="langchain"), turns) == [0, 1, 2, 2]


# The conversion uses the configured detector ------------------------------------------------------


class BodyRecorder:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        if request.url.path.endswith("/messages"):
            return httpx.Response(200, json=ANTHROPIC_ANSWER)
        return httpx.Response(200, json=OPENAI_ANSWER)


ANTHROPIC_ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "big-b",
    "content": [{"type": "text", "text": "done"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 2},
}
OPENAI_ANSWER = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "small-1",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "done"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}


@pytest.mark.anyio
async def test_built_in_providers_convert_with_the_configured_detector() -> None:
    """A custom detector decides the Anthropic ``is_error`` flag too (it decided nothing there
    before: the conversion had its own rule)."""
    recorder = BodyRecorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as client:
        router = Router(
            config_dict(telemetry={"log_events": False}),
            http_client=client,
            tool_error_detector=lambda r: r.text.startswith("FAILED"),
        )
        history = [
            user("go"),
            *oa_turn(1, "FAILED: exit 1"),
            *oa_turn(2, "Error: the default rule would flag this"),
        ]
        result = await router.complete(history, hints={"min_tier": "complex"})
    assert result.decision is not None and result.decision.signals is not None
    assert result.decision.signals.tool_errors_total == 1
    blocks = [
        b
        for m in recorder.bodies[-1]["messages"]
        for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]
    assert [b.get("is_error", False) for b in blocks] == [True, False]


def test_status_is_read_but_not_sent_to_openai() -> None:
    history = [user("go"), *oa_turn(1, "x", status="error")]
    sent = messages_to_openai(history)
    assert sent[-1] == {"role": "tool", "tool_call_id": "c1", "content": "x"}
    langchain = resolve_tool_error_detector("langchain")
    assert messages_to_anthropic(history, detector=langchain).messages[-1]["content"][0]["is_error"]
