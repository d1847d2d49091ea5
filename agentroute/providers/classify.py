"""Translate what providers and HTTP clients raise into the error tree of :mod:`agentroute.errors`.

The fallback policy (:mod:`agentroute.middleware.recovery`) acts on the *kind* of failure, so
every foreign exception is classified here, once, by duck typing: ``openai``, ``anthropic``,
``httpx`` and ``httpx2`` are never imported (they are optional, and an ``isinstance`` against
one would miss the others).

* Status: ``exc.status_code`` / ``exc.status``, else ``exc.response.status_code`` (both SDKs'
  ``APIStatusError``, ``httpx.HTTPStatusError``). Headers: ``exc.response.headers`` or
  ``exc.headers``, for ``retry-after-ms`` (OpenAI's) and ``retry-after`` (seconds or HTTP date).
* Body: ``exc.body`` (the ``openai`` SDK keeps only the inner ``error`` object, ``anthropic`` the
  whole ``{"type": "error", "error": {...}}``), else the response's JSON or text. Both APIs put
  the message in ``error.message``; OpenAI/Azure mark a full context with ``code ==
  "context_length_exceeded"`` and refusals with ``content_policy_violation``/``content_filter``,
  while Anthropic only says so in the message ("prompt is too long: 210000 tokens > 200000
  maximum"), hence the phrase lists below.
* No status: class names along the MRO (``TimeoutException``, ``APITimeoutError``,
  ``ConnectError``, ``APIConnectionError``, aiohttp's ``ClientConnectionError``, …) and builtin
  ``TimeoutError``/``ConnectionError``; timeouts first, as the SDKs' ``APITimeoutError``
  subclasses ``APIConnectionError`` (and aiohttp's ``ServerTimeoutError`` its connection error).

Anything else (``TypeError``, ``KeyError``, …) is a programming error: :func:`classify_exception`
returns ``None`` and the caller re-raises it as is. Errors are built fresh, without
``__cause__``; the caller raises them ``from`` the original.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from datetime import UTC
from http import HTTPStatus
from typing import TypeGuard

from agentroute._json_text import parse_answer
from agentroute.errors import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRefusal,
    ContextWindowExceeded,
    ModelNotFound,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

__all__ = ["classify_exception", "error_from_status", "parse_retry_after"]

MAX_MESSAGE = 500

_CONTEXT_CODES = frozenset({"context_length_exceeded"})
_CONTEXT_PHRASES = (
    "maximum context length",  # OpenAI Chat Completions, OpenRouter, vLLM
    "context_length_exceeded",
    "exceeds the context window",  # OpenAI Responses API
    "prompt is too long",  # Anthropic
    "exceed context limit",  # Anthropic: "input length and `max_tokens` exceed context limit"
)
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "moderation_blocked"})
_POLICY_PHRASES = (
    "content management policy",  # Azure OpenAI content filter
    "content policy",
    "content filtering policy",  # Anthropic 400: "Output blocked by content filtering policy"
    "safety system",  # OpenAI: "rejected as a result of our safety system"
    "usage policy",  # OpenAI invalid_prompt: "flagged as potentially violating our usage policy"
    "requires moderation",  # OpenRouter 403: "... requires moderation. Your input was flagged"
)
# Error kinds sent without an HTTP error status (Anthropic/OpenRouter errors inside a 200 stream).
_BY_TYPE: dict[str, type[ProviderError]] = {
    "invalid_request_error": BadRequest,
    "request_too_large": BadRequest,
    "authentication_error": AuthenticationFailed,
    "permission_error": AuthenticationFailed,
    "not_found_error": ModelNotFound,
    "rate_limit_error": RateLimited,
    "rate_limit_exceeded": RateLimited,
}
_BY_STATUS: dict[int, type[ProviderError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    402: AuthenticationFailed,  # OpenRouter: out of credits; the next deployment may have some
    403: AuthenticationFailed,
    404: ModelNotFound,
    408: ProviderTimeout,
    409: ProviderUnavailable,
    413: BadRequest,
    429: RateLimited,
}
# Where a context-window or content-policy body overrides the status's own class.
_SPECIAL_STATUSES: dict[type[ProviderError], tuple[int, ...]] = {
    ContextWindowExceeded: (400, 413),
    ContentPolicyRefusal: (400, 403),
}
_TIMEOUT_NAMES = frozenset({"TimeoutException", "APITimeoutError"})
_CONNECTION_NAMES = frozenset(
    {
        "TransportError",
        "NetworkError",
        "ConnectError",
        "RemoteProtocolError",
        "APIConnectionError",
        "ClientConnectionError",  # aiohttp: refused, reset, server disconnected
        "ClientPayloadError",  # aiohttp: the body was cut short
    }
)
# httpx TransportErrors that are a developer's mistake, not a failing connection.
_NOT_CONNECTION_NAMES = frozenset({"UnsupportedProtocol", "LocalProtocolError"})


def _attr(obj: object, name: str) -> object:
    """``getattr`` that never raises (SDK and httpx properties may raise when unset)."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _header(headers: object, name: str) -> str | None:
    get = _attr(headers, "get")
    if not callable(get):
        return None
    try:
        value = get(name)
        if value is None and isinstance(headers, Mapping):
            value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    except Exception:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.strip() if isinstance(value, str) else None


def parse_retry_after(
    headers: Mapping[str, str] | object | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait as the provider asked, from ``retry-after-ms`` then ``retry-after``.

    ``retry-after`` may be seconds (int or float) or an HTTP date (seconds from ``now``, default
    ``time.time()``, never negative). Header names are case-insensitive; garbage gives ``None``.
    """
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = _header(headers, name)
        if not value:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        if name == "retry-after":
            return _parse_http_date(value, now)
    return None


def _parse_http_date(value: str, now: float | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


_Fields = tuple[str | None, str | None, str | None, str | None, int | None]


def _error_fields(body: object) -> _Fields:
    """``(message, code, type, inner code, numeric code)`` of an error body (the numeric code is
    OpenRouter's ``error.code``: the HTTP status, also for errors sent inside a 200 stream)."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        text = body.strip()
        try:
            body = parse_answer(text)
        except ValueError:
            return (text or None), None, None, None, None
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, Mapping):
        return None, None, None, None, None
    error = body.get("error", body)
    if isinstance(error, str):
        return error, None, None, None, None
    if not isinstance(error, Mapping):
        return None, None, None, None, None
    inner = error.get("innererror")
    fields = (
        error.get("message") or error.get("detail"),
        error.get("code"),
        error.get("type"),
        inner.get("code") if isinstance(inner, Mapping) else None,
    )
    message, code, kind, inner_code = (f if isinstance(f, str) else None for f in fields)
    number = error.get("code")
    return message, code, kind, inner_code, number if _is_status(number) and number >= 400 else None


def error_from_status(
    status_code: int,
    *,
    headers: Mapping[str, str] | object | None = None,
    body: object = None,
    message: str | None = None,
) -> ProviderError:
    """The :class:`ProviderError` for an HTTP error ``status_code`` with its headers and body.

    400 → BadRequest (or ContextWindowExceeded / ContentPolicyRefusal when the body says so);
    401/402/403 → AuthenticationFailed (403 moderation flags → ContentPolicyRefusal); 404 →
    ModelNotFound; 408 → ProviderTimeout; 409 → ProviderUnavailable; 413 → ContextWindowExceeded
    if the message is about prompt length, else BadRequest; 429 → RateLimited; ≥500 (and 529) →
    ProviderUnavailable; other 4xx → BadRequest. A status below 400 (an error sent inside a 200
    stream) is classified by the body: OpenRouter's numeric ``error.code``, else ``error.type``
    (Anthropic's kinds), else ProviderUnavailable.
    """
    return _build(status_code, headers, body, message)


def _build(status: int | None, headers: object, body: object, message: str | None) -> ProviderError:
    text, code, kind, inner_code, number = _error_fields(body)
    text = text or message
    haystack = f"{text or ''} {message or ''}".lower()
    codes = {c.lower() for c in (code, kind, inner_code) if c}
    special: type[ProviderError] | None = None
    if codes & _CONTEXT_CODES or any(p in haystack for p in _CONTEXT_PHRASES):
        special = ContextWindowExceeded
    elif codes & _POLICY_CODES or any(p in haystack for p in _POLICY_PHRASES):
        special = ContentPolicyRefusal

    http_error = status is not None and status >= 400
    effective = status if http_error else number
    cls: type[ProviderError]
    if effective is None:  # an error event inside a successful stream
        cls = special or _BY_TYPE.get(kind or "") or _BY_TYPE.get(code or "", ProviderUnavailable)
    elif special is not None and effective in _SPECIAL_STATUSES[special]:
        cls = special
    else:
        cls = _BY_STATUS.get(effective) or (ProviderUnavailable if effective >= 500 else BadRequest)

    if not text and status is not None and http_error:
        try:
            text = HTTPStatus(status).phrase
        except ValueError:
            text = "Overloaded" if status == 529 else None
    text = " ".join((text or "no error message").split())
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    prefix = f"HTTP {status} from provider" if http_error else "error from provider"
    return cls(
        f"{prefix}: {text}",
        status_code=status if http_error else None,
        retry_after=parse_retry_after(headers),
    )


def _is_status(value: object) -> TypeGuard[int]:
    return type(value) is int and 100 <= value <= 599


def _status_of(exc: BaseException, response: object) -> int | None:
    """``exc.status_code`` / ``exc.status``, else that of a ``response`` that has headers."""
    for value in (_attr(exc, "status_code"), _attr(exc, "status")):
        if _is_status(value):
            return value
    if response is not None and _attr(response, "headers") is not None:
        value = _attr(response, "status_code")
        if _is_status(value):
            return value
    return None


def _body_of(exc: BaseException, response: object) -> object:
    body = _attr(exc, "body")
    if body is not None or response is None:
        return body
    for name in ("json", "text"):
        try:
            value = _attr(response, name)
            value = value() if callable(value) else value
        except Exception:
            continue
        if value:
            return value
    return None


def classify_exception(exc: BaseException) -> ProviderError | None:
    """The :class:`ProviderError` that ``exc`` stands for, or ``None`` to re-raise it as is.

    ``exc`` itself when it already is a ProviderError; by status for HTTP status errors; then
    ProviderTimeout for timeouts and ProviderConnectionError for connection failures (recognized
    by builtin type or class name, no SDK imported). Programming errors give ``None``.
    """
    if isinstance(exc, ProviderError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    response = _attr(exc, "response")
    status = _status_of(exc, response)
    if status is not None:
        headers = _attr(response, "headers") if response is not None else None
        if headers is None:
            headers = _attr(exc, "headers")
        message = _attr(exc, "message")
        return _build(
            status, headers, _body_of(exc, response), message if isinstance(message, str) else None
        )
    text = " ".join(str(exc).split())
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    detail = detail[:MAX_MESSAGE]
    if isinstance(exc, TimeoutError) or names & _TIMEOUT_NAMES:
        return ProviderTimeout(f"timed out ({detail})")
    if names & _NOT_CONNECTION_NAMES:
        return None
    if isinstance(exc, ConnectionError) or names & _CONNECTION_NAMES:
        return ProviderConnectionError(f"connection failed ({detail})")
    if "APIError" in names and _attr(exc, "body") is not None:
        # openai raises a bare APIError (no status) for an error event inside a stream.
        message = _attr(exc, "message")
        return _build(None, None, _attr(exc, "body"), message if isinstance(message, str) else None)
    if "ContentFilterFinishReasonError" in names:  # openai: finish_reason == "content_filter"
        return ContentPolicyRefusal(f"output refused by the provider's content filter ({detail})")
    return None
