"""The built-in provider for the OpenAI Chat Completions API and compatible servers.

OpenAI, OpenRouter, DeepSeek, vLLM and many others speak ``POST {base_url}/chat/completions``.
The provider builds the request from the routed call — messages and tools in either
shape are converted (:mod:`agentroute.providers.convert`), so Anthropic ``cache_control`` never
reaches the endpoint — sends it over :class:`~agentroute.providers.transport.Endpoint`, and
normalizes the answer into a :class:`~agentroute.ModelResult` (text, tool calls, finish reason,
:class:`~agentroute.Usage` with cached tokens).

Request rules: ``model`` is the target's deployment name; ``call.params`` become body fields, with
Anthropic-style ones mapped (``stop_sequences`` → ``stop``, a ``system`` param → a leading system
message, an Anthropic ``tool_choice`` → OpenAI's plus ``parallel_tool_calls``, ``metadata.user_id``
→ ``user``) and Anthropic-only ones dropped (``top_k``, ``thinking``, …). ``tool_choice`` and
``parallel_tool_calls`` are sent only with tools (OpenAI rejects them otherwise). No
``max_tokens`` is added: the server's default applies (reasoning models reject ``max_tokens``).
Streaming asks for ``stream_options: {"include_usage": true}`` so the last chunk carries usage.

``prompt_cache_key`` (``prompt_cache_key=True``; by default on for the official API when built
from the config): a call bound to a session carries ``prompt_cache_key`` = the session
key, which routes the session's steps to the same cache shard; a key the caller passed in its
params is sent as given instead. OpenAI caps the field at 64 characters: a longer session key is
sent as a digest of itself (``ar-`` + 32 hex digits), stable across steps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import httpx

from agentroute._json_text import parse_answer, safe_str, text_of
from agentroute._secrets import Secret
from agentroute._types import ModelCall, ModelResult, StreamChunk, ToolCall, ToolCallDelta
from agentroute.errors import ConfigurationError
from agentroute.messages import system_of
from agentroute.policy.tool_errors import ToolErrorDetector, default_tool_error_detector
from agentroute.providers.base import capped_output
from agentroute.providers.convert import messages_to_openai, tool_choice_to_openai, tools_to_openai
from agentroute.providers.http_provider import HTTPProvider
from agentroute.providers.transport import SSEEvent

__all__ = ["OPENAI_BASE_URL", "OpenAIProvider"]

OPENAI_BASE_URL = "https://api.openai.com/v1"

_CONTROLLED = frozenset({"model", "messages", "tools", "system", "instructions", "stream"})
_ANTHROPIC_ONLY = frozenset(
    {
        "top_k",
        "thinking",
        "container",
        "mcp_servers",
        "context_management",
        "output_config",
        "inference_geo",
        "cache_control",
        "betas",
    }
)
_FINISH = {"function_call": "tool_calls"}
_PROMPT_CACHE_KEY_MAX = 64  # OpenAI: "string too long. Expected … maximum length 64"


def _finish_reason(value: object) -> str | None:
    return _FINISH.get(value, value) if isinstance(value, str) else None


def _text_of(content: object) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, Mapping)]
        return "".join(t for t in texts if isinstance(t, str))
    return None


def _arguments_text(value: object) -> str:
    return value if isinstance(value, str) else text_of(value or {})


def _function(call: Mapping[str, Any]) -> Mapping[str, Any]:
    fn = call.get("function")
    return fn if isinstance(fn, Mapping) else {}


def _cache_key_for(session_key: str) -> str:
    """``session_key`` as a ``prompt_cache_key``: itself when it fits OpenAI's 64 characters,
    else ``ar-`` and a 32-hex-digit digest of it (the same for every step of the session)."""
    if len(session_key) <= _PROMPT_CACHE_KEY_MAX:
        return session_key
    return "ar-" + hashlib.blake2b(session_key.encode(), digest_size=16).hexdigest()


class OpenAIProvider(HTTPProvider):
    """A :class:`~agentroute.Provider` for one OpenAI-compatible account.

    Args:
        name: the provider's name in the config (used in error messages).
        base_url: the API root, ``https://api.openai.com/v1`` when ``None``.
        api_key: sent as ``Authorization: Bearer …``, resolved at each call; none for servers
            without auth.
        client: an ``httpx.AsyncClient`` to use (and leave open); a
            :func:`~agentroute.providers.transport.default_client` is made (and closed by
            :meth:`aclose`) when ``None``.
        headers: extra headers (e.g. OpenRouter's ``HTTP-Referer``), Secret values resolved per
            call; they override the defaults.
        prompt_cache_key: send the session key as ``prompt_cache_key`` (see the module
            docstring); off unless asked for, since many compatible servers reject unknown
            fields (the config turns it on for the official API).
        tool_error_detector: which tool results read as errors when an Anthropic
            ``is_error`` result is converted (the router passes its configured one).

    Raises (from :meth:`send` and :meth:`stream`): the :class:`~agentroute.errors.ProviderError`
    classes for HTTP errors, timeouts and dropped connections; ProviderUnavailable for an
    unreadable answer; ConfigurationError for an unset ``env:`` secret.
    """

    default_base_url = OPENAI_BASE_URL

    def __init__(
        self,
        *,
        name: str,
        base_url: str | None,
        api_key: Secret | str | None,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, Secret | str] | None = None,
        prompt_cache_key: bool = False,
        tool_error_detector: ToolErrorDetector = default_tool_error_detector,
    ) -> None:
        super().__init__(
            name=name,
            base_url=base_url,
            api_key=api_key,
            client=client,
            headers=headers,
        )
        self.prompt_cache_key = prompt_cache_key
        self.tool_error_detector = tool_error_detector

    def endpoint_url(self, root: str) -> str:
        return f"{root}/chat/completions"

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key is not None else {}

    def stream_parser(self) -> _StreamState:
        return _StreamState(self)

    def build_request(self, call: ModelCall, *, stream: bool = False) -> dict[str, Any]:
        """The JSON body for ``call`` (see the module docstring for the mapping)."""
        if call.target is None:
            raise ConfigurationError(f"provider {self.name!r} got a call without a target")
        params = call.params
        body: dict[str, Any] = {
            "model": call.target.deployment,
            "messages": messages_to_openai(
                call.messages, system=system_of(params), detector=self.tool_error_detector
            ),
        }
        tools = tools_to_openai(call.tools)
        if tools:
            body["tools"] = tools
        for key, value in params.items():
            if key in _CONTROLLED or key in _ANTHROPIC_ONLY:
                continue
            if key == "stop_sequences":
                body.setdefault("stop", list(value) if isinstance(value, list | tuple) else value)
            elif key == "tool_choice":
                choice, parallel = tool_choice_to_openai(value)
                if choice is not None:
                    body["tool_choice"] = choice
                if parallel is not None:
                    body.setdefault("parallel_tool_calls", parallel)
            elif key == "metadata" and isinstance(value, Mapping) and set(value) == {"user_id"}:
                body.setdefault("user", value["user_id"])  # Anthropic's end-user id
            elif key == "service_tier" and value == "standard_only":
                continue  # Anthropic's value; OpenAI's tiers differ
            elif key in ("max_tokens", "max_completion_tokens"):
                body[key] = capped_output(value, call.target.max_output_tokens)
            else:
                body[key] = value
        if self.prompt_cache_key and call.session is not None:
            body.setdefault("prompt_cache_key", _cache_key_for(call.session.key))
        if not tools:
            body.pop("tool_choice", None)
            body.pop("parallel_tool_calls", None)
        if stream:
            body["stream"] = True
            options = body.get("stream_options")
            body["stream_options"] = {
                **(options if isinstance(options, Mapping) else {}),
                "include_usage": True,
            }
        return body

    def parse_response(self, data: object) -> ModelResult:
        """Normalize a chat completion; ProviderUnavailable (or the sent error) if it is none."""
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            if isinstance(data, dict) and data.get("error"):
                raise self._endpoint.body_error(data)
            raise self._endpoint.bad_answer("a chat completion", text_of(data))
        assert isinstance(data, dict)
        message = choices[0].get("message")
        message = message if isinstance(message, Mapping) else {}
        calls = message.get("tool_calls")
        tool_calls = tuple(
            ToolCall(
                id=safe_str(call.get("id") or ""),
                name=safe_str(_function(call).get("name") or ""),
                arguments=_arguments_text(_function(call).get("arguments")),
            )
            for call in (calls if isinstance(calls, list) else ())
            if isinstance(call, Mapping)
        )
        model = data.get("model")
        return ModelResult(
            raw=data,
            text=_text_of(message.get("content")),
            tool_calls=tool_calls,
            finish_reason=_finish_reason(choices[0].get("finish_reason")),
            usage=self._usage(data),
            response_model=model if isinstance(model, str) else None,
        )


class _StreamState:
    """What one chat-completion stream has said so far: whether it is complete."""

    def __init__(self, provider: OpenAIProvider) -> None:
        self._provider = provider
        self._endpoint = provider._endpoint
        self.done = False  # a finish reason or [DONE] was seen
        self._closed = False  # [DONE] was seen: later events are ignored

    def feed(self, event: SSEEvent) -> StreamChunk | None:
        text_data = event.data.strip()
        if self._closed or not text_data:
            return None
        if text_data == "[DONE]":
            self.done = self._closed = True
            return None
        try:
            data = parse_answer(text_data)
        except ValueError:
            raise self._endpoint.bad_answer("a stream chunk", event.data) from None
        if not isinstance(data, dict):
            raise self._endpoint.bad_answer("a stream chunk", event.data)
        if data.get("error"):
            raise self._endpoint.body_error(data)
        text, finish = "", None
        deltas: tuple[ToolCallDelta, ...] = ()
        choices = data.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            delta = choices[0].get("delta")
            delta = delta if isinstance(delta, Mapping) else {}
            text = _text_of(delta.get("content")) or ""
            deltas = tuple(
                _tool_delta(p) for p in delta.get("tool_calls") or () if isinstance(p, Mapping)
            )
            finish = _finish_reason(choices[0].get("finish_reason"))
        usage = self._provider._usage(data) if data.get("usage") else None
        self.done = self.done or finish is not None
        if not (text or deltas or finish or usage):
            return None
        return StreamChunk(
            text=text, tool_calls=deltas, finish_reason=finish, usage=usage, raw=data
        )


def _tool_delta(piece: Mapping[str, Any]) -> ToolCallDelta:
    fn = piece.get("function")
    fn = fn if isinstance(fn, Mapping) else {}
    return ToolCallDelta(
        index=int(piece.get("index") or 0),
        id=piece.get("id"),
        name=fn.get("name"),
        arguments=fn.get("arguments") or "",
    )
