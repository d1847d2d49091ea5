"""Hypothesis fuzz: message lists of any JSON-ish shape, in both wire formats (and the Responses
API's), plus objects and hostile values, through every entry point.

Every example must either be routed or be refused with one ConfigurationError that names where
(``messages[i].field``, ``tools``, ``hints``, a parameter): never a bare exception from inside
(issue 14, item 7: such a fuzz crashed on 8.8–75.7% of examples depending on the strategy).
The default suite runs :data:`QUICK` examples per event loop; ``pytest -m fuzz`` (run by
``.ci/run``) runs :data:`LONG`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentroute import ConfigurationError, Router
from agentroute._history_marks import history_mark
from agentroute.policy.signals import SignalExtractor, content_mark
from agentroute.policy.tokens import EstimateCounter
from agentroute.session import derive_session_key
from agentroute.testing import ScriptedProvider
from tests.helpers import config_dict
from tests.malformed import (
    CYCLE,
    CYCLE_DICT,
    DEEP_LIST_TEXT,
    DEEP_TEXT,
    HUGE,
    LONE,
    Answerer,
    http_config,
    nested_dict,
    nested_list,
)

pytestmark = pytest.mark.anyio

QUICK = 60
"""Examples per event loop in the default suite."""
LONG = int(os.environ.get("AGENTROUTE_FUZZ_EXAMPLES", "6000"))
"""Examples per event loop under ``-m fuzz`` (``AGENTROUTE_FUZZ_EXAMPLES``; 12,000 in all by
default, asyncio and trio: about two minutes on a busy 2-core machine, mostly hypothesis
drawing the examples)."""

# Values ------------------------------------------------------------------------------------------

ROLES = ["user", "assistant", "system", "developer", "tool", "human", "ai", "wizard", ""]
ROLE = st.sampled_from(ROLES)
TYPES = [
    "text", "image_url", "image", "tool_use", "tool_result", "input_text", "output_text",
    "input_image", "input_file", "thinking", "document", "refusal", "function_call",
    "function_call_output", "custom_tool_call", "custom_tool_call_output", "reasoning",
    "message", "item_reference", "function", "custom", "web_search_call",
]  # fmt: skip
KEYS = [
    "role", "content", "type", "text", "tool_calls", "tool_call_id", "function", "name",
    "arguments", "input", "output", "id", "call_id", "tool_use_id", "is_error", "status",
    "summary", "source", "image_url", "url", "args", "custom", "cache_control", "refusal",
]  # fmt: skip

STRINGS = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=6),  # lone surrogates too
    st.sampled_from([*ROLES, *TYPES, "{}", '{"reason": "hard"}', '{"error": "x"}', "Error: x",
                     LONE, "a" + LONE, '{"a": [1, 2]}', "[1, 2]"]),
)  # fmt: skip
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities included
    STRINGS,
)


class _Raises:
    """An object whose attributes raise when read."""

    @property
    def role(self) -> str:
        raise RuntimeError("no role")


@dataclasses.dataclass
class _Message:
    role: Any
    content: Any = None


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow", arbitrary_types_allowed=True)
    role: Any = None
    content: Any = None


_HOSTILE: dict[str, Callable[[], Any]] = {
    "bytes": lambda: b"bytes\xff",
    "frozenset": lambda: frozenset({1, 2}),
    "set": lambda: {1, 2},
    "object": object,
    "huge": lambda: HUGE,
    "-huge": lambda: -HUGE,
    "nan": lambda: math.nan,
    "inf": lambda: math.inf,
    "cycle": lambda: CYCLE,
    "cycle-dict": lambda: CYCLE_DICT,
    "deep-list": lambda: nested_list(1000),
    "deep-dict": lambda: nested_dict(1000),
    "tuple": lambda: (1, (2, (3,))),
    "deep-text": lambda: DEEP_TEXT,
    "deep-list-text": lambda: DEEP_LIST_TEXT,
    "deep-error-text": lambda: '{"error": ' + DEEP_LIST_TEXT + "}",
}


@dataclasses.dataclass(frozen=True)
class _Hostile:
    """A placeholder for a hostile value, made when the example runs: hypothesis prints
    examples, and a huge integer or a 1,000-level list has no ``repr``."""

    name: str

    def make(self) -> Any:
        return _HOSTILE[self.name]()


@dataclasses.dataclass(frozen=True)
class _Object:
    """A placeholder for a message object (made with its fields when the example runs)."""

    kind: str
    fields: dict[str, Any]

    def make(self) -> Any:
        fields = {k: _made(v) for k, v in self.fields.items()}
        if self.kind == "dataclass":
            return _Message(**fields)
        if self.kind == "pydantic":
            return _Model(**fields)
        if self.kind == "raises":
            return _Raises()
        return SimpleNamespace(**fields)


def _made(value: Any) -> Any:
    """``value`` with its placeholders made (the recipe itself is shallow)."""
    if isinstance(value, _Hostile | _Object):
        return value.make()
    if isinstance(value, list):
        return [_made(v) for v in value]
    if isinstance(value, dict):
        return {k: _made(v) for k, v in value.items()}
    return value


HOSTILE = st.sampled_from(sorted(_HOSTILE)).map(_Hostile)
KEY = st.one_of(st.sampled_from(KEYS), STRINGS, st.integers(), st.sampled_from([(1,), None]))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(KEY, children, max_size=3),
    )


VALUE = st.recursive(st.one_of(JSON_LEAVES, HOSTILE), _containers, max_leaves=5)
"""Any JSON-ish value, hostile leaves included."""


def _field(name: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {name: v}))


def _shaped(fixed: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with some of the ``fixed`` fields (well-typed or not) and some random ones."""
    parts = [_field(name, st.one_of(values, VALUE)) for name, values in fixed.items()]
    return st.tuples(*parts, st.dictionaries(KEY, VALUE, max_size=1)).map(
        lambda pieces: {k: v for piece in pieces for k, v in piece.items()}
    )


TEXT_BLOCK = _shaped({"type": st.just("text"), "text": STRINGS})
BLOCK = st.one_of(
    TEXT_BLOCK,
    _shaped({"type": st.just("tool_use"), "id": STRINGS, "name": STRINGS, "input": VALUE}),
    _shaped(
        {
            "type": st.just("tool_result"),
            "tool_use_id": STRINGS,
            "content": st.one_of(STRINGS, st.lists(TEXT_BLOCK, max_size=2), VALUE),
            "is_error": st.booleans(),
        }
    ),
    _shaped({"type": st.sampled_from(TYPES), "image_url": VALUE, "source": VALUE}),
    STRINGS,
)
CONTENT = st.one_of(st.none(), STRINGS, st.lists(BLOCK, max_size=3), VALUE)
TOOL_CALL = st.one_of(
    _shaped(
        {
            "id": STRINGS,
            "type": st.just("function"),
            "function": _shaped({"name": STRINGS, "arguments": st.one_of(STRINGS, VALUE)}),
        }
    ),
    _shaped({"name": STRINGS, "args": VALUE, "id": STRINGS}),  # LangChain's
    VALUE,
)
CHAT = _shaped(
    {
        "role": st.sampled_from(ROLES),
        "content": CONTENT,
        "tool_calls": st.lists(TOOL_CALL, max_size=2),
        "tool_call_id": STRINGS,
        "is_error": st.booleans(),
        "status": STRINGS,
        "name": STRINGS,
    }
)
ITEM = _shaped(
    {
        "type": st.sampled_from(TYPES),
        "call_id": STRINGS,
        "name": STRINGS,
        "arguments": st.one_of(STRINGS, VALUE),
        "output": st.one_of(STRINGS, st.lists(TEXT_BLOCK, max_size=2), VALUE),
        "summary": st.lists(TEXT_BLOCK, max_size=2),
        "role": st.sampled_from(ROLES),
        "content": CONTENT,
    }
)
OBJECT = st.one_of(
    st.builds(
        _Object,
        st.sampled_from(["dataclass", "namespace", "pydantic"]),
        st.fixed_dictionaries({"role": st.one_of(ROLE, VALUE), "content": CONTENT}),
    ),
    st.builds(_Object, st.just("namespace"),
              st.fixed_dictionaries({"type": st.sampled_from(TYPES), "output": VALUE})),
    st.just(_Object("raises", {})),
)  # fmt: skip
MESSAGE = st.one_of(CHAT, CHAT, ITEM, OBJECT, VALUE)
TOOLS = st.one_of(
    st.none(),
    st.lists(
        st.one_of(
            _shaped({"type": st.just("function"), "function": _shaped({"name": STRINGS,
                     "parameters": VALUE})}),
            _shaped({"name": STRINGS, "input_schema": VALUE}),
            VALUE,
        ),
        max_size=2,
    ),
    VALUE,
)  # fmt: skip
HINTS = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"min_tier": st.sampled_from(["simple", "complex"])}),
    st.dictionaries(st.sampled_from(["min_tier", "max_tier", "task_type", "plan"]), VALUE),
    VALUE,
)
PARAM_NAMES = [
    "system", "instructions", "temperature", "user", "stop", "stop_sequences", "tool_choice",
    "parallel_tool_calls", "max_tokens", "metadata", "service_tier", "top_k", "stream_options",
]  # fmt: skip
PARAMS = st.dictionaries(st.sampled_from(PARAM_NAMES), VALUE, max_size=3)


@st.composite
def calls(draw: st.DrawFn) -> tuple[list[Any], dict[str, Any]]:
    messages = draw(st.lists(MESSAGE, max_size=4))
    kwargs: dict[str, Any] = {"tools": draw(TOOLS), "hints": draw(HINTS), **draw(PARAMS)}
    return messages, kwargs


# The property ------------------------------------------------------------------------------------

NAMED = ("messages", "tools", "hints must", "hint ", "the system prompt", "the request body",
         *PARAM_NAMES)  # fmt: skip


def _named(exc: ConfigurationError, messages: list[Any]) -> None:
    text = str(exc)
    assert text.startswith(NAMED), text
    if "could not be read" in text:  # only a caller's object whose own code raises
        assert any(isinstance(m, _Raises) for m in messages), text


async def _outcome(run: Callable[[], Any], messages: list[Any]) -> None:
    try:
        await run()
    except ConfigurationError as exc:
        _named(exc, messages)


class _Routers:
    """One router per entry point, built once per test (the fuzz reuses them)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        base = config_dict(telemetry={"log_events": False})
        doubles = {name: ScriptedProvider(default="ok") for name in ("alpha", "beta")}
        self.doubles = Router(base, providers=doubles)
        self.http = {
            k: Router(http_config(k, base), http_client=client) for k in ("openai", "anthropic")
        }

        async def call_llm(messages: Any, *, model: str, **kwargs: Any) -> str:
            return "ok"

        self.wrapped = self.doubles.wrap(call_llm)


async def _check(routers: _Routers, recipe: list[Any], recipe_kwargs: dict[str, Any]) -> None:
    messages: list[Any] = _made(recipe)
    kwargs: dict[str, Any] = _made(recipe_kwargs)
    await _outcome(lambda: routers.doubles.complete(messages, **kwargs), messages)
    wrap_kwargs = {k: v for k, v in kwargs.items() if k != "hints"}
    await _outcome(lambda: routers.wrapped(messages, **wrap_kwargs), messages)
    for router in routers.http.values():
        await _outcome(lambda r=router: r.complete(messages, **kwargs), messages)  # type: ignore[misc]

        async def stream(r: Router = router) -> None:
            async with r.stream(messages, **kwargs) as chunks:
                async for _ in chunks:
                    pass

        await _outcome(stream, messages)
    try:
        SignalExtractor(EstimateCounter()).scan(messages, None)
    except ConfigurationError as exc:
        _named(exc, messages)
    derive_session_key(messages, kwargs.get("system"))
    for message in messages:
        content_mark(message)
        history_mark(message)


_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
}  # fmt: skip


@pytest.fixture
def routers() -> _Routers:
    """Built once per test, shared by its examples (the answerer only answers)."""
    return _Routers(httpx.AsyncClient(transport=httpx.MockTransport(Answerer())))


@settings(max_examples=QUICK, **_SETTINGS)  # type: ignore[arg-type]
@given(call=calls())
async def test_fuzz_messages_every_entry_point(
    routers: _Routers, call: tuple[list[Any], dict[str, Any]]
) -> None:
    await _check(routers, *call)


@pytest.mark.fuzz
@settings(max_examples=LONG, **_SETTINGS)  # type: ignore[arg-type]
@given(call=calls())
async def test_fuzz_messages_every_entry_point_long(
    routers: _Routers, call: tuple[list[Any], dict[str, Any]]
) -> None:
    await _check(routers, *call)
