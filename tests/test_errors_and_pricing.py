"""The error tree's shape, and cost arithmetic against hand-computed figures."""

from __future__ import annotations

import pytest

from agentroute import (
    AgentRouteError,
    AllAttemptsFailed,
    Attempt,
    AuthenticationFailed,
    BadRequest,
    BudgetExceeded,
    ConfigurationError,
    ContentPolicyRefusal,
    ContextWindowExceeded,
    ModelNotFound,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StepLimitExceeded,
    Target,
    Usage,
)
from agentroute.config import Price
from agentroute.pricing import cost_usd

PROVIDER_ERRORS = [
    RateLimited,
    ProviderUnavailable,
    ProviderTimeout,
    ProviderConnectionError,
    ContextWindowExceeded,
    ContentPolicyRefusal,
    AuthenticationFailed,
    ModelNotFound,
    BadRequest,
]


@pytest.mark.parametrize("cls", PROVIDER_ERRORS)
def test_provider_errors_sit_under_provider_error(cls: type[ProviderError]) -> None:
    assert issubclass(cls, ProviderError)
    assert issubclass(cls, AgentRouteError)
    assert not issubclass(cls, ConfigurationError)


@pytest.mark.parametrize(
    "cls", [ConfigurationError, BudgetExceeded, StepLimitExceeded, AllAttemptsFailed]
)
def test_other_branches(cls: type[Exception]) -> None:
    assert issubclass(cls, AgentRouteError)
    assert not issubclass(cls, ProviderError)


def test_all_attempts_failed_is_an_exception_group() -> None:
    assert issubclass(AllAttemptsFailed, ExceptionGroup)


def test_provider_error_text_names_where() -> None:
    err = RateLimited("slow down", status_code=429, retry_after=1.5)
    err.located(provider="openrouter", model="sonnet", deployment="anthropic/claude")
    assert str(err) == (
        "slow down (deployment=openrouter/anthropic/claude, model=sonnet, status=429, "
        "retry_after=1.5s)"
    )
    assert err.located(provider="x", model="y", deployment="z").provider == "openrouter"


def test_group_split_keeps_matching_attempts() -> None:
    t = Target("m", "simple", "p", "openai", "d", 1000)
    e1, e2 = RateLimited("a"), ProviderTimeout("b")
    group = AllAttemptsFailed(
        "failed",
        [e1, e2],
        [Attempt(1, t, "error", 0.1, error=e1), Attempt(2, t, "error", 0.2, error=e2)],
    )
    timeouts, rest = group.split(ProviderTimeout)
    assert isinstance(timeouts, AllAttemptsFailed) and isinstance(rest, AllAttemptsFailed)
    assert [a.number for a in timeouts.attempts] == [2]
    assert [a.number for a in rest.attempts] == [1]


SONNET = Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75, cache_write_1h=6.0)


@pytest.mark.parametrize(
    ("usage", "price", "expected"),
    [
        # no cache: 1000 in at $3/M + 200 out at $15/M
        (Usage(1000, 200), SONNET, 0.003 + 0.003),
        # 10,000 in of which 8,000 read from cache: 2,000 x 3 + 8,000 x 0.3 + 500 x 15
        (Usage(10_000, 500, cache_read_tokens=8_000), SONNET, (6_000 + 2_400 + 7_500) / 1e6),
        # cache writes: 4,000 in, 3,000 written (1,000 of them with a 1-hour TTL)
        (
            Usage(4_000, 0, cache_write_tokens=3_000, cache_write_1h_tokens=1_000),
            SONNET,
            (1_000 * 3 + 2_000 * 3.75 + 1_000 * 6.0) / 1e6,
        ),
        # a price without cache prices charges cached tokens at the input price
        (Usage(1_000, 0, cache_read_tokens=1_000), Price(input=2.0, output=1.0), 0.002),
        # 1-hour writes fall back to the 5-minute write price when none is configured
        (
            Usage(1_000, 0, cache_write_tokens=1_000, cache_write_1h_tokens=1_000),
            Price(input=1.0, output=1.0, cache_write=1.25),
            0.00125,
        ),
    ],
)
def test_cost(usage: Usage, price: Price, expected: float) -> None:
    assert cost_usd(usage, price) == pytest.approx(expected)


def test_usage_addition_and_uncached_part() -> None:
    total = Usage(100, 10, 40, 20, 5, 3) + Usage(1, 2, 3, 4, 5, 6)
    assert total == Usage(101, 12, 43, 24, 10, 9)
    assert total.uncached_input_tokens == 101 - 43 - 24
    assert Usage(10, 0, cache_read_tokens=50).uncached_input_tokens == 0
