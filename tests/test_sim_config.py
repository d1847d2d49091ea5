"""The simulator's config, CLI, prefix cache rules and scenarios (no network but loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from agentroute.errors import ConfigurationError
from agentroute.sim.cache import Breakpoint, PrefixCache
from agentroute.sim.cli import sim
from agentroute.sim.config import ScriptedScenario, SimConfig, load_sim_config
from agentroute.sim.scenario import Move, reply
from agentroute.sim.wire_anthropic import to_chat_shape
from agentroute.testing import FakeClock

EXAMPLE = Path(__file__).parent.parent / "examples" / "sim.yaml"


def test_the_example_config_is_valid() -> None:
    config = load_sim_config(EXAMPLE)
    assert set(config.instances) == {"fastcloud", "claude", "echo"}
    fast = config.instances["fastcloud"]
    assert fast.window("big-model") == 128_000 and fast.window("other") == 32_000
    # a bare scheduled kind takes the instance's Retry-After
    assert fast.faults.schedule[3].retry_after_s == 2.0
    assert fast.faults.schedule[5].delay_s == 1.5


def test_validation_errors_name_each_field() -> None:
    bad: dict[str, Any] = {
        "host": "0.0.0.0",
        "instances": {
            "ok": {
                "kind": "openai",
                "latncy": {},
                "faults": {"rates": {"rate_limt": 0.1}, "schedule": {0: "drop", 2: "nope"}},
                "scenario": {"kind": "scripted", "steps": [{}]},
            }
        },
    }
    with pytest.raises(ConfigurationError) as info:
        SimConfig.from_mapping(bad)
    text = str(info.value)
    for line in (
        "host: must be a loopback address",
        "instances.ok.latncy: unknown field",
        "instances.ok.faults.rates.rate_limt: Input should be 'rate_limit'",
        "instances.ok.faults.schedule.0: Input should be greater than or equal to 1",
        "instances.ok.faults.schedule.2.kind: Input should be",
        "instances.ok.scenario.steps.0: a step needs a text, a tool, or both",
    ):
        assert line in text, line


@pytest.mark.parametrize(
    ("instances", "problem"),
    [
        ({"a b": {"kind": "openai"}}, "use letters, digits"),
        (
            {"x": {"kind": "openai", "faults": {"rates": {"drop": 0.7, "timeout": 0.5}}}},
            "add up to more than 1",
        ),
        ({}, "instances: Dictionary should have at least 1 item"),
    ],
)
def test_more_config_mistakes(instances: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        SimConfig.from_mapping({"instances": instances})


def test_duplicate_yaml_keys_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("instances:\n  a: {kind: openai}\n  a: {kind: anthropic}\n")
    with pytest.raises(ConfigurationError, match="duplicate name 'a'"):
        load_sim_config(path)


def test_cli_reports_config_problems_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("instances:\n  a: {kind: grpc}\n")
    result = CliRunner().invoke(sim, ["serve", "--config", str(path)])
    assert result.exit_code == 1
    assert "instances.a.kind: Input should be 'openai' or 'anthropic'" in result.output
    flags = CliRunner().invoke(sim, ["serve", "--instance", "oops"])
    assert flags.exit_code != 0 and "expected NAME=VALUE" in flags.output


def test_cli_serves_until_interrupted() -> None:
    code = "from agentroute.sim.cli import sim; sim()"
    args = ["serve", "--port", "0", "--instance", "fast=openai", "--scenario", "echo"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("agentroute sim: listening on http://127.0.0.1:")
            line = proc.stdout.readline().split()
            assert line[:2] == ["fast", "openai"] and line[2] == "base_url"
            r = httpx.post(
                line[3] + "/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.json()["choices"][0]["message"]["content"] == "You said: hi"
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopping" in out


# ---- the prefix cache's rules ------------------------------------------------------------


def test_marked_cache_ttl_refresh_and_expiry() -> None:
    clock = FakeClock()
    cache = PrefixCache(ttl_s=10, min_tokens=10, chars_per_token=1, clock=clock)
    prompt = "a" * 50 + "b" * 50
    marks = [Breakpoint(50)]
    first = cache.lookup_marked(prompt, marks)
    assert (first.read_tokens, first.written_tokens, first.uncached_tokens) == (0, 50, 50)
    clock.time = 9
    assert cache.lookup_marked(prompt, marks).read_tokens == 50  # refreshes the entry
    clock.time = 18
    assert cache.lookup_marked(prompt, marks).read_tokens == 50
    clock.time = 29
    expired = cache.lookup_marked(prompt, marks)
    assert (expired.read_tokens, expired.written_tokens) == (0, 50)


def test_marked_cache_one_hour_and_minimum() -> None:
    clock = FakeClock()
    cache = PrefixCache(ttl_s=10, min_tokens=40, chars_per_token=1, clock=clock)
    prompt = "x" * 100
    hour = Breakpoint(30, ttl_s=3600, one_hour=True)
    five = Breakpoint(80)
    out = cache.lookup_marked(prompt, [hour, five])
    assert (out.written_tokens, out.written_1h_tokens) == (80, 30)
    clock.time = 100  # the 5-minute-class entry is gone; the 1h one is too short to be stored
    again = cache.lookup_marked(prompt, [hour, five])
    assert again.read_tokens == 0
    small = PrefixCache(min_tokens=1000, chars_per_token=1)
    assert small.lookup_marked(prompt, [five]).written_tokens == 0


def test_marked_cache_lookback_finds_an_earlier_boundary() -> None:
    grown = "p" * 40 + "q" * 30
    with_lookback, without = (PrefixCache(min_tokens=10, chars_per_token=1) for _ in range(2))
    for cache in (with_lookback, without):
        cache.lookup_marked("p" * 40, [Breakpoint(40)])
    assert without.lookup_marked(grown, [Breakpoint(70)]).read_tokens == 0
    out = with_lookback.lookup_marked(grown, [Breakpoint(70, lookback=(20, 40))])
    assert (out.read_tokens, out.written_tokens) == (40, 30)


# ---- scenarios and message shapes --------------------------------------------------------


def test_scripted_and_echo_replies() -> None:
    script = ScriptedScenario.model_validate(
        {"kind": "scripted", "steps": [{"tool": "t", "arguments": {"a": 1}}, {"text": "bye"}]}
    )
    assert reply(script, [{"role": "user", "content": "x"}], "m") == Move(
        tool="t", arguments={"a": 1}
    )
    two_turns = [{"role": "assistant", "content": "1"}, {"role": "assistant", "content": "2"}]
    assert reply(script, two_turns, "m") == Move(text="Done.")
    echo = SimConfig.from_mapping({"instances": {"e": {"kind": "openai"}}}).instances["e"].scenario
    parts = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}],
        }
    ]
    assert reply(echo, parts, "m") == Move(text="You said: hi there")
    assert reply(echo, [], "m").text == "You said: (nothing)"


def test_anthropic_messages_in_the_scenario_shape() -> None:
    messages = [
        {"role": "user", "content": "book it"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {"id": 7}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "no such id",
                    "is_error": True,
                },
                {"type": "text", "text": "hurry"},
            ],
        },
    ]
    assert to_chat_shape(messages) == [
        {"role": "user", "content": "book it"},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get", "arguments": '{"id": 7}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: no such id"},
        {"role": "user", "content": "hurry"},
    ]


def test_an_instance_named_like_a_scenario_kind_keeps_its_name_in_errors() -> None:
    from agentroute.errors import ConfigurationError
    from agentroute.sim.config import SimConfig

    with pytest.raises(ConfigurationError) as info:
        SimConfig.from_mapping(
            {"instances": {"echo": {"kind": "openai", "scenario": {"kind": "echo", "bad": 1}}}}
        )
    assert "instances.echo.scenario.bad: unknown field" in str(info.value)
