"""The official SDKs through ``router.wrap()``, end to end (issue 13, acceptance).

Each test is a real agent loop as a user writes it: the agent's own call function (one SDK
client per deployment ``base_url``, ``max_retries=0``) wrapped with ``router.wrap()``, called the
way real code calls it, with the history built from what the SDK returned, against the
simulator over HTTP. Variants: the ``openai`` SDK's Chat Completions (plain, and ``stream=True``
with ``stream_options.include_usage``) and Responses API (plain, ``stream=True`` and the
``responses.stream()`` helper), and the ``anthropic`` SDK's Messages (plain, ``stream=True`` and
the ``messages.stream()`` helper).

Every simulator instance plays the same scripted model: it reads one order, mistypes the next
order's id (the tool answers ``Error: …``), then, on the stronger tier the router climbs to,
reads it right, notifies the customer and answers. Per step the test checks against the
simulator's own request records: the tier decided and its cause, each attempt's usage (exact,
read from the answer, never estimated: the ``chat`` span has no ``agentroute.usage.estimated``),
its cost (price × usage, computed here by hand), the prompt cache read on every step at a
deployment that served an earlier step (an escalation to another model starts cold, as it does at
the real providers: a cache belongs to one model), and that the session's cost is the sum of its
attempts' costs. Three more runs (plain, a raw stream, a stream helper) fail the first attempt
of the escalated step (503 from OpenAI, 529 from Anthropic) and check the failover to the
model's other deployment and that only the attempts billed are charged. Last, a stream whose
caller stops at its usage chunk is charged there.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import Router, Session, Usage
from agentroute.sim.faults import RequestRecord
from agentroute.sim.scenario import SYSTEM_PROMPT
from agentroute.sim.server import Simulator, run_simulator
from agentroute.telemetry import attributes as A
from agentroute.testing import FakeClock

pytestmark = [
    pytest.mark.anyio,
    # The SDKs stop reading at their stream's last event and leave their chain of async
    # generators (SSE decoder, body iterator) to the finalizer; trio warns about each.
    pytest.mark.filterwarnings("ignore:Async generator '.*':ResourceWarning"),
]

# The agent: two tools, one of which fails on an unknown order id ------------------------------

REQUEST = "Where are my orders A-10 and B-20? Please tell me when B-20 arrives."
ORDERS = {"A-10": {"status": "shipped"}, "B-20": {"status": "packed", "arrives": "Friday"}}
FINAL = "A-10 has shipped; B-20 arrives on Friday, and you have been notified."
SCRIPT: dict[str, Any] = {
    "kind": "scripted",
    "steps": [
        {"tool": "get_order", "arguments": {"order_id": "A-10"}},
        {"tool": "get_order", "arguments": {"order_id": "B-2O"}},  # a typo: the tool fails
        {"text": "That id had a typo.", "tool": "get_order", "arguments": {"order_id": "B-20"}},
        {"tool": "notify_customer", "arguments": {"order_id": "B-20"}},
    ],
    "then": FINAL,
}
STEPS = len(SCRIPT["steps"]) + 1
EXPECTED_DECISIONS = [
    ("simple", "start"),
    ("simple", "hold"),
    ("complex", "score"),  # the tool error of step 2 lifts the score over the threshold
    ("complex", "hold"),
    ("complex", "hold"),
]
ERROR_STEP = 2
"""The step whose tool call fails (the next step, index 2 of the decisions, sees the error)."""


def run_tool(name: str, arguments: Mapping[str, Any]) -> str:
    """The application's tools; a failure is a text starting with ``Error:``."""
    order = ORDERS.get(str(arguments.get("order_id")))
    if order is None:
        return f"Error: no order {arguments.get('order_id')!r}"
    if name == "get_order":
        return json.dumps(order)
    if name == "notify_customer":
        return json.dumps({"notified": True})
    return f"Error: unknown tool {name!r}"


SCHEMAS = [
    ("get_order", "Read an order by its id."),
    ("notify_customer", "Tell the customer an order's delivery date."),
]
PARAMETERS = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}},
    "required": ["order_id"],
}
CHAT_TOOLS = [
    {"type": "function", "function": {"name": n, "description": d, "parameters": PARAMETERS}}
    for n, d in SCHEMAS
]
RESPONSES_TOOLS = [
    {"type": "function", "name": n, "description": d, "parameters": PARAMETERS} for n, d in SCHEMAS
]
ANTHROPIC_TOOLS = [{"name": n, "description": d, "input_schema": PARAMETERS} for n, d in SCHEMAS]

# The router: two tiers, each model on its own simulator instance ------------------------------

PRICES: dict[str, dict[str, float]] = {
    "small": {"input": 1.0, "output": 4.0, "cache_read": 0.1, "cache_write": 1.25},
    "big": {"input": 10.0, "output": 40.0, "cache_read": 1.0, "cache_write": 12.5},
}
KEYS = {"cheap": "sk-sim-cheap-0123456789", "strong": "sk-sim-strong-0123456789"}
FAULTS = {"openai": ("unavailable", 503), "anthropic": ("overloaded", 529)}


def sim_config(kind: str, *, fault: bool) -> dict[str, Any]:
    """``cheap`` serves the small model, ``strong`` the big one (``strong_b`` too, with a fault
    on ``strong``'s first request, when ``fault``)."""
    names = ["cheap", "strong", "strong_b"] if fault else ["cheap", "strong"]
    instances: dict[str, Any] = {
        # each answers only its own key: the function must get its deployment's
        name: {"kind": kind, "scenario": SCRIPT, "api_key": KEYS[name.removesuffix("_b")]}
        for name in names
    }
    if fault:
        instances["strong"]["faults"] = {"schedule": {1: FAULTS[kind][0]}}
    return {"instances": instances}


def router_config(sim: Simulator, kind: str, *, fault: bool) -> dict[str, Any]:
    """As a user writes it: each provider gives the wrapped function its ``base_url`` and key."""
    providers = {
        name: {
            "kind": kind,
            "kwargs": {"base_url": sim.base_url(name), "api_key": f"env:SIM_KEY_{key}"},
        }
        for name, key in [("cheap", "cheap"), ("strong", "strong"), ("strong_b", "strong")]
        if name in sim.instances
    }
    big = [{"provider": "strong", "name": "big-1"}]
    if fault:
        big.append({"provider": "strong_b", "name": "big-2"})
    return {
        "providers": providers,
        "models": {
            "small": {
                "context_window": 200_000,
                "price": PRICES["small"],
                "deployments": [{"provider": "cheap", "name": "small-1"}],
            },
            "big": {"context_window": 200_000, "price": PRICES["big"], "deployments": big},
        },
        "tiers": {"simple": ["small"], "complex": ["big"]},
        # a failed deployment is left for the model's next one at once (no backoff to wait)
        "resilience": {"max_retries": 0},
        "telemetry": {"log_events": False},
    }


# What each step must show ---------------------------------------------------------------------


def expected_usage(kind: str, record: RequestRecord) -> Usage:
    """The usage the simulator reported for ``record``, in agentroute's terms."""
    counted = record.usage
    assert counted is not None
    if kind == "openai":  # automatic caching: reads only
        return Usage(counted.prompt_tokens, record.output_tokens, counted.read_tokens)
    return Usage(
        counted.prompt_tokens,
        record.output_tokens,
        cache_read_tokens=counted.read_tokens,
        cache_write_tokens=counted.written_tokens,
        cache_write_1h_tokens=counted.written_1h_tokens,
    )


def price_of(usage: Usage, model: str) -> float:
    """USD for ``usage`` at ``model``'s price, by hand (per million tokens)."""
    p = PRICES[model]
    fresh = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    return (
        fresh * p["input"]
        + usage.cache_read_tokens * p["cache_read"]
        + usage.cache_write_tokens * p["cache_write"]
        + usage.output_tokens * p["output"]
    ) / 1e6


@dataclass
class Checker:
    """Checks each step of a loop against the simulator's records and the chat spans."""

    sim: Simulator
    kind: str
    exporter: InMemorySpanExporter
    decisions: list[tuple[str, str]] = field(default_factory=list)
    attempts: list[Any] = field(default_factory=list)
    billed: float = 0.0
    served: set[str] = field(default_factory=set)
    reads: list[int] = field(default_factory=list)
    _records: dict[str, int] = field(default_factory=dict)
    _spans: int = 0

    def new_records(self) -> dict[str, list[RequestRecord]]:
        out = {}
        for name in self.sim.instances:
            records = self.sim.records(name)
            out[name] = list(records[self._records.get(name, 0) :])
            self._records[name] = len(records)
        return out

    def new_chat_spans(self) -> list[ReadableSpan]:
        spans = self.exporter.get_finished_spans()
        new, self._spans = spans[self._spans :], len(spans)
        return [s for s in new if s.name.startswith(f"{A.CHAT_OPERATION} ")]

    def step(self, session: Session) -> None:
        """After the step's answer was read to its end."""
        decision = session.decisions[-1]
        assert decision.step == len(self.decisions) + 1
        self.decisions.append((decision.tier, decision.cause))
        attempts = session.state.last_attempts
        records = self.new_records()
        spans = self.new_chat_spans()
        assert len(spans) == len(attempts)  # every attempt's span has ended
        assert sum(len(r) for r in records.values()) == len(attempts)  # one request each
        for attempt, span in zip(attempts, spans, strict=True):
            target = attempt.target
            assert target.tier == decision.tier
            record = records[target.provider].pop(0)  # the request this attempt made
            assert record.model == target.deployment
            attrs = dict(span.attributes or {})
            assert attrs[A.DEPLOYMENT] == target.key
            assert attrs[A.ATTEMPT_NUMBER] == attempt.number
            assert A.USAGE_ESTIMATED not in attrs  # read from the answer, not estimated
            if attempt.outcome != "ok":
                assert (attempt.outcome, attempt.status_code) == ("error", record.status)
                assert record.usage is None and attempt.cost_usd == 0.0
                assert attrs[A.ERROR_TYPE] == attempt.error_type
                continue
            assert record.status == 200
            usage = expected_usage(self.kind, record)
            assert attempt.usage == usage  # exactly what the provider reported
            assert attempt.cost_usd == pytest.approx(price_of(usage, target.model), rel=1e-12)
            assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == usage.input_tokens
            assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.output_tokens
            assert attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == usage.cache_read_tokens
            assert attrs[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == usage.cache_write_tokens
            assert attrs[A.COST_USD] == pytest.approx(attempt.cost_usd, rel=1e-12)
            # the prompt cache: warm at a deployment that served an earlier step, else cold
            if target.key in self.served:
                assert usage.cache_read_tokens > 0, f"step {decision.step}: cold at {target.key}"
            else:
                assert usage.cache_read_tokens == 0
                if self.kind == "anthropic":  # the router's breakpoints: the prefix is written
                    assert usage.cache_write_tokens > 1024
            self.served.add(target.key)
            self.reads.append(usage.cache_read_tokens)
            self.billed += price_of(usage, target.model)
        self.attempts.extend(attempts)
        assert session.cost_usd == pytest.approx(sum(a.cost_usd for a in self.attempts), rel=1e-12)
        assert session.cost_usd == pytest.approx(self.billed, rel=1e-12)

    def finish(self, session: Session, answer: str | None) -> None:
        assert answer == FINAL
        assert self.decisions == EXPECTED_DECISIONS
        after_error = session.decisions[ERROR_STEP].signals  # the step after the failed tool
        assert after_error is not None and after_error.tool_errors_total == 1
        assert session.step == STEPS
        assert session.cost_usd == pytest.approx(sum(a.cost_usd for a in self.attempts), rel=1e-12)
        ok = [a for a in self.attempts if a.outcome == "ok"]
        total = sum((a.usage for a in ok), Usage())
        assert session.usage == total
        assert not any(self.new_records().values())  # nothing unchecked
        if self.kind == "anthropic":
            # from step 2 on, every step but the escalation (a new model: cold) reads the cache
            assert [r > 0 for r in self.reads[1:]] == [True, False, True, True]


# The variants: the agent's own loop, as a user writes it ---------------------------------------

Loop = Callable[[Router, Checker], Awaitable[tuple[Session, str | None]]]


class Clients:
    """One SDK client per ``base_url``, as the README's call function keeps them."""

    def __init__(self, make: Callable[..., Any]) -> None:
        self._make = make
        self._clients: dict[str, Any] = {}

    def __call__(self, base_url: str, api_key: str) -> Any:
        if base_url not in self._clients:
            self._clients[base_url] = self._make(base_url=base_url, api_key=api_key, max_retries=0)
        return self._clients[base_url]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()


def tool_message(call: Any) -> dict[str, Any]:
    result = run_tool(call.function.name, json.loads(call.function.arguments))
    return {"role": "tool", "tool_call_id": call.id, "content": result}


async def chat_plain(router: Router, check: Checker) -> tuple[Session, str | None]:
    clients = Clients(openai.AsyncOpenAI)

    async def call_llm(messages: Any, *, model: str, base_url: str, api_key: str, **kw: Any) -> Any:
        client = clients(base_url, api_key)
        return await client.chat.completions.create(model=model, messages=messages, **kw)

    routed = router.wrap(call_llm)
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": REQUEST},
    ]
    try:
        async with router.session(id="chat-plain", agent="support") as s:
            for _ in range(STEPS + 2):
                response = await routed(messages=messages, tools=CHAT_TOOLS)
                check.step(s)
                message = response.choices[0].message
                messages.append(message)  # the SDK's own ChatCompletionMessage
                if not message.tool_calls:
                    break
                messages.extend(tool_message(call) for call in message.tool_calls)
    finally:
        await clients.close()
    return s, message.content


async def chat_stream(router: Router, check: Checker) -> tuple[Session, str | None]:
    clients = Clients(openai.AsyncOpenAI)

    async def call_llm(messages: Any, *, model: str, base_url: str, api_key: str, **kw: Any) -> Any:
        client = clients(base_url, api_key)
        return await client.chat.completions.create(model=model, messages=messages, **kw)

    routed = router.wrap(call_llm)
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": REQUEST},
    ]
    try:
        async with router.session(id="chat-stream") as s:
            for _ in range(STEPS + 2):
                stream = await routed(
                    messages,
                    tools=CHAT_TOOLS,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                assert isinstance(stream, openai.AsyncStream)
                text, calls = "", dict[int, dict[str, str]]()
                async for chunk in stream:
                    for choice in chunk.choices:
                        text += choice.delta.content or ""
                        for tc in choice.delta.tool_calls or ():
                            call = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                            call["id"] = tc.id or call["id"]
                            call["name"] = (tc.function and tc.function.name) or call["name"]
                            call["args"] += (tc.function and tc.function.arguments) or ""
                check.step(s)
                message: dict[str, Any] = {"role": "assistant", "content": text or None}
                if calls:
                    message["tool_calls"] = [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {"name": c["name"], "arguments": c["args"]},
                        }
                        for c in calls.values()
                    ]
                messages.append(message)
                if not calls:
                    break
                for c in calls.values():
                    result = run_tool(c["name"], json.loads(c["args"]))
                    messages.append({"role": "tool", "tool_call_id": c["id"], "content": result})
    finally:
        await clients.close()
    return s, text


def function_call_outputs(output: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function_call_output",
            "call_id": item.call_id,
            "output": run_tool(item.name, json.loads(item.arguments)),
        }
        for item in output
        if item.type == "function_call"
    ]


def responses_loop(how: str) -> Loop:
    """``how``: ``create`` (plain), ``create-stream`` (``stream=True``) or ``helper``
    (``client.responses.stream(...)``, returned by the function and entered by the caller)."""

    async def loop(router: Router, check: Checker) -> tuple[Session, str | None]:
        clients = Clients(openai.AsyncOpenAI)

        async def respond(*, model: str, input: Any, base_url: str, api_key: str, **kw: Any) -> Any:
            client = clients(base_url, api_key)
            if how == "helper":
                return client.responses.stream(model=model, input=input, **kw)
            return await client.responses.create(model=model, input=input, **kw)

        routed = router.wrap(respond, messages_param="input")
        items: list[Any] = [{"role": "user", "content": REQUEST}]
        try:
            async with router.session(id=f"responses-{how}") as s:
                for _ in range(STEPS + 2):
                    kw: dict[str, Any] = {"stream": True} if how == "create-stream" else {}
                    call = routed(
                        input=items, instructions=SYSTEM_PROMPT, tools=RESPONSES_TOOLS, **kw
                    )
                    if how == "create":
                        response = await call
                    elif how == "create-stream":
                        # read up to the final event, the stream kept in a variable and not
                        # closed: charged when its usage has arrived all the same
                        response = None
                        stream = await call
                        async for event in stream:
                            if event.type == "response.completed":
                                response = event.response
                                break
                    else:
                        async with await call as stream:
                            async for _ in stream:
                                pass
                            response = await stream.get_final_response()
                    assert response is not None
                    check.step(s)
                    items += response.output  # the SDK's own output items, as its docs do
                    outputs = function_call_outputs(response.output)
                    if not outputs:
                        break
                    items += outputs
        finally:
            await clients.close()
        return s, response.output_text

    return loop


def tool_results(content: list[Any], *, flag_errors: bool) -> list[dict[str, Any]]:
    """``tool_result`` blocks for the ``tool_use`` blocks of an answer; a failure is ``Error:``
    text, flagged ``is_error`` too when ``flag_errors``."""
    results = []
    for block in content:
        # the SDK's own blocks (the plain and helper loops) or dicts (the raw stream's)
        use = block if isinstance(block, dict) else block.model_dump()
        if use["type"] != "tool_use":
            continue
        text = run_tool(use["name"], use["input"])
        result = {"type": "tool_result", "tool_use_id": use["id"], "content": text}
        if flag_errors and text.startswith("Error"):
            result["is_error"] = True
        results.append(result)
    return results


async def read_message_events(stream: Any) -> list[dict[str, Any]]:
    """The content blocks a raw ``messages.create(stream=True)`` event stream assembles to
    (read up to ``message_stop``, then left to the caller, not closed)."""
    blocks: dict[int, dict[str, Any]] = {}
    arguments: dict[int, str] = {}
    async for event in stream:
        if event.type == "message_stop":
            break
        if event.type == "content_block_start":
            blocks[event.index] = event.content_block.model_dump(exclude_none=True)
        elif event.type == "content_block_delta":
            if event.delta.type == "text_delta":
                blocks[event.index]["text"] += event.delta.text
            elif event.delta.type == "input_json_delta":
                arguments[event.index] = arguments.get(event.index, "") + event.delta.partial_json
    for index, text in arguments.items():
        blocks[index]["input"] = json.loads(text) if text else {}
    content = [blocks[i] for i in sorted(blocks)]
    for block in content:
        block.pop("citations", None)
    return content


def anthropic_loop(how: str) -> Loop:
    """``how``: ``create`` (plain; the tool error is ``Error:`` text only), ``create-stream``
    (``stream=True``) or ``helper`` (``client.messages.stream(...)``); the streamed ones flag the
    error ``is_error: true`` too."""

    async def loop(router: Router, check: Checker) -> tuple[Session, str | None]:
        clients = Clients(anthropic.AsyncAnthropic)

        async def call_claude(
            messages: Any,
            *,
            model: str,
            base_url: str,
            api_key: str,
            system: Any,
            tools: Any,
            max_tokens: int = 1024,
            **kw: Any,
        ) -> Any:
            client = clients(base_url, api_key)
            kw.update(model=model, max_tokens=max_tokens, system=system, tools=tools)
            if how == "helper":
                return client.messages.stream(messages=messages, **kw)
            return await client.messages.create(messages=messages, **kw)

        routed = router.wrap(call_claude)
        messages: list[Any] = [{"role": "user", "content": REQUEST}]
        system: Any = SYSTEM_PROMPT
        if how != "create":  # system blocks, without markers: the router places them
            system = [{"type": "text", "text": SYSTEM_PROMPT}]
        try:
            async with router.session(id=f"anthropic-{how}") as s:
                for _ in range(STEPS + 2):
                    if how == "create":
                        answer = await routed(
                            messages=messages, system=system, tools=ANTHROPIC_TOOLS
                        )
                        content: list[Any] = list(answer.content)  # the SDK's own blocks
                    elif how == "create-stream":
                        stream = await routed(
                            messages, system=system, tools=ANTHROPIC_TOOLS, stream=True
                        )
                        assert isinstance(stream, anthropic.AsyncStream)
                        content = await read_message_events(stream)
                    else:
                        manager = await routed(
                            messages=messages, system=system, tools=ANTHROPIC_TOOLS
                        )
                        async with manager as stream:
                            final = await stream.get_final_message()
                        content = list(final.content)  # the SDK's own blocks
                    check.step(s)
                    messages.append({"role": "assistant", "content": content})
                    results = tool_results(content, flag_errors=how != "create")
                    if not results:
                        break
                    messages.append({"role": "user", "content": results})
        finally:
            await clients.close()
        last = content[-1]
        return s, last["text"] if isinstance(last, dict) else last.text

    return loop


VARIANTS: dict[str, tuple[str, Loop]] = {
    "chat": ("openai", chat_plain),
    "chat-stream": ("openai", chat_stream),
    "responses": ("openai", responses_loop("create")),
    "responses-stream": ("openai", responses_loop("create-stream")),
    "responses-helper": ("openai", responses_loop("helper")),
    "anthropic": ("anthropic", anthropic_loop("create")),
    "anthropic-stream": ("anthropic", anthropic_loop("create-stream")),
    "anthropic-helper": ("anthropic", anthropic_loop("helper")),
}


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, key in KEYS.items():
        monkeypatch.setenv(f"SIM_KEY_{name}", key)


async def run_variant(variant: str, *, fault: bool) -> tuple[Checker, Session]:
    kind, loop = VARIANTS[variant]
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with run_simulator(sim_config(kind, fault=fault)) as sim:
        check = Checker(sim, kind, exporter)
        router = Router(
            router_config(sim, kind, fault=fault),
            clock=FakeClock(),
            tracer_provider=tracer_provider,
        )
        async with router:
            session, answer = await loop(router, check)
        check.finish(session, answer)
    assert not sim.internal_errors
    return check, session


@pytest.mark.parametrize("variant", VARIANTS)
async def test_an_sdk_agent_loop_through_wrap(variant: str, keys: None) -> None:
    check, _ = await run_variant(variant, fault=False)
    assert all(a.outcome == "ok" for a in check.attempts)
    assert len(check.attempts) == STEPS
    deployments = [a.target.key for a in check.attempts]
    assert deployments == ["cheap/small-1"] * 2 + ["strong/big-1"] * 3


@pytest.mark.parametrize("variant", ["chat", "responses-stream", "anthropic-helper"])
async def test_a_fault_on_the_escalated_step_fails_over_and_is_not_charged(
    variant: str, keys: None
) -> None:
    kind = VARIANTS[variant][0]
    check, session = await run_variant(variant, fault=True)
    escalated = [a for a in check.attempts if a.target.tier == "complex"]
    failed, *served = escalated
    status = FAULTS[kind][1]
    assert (failed.target.key, failed.outcome, failed.status_code) == (
        "strong/big-1",
        "error",
        status,
    )
    assert failed.error_type == "ProviderUnavailable"
    assert failed.usage is None and failed.cost_usd == 0.0
    # the model's other deployment served the step, and the session stayed pinned to it
    assert [a.target.key for a in served] == ["strong_b/big-2"] * 3
    assert all(a.outcome == "ok" for a in served)
    assert session.cost_usd == pytest.approx(check.billed, rel=1e-12)
    assert session.cost_usd == pytest.approx(sum(a.cost_usd for a in check.attempts), rel=1e-12)


def router_config_for_function() -> dict[str, Any]:
    """One model behind a plain function (no simulator)."""
    return {
        "providers": {"fn": {"kind": "openai"}},
        "models": {
            "small": {
                "context_window": 200_000,
                "price": PRICES["small"],
                "deployments": [{"provider": "fn", "name": "small-1"}],
            }
        },
        "tiers": {"simple": ["small"]},
        "telemetry": {"log_events": False},
    }


async def test_a_stream_is_charged_when_its_usage_has_arrived() -> None:
    # The caller stops at the chunk with the usage and keeps the stream open: the attempt is
    # charged, and its span ended, then (it was charged only when the stream was collected).
    config = router_config_for_function()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    closed = []

    async def chunks() -> Any:
        try:
            yield {"choices": [{"index": 0, "delta": {"content": "hi"}}]}
            yield {"choices": [], "usage": {"prompt_tokens": 1200, "completion_tokens": 3}}
        finally:
            closed.append(True)

    async def call_llm(messages: Any, *, model: str, **kw: Any) -> Any:
        return chunks()

    router = Router(config, clock=FakeClock(), tracer_provider=tracer_provider)
    async with router, router.session("early-usage") as s:
        stream = await router.wrap(call_llm)([{"role": "user", "content": "hi"}])
        async for chunk in stream:
            if chunk.get("usage"):
                break
        attempt = s.state.last_attempts[-1]
        assert attempt.usage == Usage(1200, 3)
        assert s.cost_usd == pytest.approx(price_of(Usage(1200, 3), "small"), rel=1e-12)
        [span] = [x for x in exporter.get_finished_spans() if x.name.startswith("chat ")]
        assert span.attributes is not None and span.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
        assert not closed  # the stream itself is still the caller's, open
        await stream.aclose()
    assert closed
    assert s.cost_usd == pytest.approx(price_of(Usage(1200, 3), "small"), rel=1e-12)
