"""Error classification: real SDK/httpx exceptions and recorded error bodies → the error tree."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, ClassVar

import anthropic
import httpx
import httpx2
import openai
import pytest

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
from agentroute.providers.classify import (
    classify_exception,
    error_from_status,
    parse_retry_after,
)

OPENAI_URL = "https://x.invalid/v1/chat/completions"
ANTHROPIC_URL = "https://x.invalid/v1/messages"

# Recorded bodies (as quoted in public issue threads; request ids shortened).
OPENAI_CONTEXT = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 8227 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
OPENAI_RESPONSES_CONTEXT = {
    "error": {
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
        "message": "Your input exceeds the context window of this model. "
        "Please adjust your input and try again.",
        "param": "input",
    }
}
ANTHROPIC_CONTEXT = {
    "type": "error",
    "error": {
        "type": "invalid_request_error",
        "message": "prompt is too long: 208656 tokens > 200000 maximum",
    },
    "request_id": "req_011CWdepJvA2D819",
}
OPENAI_POLICY = {
    "error": {
        "code": "content_policy_violation",
        "message": "Your request was rejected as a result of our safety system. Your prompt may "
        "contain text that is not allowed by our safety system.",
        "param": None,
        "type": "invalid_request_error",
    }
}
AZURE_POLICY = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
        "management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {"violence": {"filtered": True, "severity": "medium"}},
        },
    }
}
OPENAI_RATE_LIMIT = {
    "error": {
        "message": "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): "
        "Limit 30000, Used 29000, Requested 2000. Please try again in 2s.",
        "type": "tokens",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
ANTHROPIC_OVERLOADED = {
    "type": "error",
    "error": {"type": "overloaded_error", "message": "Overloaded"},
    "request_id": "req_011CZAau32QzxDkr",
}
ANTHROPIC_TOO_LARGE = {
    "error": {"type": "request_too_large", "message": "Request exceeds the maximum size"}
}
INVALID_KEY = {
    "error": {
        "message": "Incorrect API key provided: sk-abc***.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}


def _openai_error(
    cls: type[openai.APIStatusError], status: int, body: dict[str, Any], **h: str
) -> Exception:
    request = httpx2.Request("POST", OPENAI_URL)
    response = httpx2.Response(status, headers=h, json=body, request=request)
    # The openai client passes only the inner "error" object as ``body``.
    return cls(f"Error code: {status} - {body}", response=response, body=body["error"])


def _anthropic_error(
    cls: type[anthropic.APIStatusError], status: int, body: dict[str, Any], **h: str
) -> Exception:
    request = httpx2.Request("POST", ANTHROPIC_URL)
    response = httpx2.Response(status, headers=h, json=body, request=request)
    return cls(f"Error code: {status} - {body}", response=response, body=body)


def _httpx_status_error(status: int, body: Any = None, **h: str) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", OPENAI_URL)
    response = httpx.Response(status, headers=h, json=body, request=request)
    return httpx.HTTPStatusError(f"{status} error", request=request, response=response)


# -- parse_retry_after -----------------------------------------------------------------------

NOW = datetime(2025, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"Retry-After": "3"}, 3.0),
        ({"RETRY-AFTER": "2.5"}, 2.5),
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        ({"Retry-After-Ms": "250"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "4"}, 4.0),
        ({"retry-after": "Tue, 21 Oct 2025 07:28:30 GMT"}, 30.0),
        ({"retry-after": "Tue, 21 Oct 2025 07:27:00 GMT"}, 0.0),  # in the past: never negative
        ({"retry-after": "Tue, 21 Oct 2025 07:29:00 -0000"}, 60.0),
        (httpx.Headers({"Retry-After": "7"}), 7.0),
        (httpx2.Headers({"retry-after-ms": "20"}), 0.02),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": ""}, None),
        ({}, None),
        (None, None),
        (object(), None),
    ],
)
def test_parse_retry_after(headers: object, expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


def test_parse_retry_after_date_defaults_to_now() -> None:
    in_a_minute = format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True)
    seconds = parse_retry_after({"retry-after": in_a_minute})
    assert seconds is not None and 0.0 <= seconds <= 1.0


# -- error_from_status -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected", "text"),
    [
        (
            400,
            {"error": {"message": "Invalid 'tools[0].name'", "type": "invalid_request_error"}},
            BadRequest,
            "Invalid 'tools[0].name'",
        ),
        (400, OPENAI_CONTEXT, ContextWindowExceeded, "This model's maximum context length is 8192"),
        (400, OPENAI_RESPONSES_CONTEXT, ContextWindowExceeded, "Your input exceeds the context"),
        (400, ANTHROPIC_CONTEXT, ContextWindowExceeded, "prompt is too long: 208656 tokens"),
        (400, json.dumps(ANTHROPIC_CONTEXT), ContextWindowExceeded, "prompt is too long"),
        (400, json.dumps(OPENAI_CONTEXT).encode(), ContextWindowExceeded, "This model's maximum"),
        (400, OPENAI_POLICY, ContentPolicyRefusal, "Your request was rejected"),
        (400, AZURE_POLICY, ContentPolicyRefusal, "The response was filtered"),
        (401, INVALID_KEY, AuthenticationFailed, "Incorrect API key provided"),
        (
            402,
            {"error": {"code": 402, "message": "Insufficient credits"}},
            AuthenticationFailed,
            "Insufficient credits",
        ),
        (
            403,
            {"error": {"type": "permission_error", "message": "not allowed"}},
            AuthenticationFailed,
            "not allowed",
        ),
        (
            403,
            {
                "error": {
                    "code": 403,
                    "message": "gpt-4o requires moderation. Your input was "
                    'flagged for "harassment".',
                }
            },
            ContentPolicyRefusal,
            "gpt-4o requires moderation. Your input was flagged",
        ),
        (
            404,
            {"error": {"message": "The model `gpt-9` does not exist", "code": "model_not_found"}},
            ModelNotFound,
            "The model `gpt-9` does not exist",
        ),
        (408, None, ProviderTimeout, "Request Timeout"),
        (409, None, ProviderUnavailable, "Conflict"),
        (413, ANTHROPIC_TOO_LARGE, BadRequest, "Request exceeds the maximum size"),
        (
            413,
            {
                "error": {
                    "type": "request_too_large",
                    "message": "prompt is too long: 1200000 tokens > 1000000 maximum",
                }
            },
            ContextWindowExceeded,
            "prompt is too long",
        ),
        (422, {"detail": "field required: model"}, BadRequest, "field required: model"),
        (422, {"detail": [{"loc": ["body"]}]}, BadRequest, "Unprocessable"),
        (429, OPENAI_RATE_LIMIT, RateLimited, "Rate limit reached for gpt-4o"),
        (
            500,
            {"error": {"type": "api_error", "message": "Internal server error"}},
            ProviderUnavailable,
            "Internal server error",
        ),
        (
            503,
            "<html><body>Service Unavailable</body></html>",
            ProviderUnavailable,
            "<html><body>Service Unavailable",
        ),
        (529, ANTHROPIC_OVERLOADED, ProviderUnavailable, "Overloaded"),
        (529, None, ProviderUnavailable, "Overloaded"),
        (500, {"error": "upstream exploded"}, ProviderUnavailable, "upstream exploded"),
        (400, [{"error": {"message": "in a list"}}], BadRequest, "in a list"),
    ],
)
def test_error_from_status(
    status: int, body: object, expected: type[ProviderError], text: str
) -> None:
    err = error_from_status(status, body=body)
    assert type(err) is expected
    assert err.status_code == status
    assert err.message.startswith(f"HTTP {status} from provider: {text}")
    assert err.retry_after is None
    assert err.__cause__ is None


def test_error_from_status_message_fallback_and_truncation() -> None:
    err = error_from_status(400, body=None, message="x" * 2000)
    assert type(err) is BadRequest
    assert err.message == "HTTP 400 from provider: " + "x" * 499 + "…"
    err = error_from_status(400, message="prompt is too long: 5 tokens > 4 maximum")
    assert type(err) is ContextWindowExceeded


def test_error_from_status_retry_after() -> None:
    err = error_from_status(429, headers={"Retry-After": "3"}, body=OPENAI_RATE_LIMIT)
    assert isinstance(err, RateLimited)
    assert err.retry_after == 3.0
    err = error_from_status(503, headers=httpx.Headers({"retry-after-ms": "1200"}))
    assert isinstance(err, ProviderUnavailable)
    assert err.retry_after == 1.2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            ProviderUnavailable,
        ),
        (
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
            RateLimited,
        ),
        (ANTHROPIC_CONTEXT, ContextWindowExceeded),
        ({"error": {"code": 429, "message": "Rate limit exceeded upstream"}}, RateLimited),
        ({"error": {"code": 502, "message": "Provider returned error"}}, ProviderUnavailable),
        ({"unexpected": True}, ProviderUnavailable),
    ],
)
def test_error_inside_a_200_stream(body: object, expected: type[ProviderError]) -> None:
    err = error_from_status(200, body=body)
    assert type(err) is expected
    assert err.status_code is None
    assert err.message.startswith("error from provider: ")


# -- classify_exception ----------------------------------------------------------------------

OPENAI_REQUEST = httpx2.Request("POST", OPENAI_URL)
ANTHROPIC_REQUEST = httpx2.Request("POST", ANTHROPIC_URL)


class CustomStatusError(Exception):
    """A third-party client's error: ``status_code`` + ``headers`` attributes only."""

    def __init__(self, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(f"status {status_code}")
        self.status_code = status_code
        self.headers = headers


class _BrokenResponse:
    status_code = 502
    headers: ClassVar[dict[str, str]] = {"retry-after": "9"}

    def json(self) -> object:
        raise ValueError("not JSON")

    @property
    def text(self) -> str:
        raise RuntimeError("stream not read")


class BrokenBodyError(Exception):
    response = _BrokenResponse()


@pytest.mark.parametrize(
    ("exc", "expected", "status", "retry_after"),
    [
        (
            _openai_error(openai.RateLimitError, 429, OPENAI_RATE_LIMIT, **{"retry-after": "3"}),
            RateLimited,
            429,
            3.0,
        ),
        (
            _openai_error(
                openai.RateLimitError,
                429,
                OPENAI_RATE_LIMIT,
                **{"retry-after": "Tue, 21 Oct 2125 07:28:00 GMT", "retry-after-ms": "2500"},
            ),
            RateLimited,
            429,
            2.5,
        ),
        (
            _openai_error(openai.BadRequestError, 400, OPENAI_CONTEXT),
            ContextWindowExceeded,
            400,
            None,
        ),
        (
            _openai_error(openai.BadRequestError, 400, OPENAI_POLICY),
            ContentPolicyRefusal,
            400,
            None,
        ),
        (_openai_error(openai.BadRequestError, 400, AZURE_POLICY), ContentPolicyRefusal, 400, None),
        (
            _openai_error(openai.BadRequestError, 400, {"error": {"message": "bad tools"}}),
            BadRequest,
            400,
            None,
        ),
        (
            _openai_error(openai.AuthenticationError, 401, INVALID_KEY),
            AuthenticationFailed,
            401,
            None,
        ),
        (
            _openai_error(openai.NotFoundError, 404, {"error": {"message": "no such model"}}),
            ModelNotFound,
            404,
            None,
        ),
        (
            _openai_error(openai.InternalServerError, 500, {"error": {"message": "boom"}}),
            ProviderUnavailable,
            500,
            None,
        ),
        (
            _openai_error(
                openai.InternalServerError,
                503,
                {"error": {"message": "busy"}},
                **{"retry-after": "5"},
            ),
            ProviderUnavailable,
            503,
            5.0,
        ),
        (
            _anthropic_error(anthropic.BadRequestError, 400, ANTHROPIC_CONTEXT),
            ContextWindowExceeded,
            400,
            None,
        ),
        (
            _anthropic_error(
                anthropic.RateLimitError,
                429,
                {"type": "error", "error": {"type": "rate_limit_error", "message": "x"}},
                **{"retry-after": "11"},
            ),
            RateLimited,
            429,
            11.0,
        ),
        (
            _anthropic_error(anthropic.OverloadedError, 529, ANTHROPIC_OVERLOADED),
            ProviderUnavailable,
            529,
            None,
        ),
        (
            _anthropic_error(
                anthropic.PermissionDeniedError,
                403,
                {"type": "error", "error": {"type": "permission_error", "message": "no"}},
            ),
            AuthenticationFailed,
            403,
            None,
        ),
        (
            _httpx_status_error(429, OPENAI_RATE_LIMIT, **{"Retry-After": "4"}),
            RateLimited,
            429,
            4.0,
        ),
        (_httpx_status_error(503, {"error": {"message": "down"}}), ProviderUnavailable, 503, None),
        (_httpx_status_error(400, OPENAI_CONTEXT), ContextWindowExceeded, 400, None),
        (CustomStatusError(429, {"retry-after": "6"}), RateLimited, 429, 6.0),
        (CustomStatusError(500, {}), ProviderUnavailable, 500, None),
        (BrokenBodyError("gateway"), ProviderUnavailable, 502, 9.0),
        (openai.APITimeoutError(request=OPENAI_REQUEST), ProviderTimeout, None, None),
        (anthropic.APITimeoutError(request=ANTHROPIC_REQUEST), ProviderTimeout, None, None),
        (httpx.ConnectTimeout("timed out"), ProviderTimeout, None, None),
        (httpx.ReadTimeout("The read operation timed out"), ProviderTimeout, None, None),
        (httpx2.ReadTimeout("The read operation timed out"), ProviderTimeout, None, None),
        (TimeoutError(), ProviderTimeout, None, None),
        (openai.APIConnectionError(request=OPENAI_REQUEST), ProviderConnectionError, None, None),
        (
            anthropic.APIConnectionError(request=ANTHROPIC_REQUEST),
            ProviderConnectionError,
            None,
            None,
        ),
        (httpx.ConnectError("[Errno 111] Connection refused"), ProviderConnectionError, None, None),
        (httpx.RemoteProtocolError("peer closed connection"), ProviderConnectionError, None, None),
        (httpx2.ConnectError("refused"), ProviderConnectionError, None, None),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            ProviderConnectionError,
            None,
            None,
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_classify_exception(
    exc: BaseException,
    expected: type[ProviderError],
    status: int | None,
    retry_after: float | None,
) -> None:
    err = classify_exception(exc)
    assert type(err) is expected
    assert err.status_code == status
    assert err.retry_after == retry_after
    assert err.__cause__ is None


def test_classify_messages() -> None:
    err = classify_exception(_anthropic_error(anthropic.BadRequestError, 400, ANTHROPIC_CONTEXT))
    assert err is not None
    assert err.message == (
        "HTTP 400 from provider: prompt is too long: 208656 tokens > 200000 maximum"
    )
    err = classify_exception(openai.APITimeoutError(request=OPENAI_REQUEST))
    assert err is not None
    assert err.message == "timed out (APITimeoutError: Request timed out.)"
    err = classify_exception(TimeoutError())
    assert err is not None
    assert err.message == "timed out (TimeoutError)"
    err = classify_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    assert err is not None
    assert err.message == "connection failed (ConnectError: [Errno 111] Connection refused)"


def test_openai_stream_error_event() -> None:
    # openai raises a bare APIError (no status) for an "error" event inside a stream.
    body = {"type": "server_error", "code": "server_error", "message": "The server had an error"}
    err = classify_exception(openai.APIError("The server had an error", OPENAI_REQUEST, body=body))
    assert type(err) is ProviderUnavailable
    assert err.message == "error from provider: The server had an error"
    body = OPENAI_RESPONSES_CONTEXT["error"]
    err = classify_exception(openai.APIError("too long", OPENAI_REQUEST, body=body))
    assert type(err) is ContextWindowExceeded


def test_response_validation_error() -> None:
    # A 200 whose body does not fit the SDK's schema: a broken deployment, not our bug.
    response = httpx2.Response(200, json={"unexpected": True}, request=OPENAI_REQUEST)
    err = classify_exception(openai.APIResponseValidationError(response, {"unexpected": True}))
    assert type(err) is ProviderUnavailable
    assert err.status_code is None
    assert err.message == ("error from provider: Data returned by API invalid for expected schema.")


def test_content_filter_finish_reason() -> None:
    assert type(classify_exception(openai.ContentFilterFinishReasonError())) is ContentPolicyRefusal


def test_provider_error_passes_through() -> None:
    original = RateLimited("already ours", retry_after=1.0)
    assert classify_exception(original) is original


@pytest.mark.parametrize(
    "exc",
    [
        TypeError("unsupported operand"),
        KeyError("choices"),
        ValueError("bad"),
        AttributeError("x"),
        RuntimeError("boom"),
        httpx.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol."),
        openai.APIError("no body", OPENAI_REQUEST, body=None),
    ],
    ids=lambda e: type(e).__name__,
)
def test_programming_errors_are_not_translated(exc: BaseException) -> None:
    assert classify_exception(exc) is None
