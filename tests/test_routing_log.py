"""The routing log: one JSON line per session, valid against the schema, written off the event
loop, never failing a call, never holding content or a key, and flushed by ``aclose()``."""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentroute import ConfigurationError, Router, Usage
from agentroute.telemetry import routing_log as routing_log_module
from agentroute.telemetry.routing_log_schema import OutcomeLine, RoutingLogLine, SessionLine
from agentroute.testing import (
    FakeClock,
    ScriptedProvider,
    capture_logs,
    openai_response,
    text_result,
)
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

SECRET = "sk-routing-log-secret-123456"
CONTENT = "PRIVATE-MESSAGE-CONTENT-42"
MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": CONTENT}]


def lines(text: str) -> list[SessionLine | OutcomeLine]:
    """Every line, validated against the schema."""
    return [RoutingLogLine.validate_json(line) for line in text.splitlines()]


def router(sink: Any, **kwargs: Any) -> tuple[Router, ScriptedProvider]:
    provider = ScriptedProvider(default=text_result("ok", Usage(1000, 20, cache_read_tokens=600)))
    data = config_dict(**kwargs)
    data["providers"]["alpha"]["api_key"] = SECRET
    built = Router(
        data, providers={"alpha": provider, "beta": provider}, routing_log=sink, clock=FakeClock()
    )
    return built, provider


async def test_a_session_through_complete_is_one_line_with_every_step(tmp_path: Path) -> None:
    path = tmp_path / "routing.jsonl"
    r, _ = router(str(path))
    async with r:
        async with r.session(id="s1", agent="support", user="u-7") as s:
            await r.complete(MESSAGES)
            s.escalate("test")
            await r.complete(MESSAGES)
            s.record_outcome(success=True, score=0.75, label="refund")
        assert r.config.tiers  # (the line is written by the thread: read it after aclose)
    (line,) = lines(path.read_text(encoding="utf-8"))
    assert isinstance(line, SessionLine)
    assert (line.session_id, line.agent, line.user, line.end_reason) == (
        "s1",
        "support",
        "u-7",
        "exit",
    )
    assert [st.step for st in line.steps] == [1, 2]
    assert [st.tier for st in line.steps] == ["simple", "medium"]
    assert (line.start_tier, line.highest_tier, line.tiers_reached) == (
        "simple",
        "medium",
        ["simple", "medium"],
    )
    first = line.steps[0]
    assert line.steps[1].cause == "escalation_request" and line.steps[1].previous_tier == "simple"
    assert (first.model, first.deployment, first.cause) == ("small", "alpha/small-1", "start")
    assert first.tokens is not None and (
        first.tokens.input,
        first.tokens.cached,
        first.tokens.output,
    ) == (1000, 600, 20)
    assert first.cost_usd > 0 and [a.outcome for a in first.attempts] == ["ok"]
    assert line.total_cost_usd == pytest.approx(sum(st.cost_usd for st in line.steps))
    assert line.tokens.input == 2000
    assert line.outcome is not None and (
        line.outcome.success,
        line.outcome.score,
        line.outcome.label,
    ) == (True, 0.75, "refund")
    assert line.started_at <= line.steps[0].time <= line.ended_at


async def test_wrap_and_implicit_sessions_are_written_at_aclose_without_content_or_keys() -> None:
    sink = io.StringIO()
    r, _ = router(sink)

    async def call_llm(messages: Any, *, model: str) -> Any:
        return openai_response("ok", prompt_tokens=300, completion_tokens=7, cached_tokens=100)

    wrapped = r.wrap(call_llm)
    await wrapped(MESSAGES)
    await wrapped(
        [*MESSAGES, {"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]
    )
    assert sink.getvalue() == ""  # the implicit session is still open
    await r.aclose()
    text = sink.getvalue()
    (line,) = lines(text)
    assert isinstance(line, SessionLine)
    assert line.session_id.startswith("conv-") and not line.explicit
    assert line.end_reason == "router_closed" and len(line.steps) == 2
    assert line.steps[0].tokens is not None and line.steps[0].tokens.cached == 100
    assert CONTENT not in text and SECRET not in text and "sys" not in text.replace("session", "")
    assert not sink.closed  # a sink given is the caller's: flushed, never closed


async def test_concurrent_calls_on_one_session_each_get_their_step(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    r, _ = router(path)
    async with r, r.session(id="busy"), anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(r.complete, CONVERSATION)
    (line,) = lines(path.read_text())
    assert isinstance(line, SessionLine)
    assert sorted(st.step for st in line.steps) == list(range(1, 21))
    assert line.step_count == 20


async def test_implicit_sessions_are_written_when_evicted_or_expired(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    clock = FakeClock()
    provider = ScriptedProvider(default=text_result("ok"))
    data = config_dict(sessions={"max_implicit": 1, "idle_ttl_s": 60.0})
    async with Router(
        data, providers={"alpha": provider, "beta": provider}, routing_log=path, clock=clock
    ) as r:
        await r.complete([{"role": "user", "content": "first run"}])
        await r.complete([{"role": "user", "content": "second run"}])  # evicts the first
        clock.advance(120.0)
        await r.complete([{"role": "user", "content": "third run"}])  # the second expired
    found = lines(path.read_text())
    reasons = [(x.end_reason, len(x.steps)) for x in found if isinstance(x, SessionLine)]
    assert reasons == [("evicted", 1), ("expired", 1), ("router_closed", 1)]


async def test_the_config_names_the_log_and_a_bad_sink_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "from-config.jsonl"
    provider = ScriptedProvider(default=text_result("ok"))
    data = config_dict(telemetry={"routing_log": str(path)})
    async with Router(data, providers={"alpha": provider, "beta": provider}) as r, r.session():
        await r.complete(CONVERSATION)
    assert len(lines(path.read_text())) == 1
    with pytest.raises(ConfigurationError, match="routing_log"):
        Router(config_dict(), routing_log=42)  # type: ignore[arg-type]


async def test_a_session_without_steps_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    r, _ = router(path)
    async with r, r.session():
        pass
    assert not path.exists() or path.read_text() == ""


class FullDisk:
    def __init__(self) -> None:
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def unwritable(kind: str, tmp_path: Path) -> Any:
    if kind == "directory":
        return tmp_path
    if kind == "read-only file":
        path = tmp_path / "ro.jsonl"
        path.write_text("")
        path.chmod(stat.S_IRUSR)
        if os.access(path, os.W_OK):  # root ignores the mode bits: a file no one may write
            return Path("/proc/version")
        return path
    return FullDisk()


@pytest.mark.parametrize("kind", ["directory", "read-only file", "full disk"])
async def test_an_unwritable_log_is_a_warning_never_a_failed_call(
    kind: str, tmp_path: Path
) -> None:
    r, _ = router(unwritable(kind, tmp_path))
    with capture_logs() as events:
        async with r:
            async with r.session(id="s1"):
                result = await r.complete(CONVERSATION)
            assert result.text == "ok"
    errors = [e for e in events if e["event"] == "route.routing_log_error"]
    assert errors and errors[0]["log_level"] == "warning" and errors[0]["lost"] == 1
    assert str(tmp_path) not in json.dumps(errors)  # the path is not in the warning
    log = r._outcomes.log
    assert log is not None and (log.lost, log.written) == (1, 0)


async def test_a_full_queue_drops_and_counts_never_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing_log_module, "QUEUE_SIZE", 2)
    release = threading.Event()

    class SlowSink:
        def __init__(self) -> None:
            self.text: list[str] = []

        def write(self, text: str) -> None:
            release.wait(10)
            self.text.append(text)

    sink = SlowSink()
    r, _ = router(sink)
    with capture_logs() as events:
        for i in range(8):
            async with r.session(id=f"s{i}"):
                await r.complete(CONVERSATION)
        release.set()
        await r.aclose()
    log = r._outcomes.log
    assert log is not None
    assert log.lost >= 1 and log.written + log.lost == 8
    assert len("".join(sink.text).splitlines()) == log.written
    assert any(
        e["event"] == "route.routing_log_error" and e["error_type"] == "queue_full" for e in events
    )
