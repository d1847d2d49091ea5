"""The built-in provider for the Anthropic Messages API (``POST {base_url}/v1/messages``).

The provider builds the request from the routed call — messages and tools in either shape are
converted (:mod:`agentroute.providers.convert`): system messages become the top-level ``system``,
tool results become ``tool_result`` blocks, OpenAI-only fields never reach Anthropic, tool-call
ids are made valid — sends it over :class:`~agentroute.providers.transport.Endpoint` with
``x-api-key`` and ``anthropic-version: 2023-06-01``, and normalizes the answer into a
:class:`~agentroute.ModelResult` whose ``finish_reason`` uses OpenAI's words (``end_turn`` and
``stop_sequence`` → ``stop``, ``max_tokens`` → ``length``, ``tool_use`` → ``tool_calls``,
``refusal`` → ``content_filter``) and whose :class:`~agentroute.Usage` counts cache reads and
writes in the input (Anthropic's own ``input_tokens`` excludes them).

Request rules: ``model`` is the target's deployment name; ``max_tokens`` (required by Anthropic) is
the call's ``max_tokens``, else ``max_completion_tokens``, else ``default_max_tokens``, lowered to
the model's configured ``max_output_tokens`` (:attr:`~agentroute.Target.max_output_tokens`) when
it is above it (:func:`~agentroute.providers.base.capped_output`);
``call.params`` become body fields with OpenAI-style ones mapped (``stop`` → ``stop_sequences``,
``tool_choice`` + ``parallel_tool_calls`` → Anthropic's ``tool_choice``, ``user`` →
``metadata.user_id``, ``temperature`` clamped to Anthropic's 0–1) and OpenAI-only ones dropped
(``prompt_cache_key``, ``seed``, ``n``, ``response_format``, penalties, …). A ``base_url`` ending
in ``/v1`` is accepted as well as the bare host.

Automatic cache breakpoints (``cache_breakpoints=True``; on by default for ``kind: anthropic``
providers built from the config): ``cache_control`` goes on the last tool definition,
the last system block (a string system prompt becomes one text block to carry it) and the last
content block of the last message that can carry one (not a thinking block), so the next step
reads the whole conversation so far from cache, and the tools and system prompt stay cached when
the messages change. That is at most three of Anthropic's four. The marker is
``{"type": "ephemeral", "ttl": "1h"}`` when ``cache_ttl_s >= 3600``, else plain
``{"type": "ephemeral"}`` (the API's 5-minute default, which compatible servers without ``ttl``
support also accept). When the caller placed any ``cache_control`` itself (tools, system, message
blocks, tool-result contents, or the top-level ``cache_control`` param) none is added: the caller
manages caching. The caller's messages and tools are never modified (marked blocks are copies;
:mod:`agentroute.providers.convert_cache`).

Streaming reads ``message_start`` (input usage), ``content_block_start``/``_delta``/``_stop``
(text, ``tool_use`` with ``input_json_delta`` pieces), ``message_delta`` (stop reason, output
usage), ``message_stop``, ``ping`` and ``error``; the usage of the whole answer (start and delta
combined) comes on the last chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from agentroute._json_text import parse_answer, safe_str, text_of
from agentroute._secrets import Secret
from agentroute._types import ModelCall, ModelResult, StreamChunk, ToolCall, ToolCallDelta, Usage
from agentroute.errors import ConfigurationError
from agentroute.messages import system_of
from agentroute.policy.tool_errors import ToolErrorDetector, default_tool_error_detector
from agentroute.providers.base import capped_output
from agentroute.providers.convert import (
    messages_to_anthropic,
    tool_choice_to_anthropic,
    tools_to_anthropic,
)
from agentroute.providers.convert_cache import (
    add_cache_breakpoints,
    cache_marker,
    has_cache_control,
)
from agentroute.providers.http_provider import HTTPProvider
from agentroute.providers.transport import Endpoint, SSEEvent
from agentroute.providers.usage import usage_from_response

__all__ = ["ANTHROPIC_BASE_URL", "ANTHROPIC_VERSION", "AnthropicProvider"]

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"

_CONTROLLED = frozenset(
    {
        "model",
        "messages",
        "tools",
        "system",
        "instructions",
        "stream",
        "max_tokens",
        "max_completion_tokens",
    }
)
_OPENAI_ONLY = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "n",
        "seed",
        "response_format",
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
        "stream_options",
        "store",
        "modalities",
        "audio",
        "prediction",
        "reasoning_effort",
        "reasoning",
        "verbosity",
        "web_search_options",
        "safety_identifier",
        "functions",
        "function_call",
        "parallel_tool_calls",
    }
)
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _finish_reason(value: object) -> str | None:
    return _FINISH.get(value, value) if isinstance(value, str) else None


class AnthropicProvider(HTTPProvider):
    """A :class:`~agentroute.Provider` for one Anthropic account (or a compatible server).

    Args:
        name: the provider's name in the config (used in error messages).
        base_url: the API host, ``https://api.anthropic.com`` when ``None``.
        api_key: sent as ``x-api-key``, resolved at each call.
        client: an ``httpx.AsyncClient`` to use (and leave open); a
            :func:`~agentroute.providers.transport.default_client` is made (and closed by
            :meth:`aclose`) when ``None``.
        headers: extra headers (e.g. ``anthropic-beta``), Secret values resolved per call; they
            override the defaults.
        default_max_tokens: ``max_tokens`` when the call sets none (lowered to the model's
            ``max_output_tokens`` when that is smaller).
        cache_breakpoints: add ``cache_control`` breakpoints on the stable prefix (see the
            module docstring); off unless asked for (the config turns it on for Anthropic).
        cache_ttl_s: the cache lifetime wanted; 3600 or more asks for ``ttl: "1h"`` markers.
        tool_error_detector: which OpenAI tool results get ``is_error: true`` (the router
            passes its configured one).

    Raises (from :meth:`send` and :meth:`stream`): the :class:`~agentroute.errors.ProviderError`
    classes for HTTP errors (529 overloaded included), timeouts and dropped connections;
    ProviderUnavailable for an unreadable answer; ConfigurationError for an unset ``env:`` secret.
    """

    default_base_url = ANTHROPIC_BASE_URL

    def __init__(
        self,
        *,
        name: str,
        base_url: str | None,
        api_key: Secret | str | None,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, Secret | str] | None = None,
        default_max_tokens: int = 4096,
        cache_breakpoints: bool = False,
        cache_ttl_s: float = 300.0,
        tool_error_detector: ToolErrorDetector = default_tool_error_detector,
    ) -> None:
        super().__init__(
            name=name,
            base_url=base_url,
            api_key=api_key,
            client=client,
            headers=headers,
        )
        self.default_max_tokens = default_max_tokens
        self.cache_breakpoints = cache_breakpoints
        self._cache_mark = cache_marker(cache_ttl_s)
        self.tool_error_detector = tool_error_detector

    def endpoint_url(self, root: str) -> str:
        return root + ("/messages" if root.endswith("/v1") else "/v1/messages")

    def auth_headers(self, key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if key is not None:
            headers["x-api-key"] = key
        return headers

    def stream_parser(self) -> _StreamState:
        return _StreamState(self._endpoint)

    def build_request(self, call: ModelCall, *, stream: bool = False) -> dict[str, Any]:
        """The JSON body for ``call`` (see the module docstring for the mapping)."""
        if call.target is None:
            raise ConfigurationError(f"provider {self.name!r} got a call without a target")
        params = call.params
        conversation = messages_to_anthropic(
            call.messages, system=system_of(params), detector=self.tool_error_detector
        )
        max_tokens = capped_output(
            params.get("max_tokens")
            or params.get("max_completion_tokens")
            or self.default_max_tokens,
            call.target.max_output_tokens,
        )
        body: dict[str, Any] = {
            "model": call.target.deployment,
            "max_tokens": max_tokens,
            "messages": conversation.messages,
        }
        if conversation.system:
            body["system"] = conversation.system
        tools = tools_to_anthropic(call.tools)
        if tools:
            body["tools"] = tools
        for key, value in params.items():
            if key in _CONTROLLED or key in _OPENAI_ONLY:
                continue
            if key == "stop":
                if value is not None:
                    stops = list(value) if isinstance(value, list | tuple) else [value]
                    body.setdefault("stop_sequences", stops)
            elif key == "tool_choice":
                continue  # below, with parallel_tool_calls
            elif key == "user":
                body.setdefault("metadata", {"user_id": value})
            elif key == "metadata":
                if isinstance(value, Mapping) and set(value) <= {"user_id"}:
                    body["metadata"] = dict(value)  # OpenAI's free-form metadata is dropped
            elif key == "service_tier":
                if value in ("auto", "standard_only"):
                    body[key] = value
            elif key == "temperature" and isinstance(value, int | float) and abs(value) < 1e9:
                # clamped to Anthropic's 0..1; NaN, infinities and huge numbers are sent as
                # given (and refused by the encoding when JSON cannot carry them)
                body[key] = min(max(float(value), 0.0), 1.0)
            else:
                body[key] = value
        choice = tool_choice_to_anthropic(
            params.get("tool_choice"), parallel_tool_calls=params.get("parallel_tool_calls")
        )
        if choice is not None and tools:
            body["tool_choice"] = choice
        if stream:
            body["stream"] = True
        if self.cache_breakpoints and not has_cache_control(body):
            add_cache_breakpoints(body, self._cache_mark)
        return body

    def parse_response(self, data: object) -> ModelResult:
        """Normalize a Message; ProviderUnavailable (or the sent error) if it is none."""
        content = data.get("content") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(content, list):
            if isinstance(data, dict) and (data.get("type") == "error" or data.get("error")):
                raise self._endpoint.body_error(data)
            raise self._endpoint.bad_answer("an Anthropic message", text_of(data))
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in content:
            if not isinstance(block, Mapping):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif block.get("type") == "tool_use":
                arguments = text_of(block.get("input") or {}, ensure_ascii=False)
                calls.append(
                    ToolCall(
                        safe_str(block.get("id") or ""),
                        safe_str(block.get("name") or ""),
                        arguments,
                    )
                )
        model = data.get("model")
        return ModelResult(
            raw=data,
            text="".join(texts) if texts else None,
            tool_calls=tuple(calls),
            finish_reason=_finish_reason(data.get("stop_reason")),
            usage=self._usage(data),
            response_model=model if isinstance(model, str) else None,
        )


class _StreamState:
    """What one Anthropic event stream has said so far: usage, tool blocks, completion."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self.usage: dict[str, Any] = {}
        self.tools: dict[int, int] = {}  # content block index → tool call index
        self.with_arguments: set[int] = set()
        self.done = False

    def feed(self, event: SSEEvent) -> StreamChunk | None:
        if self.done or not event.data.strip():
            return None
        try:
            data = parse_answer(event.data)
        except ValueError:
            raise self._endpoint.bad_answer("a stream event", event.data) from None
        if not isinstance(data, dict):
            raise self._endpoint.bad_answer("a stream event", event.data)
        kind = data.get("type") or event.event
        if kind == "error":
            raise self._endpoint.body_error(data)
        if kind == "message_start":
            message = data.get("message")
            usage = message.get("usage") if isinstance(message, Mapping) else None
            self.usage = dict(usage) if isinstance(usage, Mapping) else {}
        elif kind == "content_block_start":
            return self._block_start(data)
        elif kind == "content_block_delta":
            return self._block_delta(data)
        elif kind == "content_block_stop":
            index = data.get("index")
            if index in self.tools and index not in self.with_arguments:
                return StreamChunk(tool_calls=(ToolCallDelta(self.tools[index], arguments="{}"),))
        elif kind == "message_delta":
            usage = data.get("usage")
            if isinstance(usage, Mapping):
                self.usage.update((k, v) for k, v in usage.items() if v is not None)
            delta = data.get("delta")
            stop = delta.get("stop_reason") if isinstance(delta, Mapping) else None
            if stop is not None:
                return StreamChunk(finish_reason=_finish_reason(stop), raw=data)
        elif kind == "message_stop":
            self.done = True
            try:
                usage_total = usage_from_response({"usage": self.usage}) or Usage()
            except ValueError as exc:
                raise self._endpoint.bad_answer(f"a readable usage report ({exc})", "") from None
            return StreamChunk(usage=usage_total, raw=data)
        return None  # ping and event types added later

    def _block_start(self, data: Mapping[str, Any]) -> StreamChunk | None:
        block = data.get("content_block")
        if not isinstance(block, Mapping):
            return None
        if block.get("type") == "text" and block.get("text"):
            return StreamChunk(text=safe_str(block["text"]), raw=data)
        if block.get("type") != "tool_use":
            return None
        index = data.get("index")
        index = index if isinstance(index, int) else -1 - len(self.tools)
        number = self.tools[index] = len(self.tools)
        arguments = ""
        if block.get("input"):  # the whole input up front (not what Anthropic itself does)
            arguments = text_of(block["input"], ensure_ascii=False)
            self.with_arguments.add(index)
        name = safe_str(block.get("name") or "")
        piece = ToolCallDelta(number, safe_str(block.get("id") or ""), name, arguments)
        return StreamChunk(tool_calls=(piece,), raw=data)

    def _block_delta(self, data: Mapping[str, Any]) -> StreamChunk | None:
        delta = data.get("delta")
        if not isinstance(delta, Mapping):
            return None
        if delta.get("type") == "text_delta" and delta.get("text"):
            return StreamChunk(text=safe_str(delta["text"]), raw=data)
        index = data.get("index")
        fragment = delta.get("partial_json")
        if delta.get("type") == "input_json_delta" and fragment and index in self.tools:
            assert isinstance(index, int)
            self.with_arguments.add(index)
            piece = ToolCallDelta(self.tools[index], arguments=safe_str(fragment))
            return StreamChunk(tool_calls=(piece,), raw=data)
        return None
