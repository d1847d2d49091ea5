"""End to end: the demo's spans in a real OpenTelemetry backend (Arize Phoenix).

``.ci/run`` installs Phoenix in a virtualenv of its own (it is heavy, and importing it here
would slow every test), starts it on 127.0.0.1 with its telemetry off and its working
directory under a temp dir, and runs ``pytest -m phoenix`` with ``AGENTROUTE_PHOENIX_URL`` set
to its base URL. This test then runs ``agentroute demo --otlp`` in a subprocess, exactly as a
user would, reads the spans back through Phoenix's REST API (``GET
/v1/projects/{project}/spans``) and checks the tree and the key attributes that arrived.

Without ``AGENTROUTE_PHOENIX_URL`` the test is skipped, unless ``AGENTROUTE_REQUIRE_PHOENIX=1``
(as in CI), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from agentroute.sim.scenario import SYSTEM_PROMPT, USER_REQUEST
from agentroute.telemetry import attributes as A

pytestmark = pytest.mark.phoenix

Span = dict[str, Any]


@pytest.fixture(scope="module")
def phoenix_url() -> str:
    url = os.environ.get("AGENTROUTE_PHOENIX_URL", "").rstrip("/")
    if not url:
        reason = "AGENTROUTE_PHOENIX_URL is not set (.ci/run starts Phoenix and sets it)"
        if os.environ.get("AGENTROUTE_REQUIRE_PHOENIX") == "1":
            pytest.fail(f"{reason}; AGENTROUTE_REQUIRE_PHOENIX=1: this test must run")
        pytest.skip(reason)
    return url


def _run_demo(url: str, project: str) -> int:
    """Run the demo exporting to ``url`` under Phoenix project ``project``; the number of
    spans it says it exported."""
    env = {
        **os.environ,
        "OTEL_RESOURCE_ATTRIBUTES": f"{A.OPENINFERENCE_PROJECT_NAME}={project}",
        "COLUMNS": "200",
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    done = subprocess.run(
        [sys.executable, "-m", "agentroute", "demo", "--otlp", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sent = re.search(r"spans: (\d+) exported over OTLP/HTTP to (\S+)", done.stdout)
    assert sent is not None, done.stdout
    assert sent[2] == f"{url}/v1/traces"
    return int(sent[1])


def _read_spans(url: str, project: str, expected: int) -> list[Span]:
    """Every span of ``project``, polled until ``expected`` have been ingested (Phoenix writes
    them to its database in the background) or a minute has passed."""
    deadline = time.monotonic() + 60
    spans: list[Span] = []
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            answer = client.get(f"/v1/projects/{project}/spans", params={"limit": 1000})
            if answer.status_code == 200:
                spans = answer.json()["data"]
                if len(spans) >= expected:
                    return spans
            elif answer.status_code != 404:  # 404: the project is not created yet
                answer.raise_for_status()
            if time.monotonic() > deadline:
                pytest.fail(f"Phoenix holds {len(spans)} of the {expected} spans after 60 s")
            time.sleep(0.25)


@pytest.fixture(scope="module")
def phoenix_spans(phoenix_url: str) -> list[Span]:
    project = f"agentroute-e2e-{uuid.uuid4().hex[:12]}"
    sent = _run_demo(phoenix_url, project)
    spans = _read_spans(phoenix_url, project, sent)
    assert len(spans) == sent
    return spans


def _children(spans: list[Span], parent: Span) -> list[Span]:
    kids = [s for s in spans if s["parent_id"] == parent["context"]["span_id"]]
    return sorted(kids, key=lambda s: s["start_time"])


def test_the_tree_arrived_agent_then_a_route_span_per_step_then_a_chat_span_per_attempt(
    phoenix_spans: list[Span],
) -> None:
    spans = phoenix_spans
    assert len({s["context"]["trace_id"] for s in spans}) == 1  # one session, one trace
    roots = [s for s in spans if s["parent_id"] is None]
    assert [r["name"] for r in roots] == ["invoke_agent support"]
    root = roots[0]
    assert root["span_kind"] == "AGENT"
    assert root["attributes"][A.GEN_AI_OPERATION_NAME] == A.AGENT_OPERATION
    assert root["attributes"][A.GEN_AI_AGENT_NAME] == "support"
    assert root["attributes"][A.GEN_AI_CONVERSATION_ID] == "demo-ticket-42"
    assert root["attributes"][A.COST_USD] > 0

    children = _children(spans, root)
    # the demo records its session's outcome: one outcome span, beside the route spans
    (outcome,) = [s for s in children if s["name"] == A.OUTCOME_SPAN]
    assert outcome["attributes"][A.OUTCOME_SUCCESS] is True
    routes = [s for s in children if s["name"] != A.OUTCOME_SPAN]
    assert {r["name"] for r in routes} == {A.ROUTE_SPAN}
    assert {r["span_kind"] for r in routes} == {"CHAIN"}
    steps = [r["attributes"][A.SESSION_STEP] for r in routes]
    assert steps == list(range(1, len(routes) + 1))
    assert steps[-1] == root["attributes"][A.SESSION_STEP]

    route_ids = {r["context"]["span_id"] for r in routes}
    chats = [s for s in spans if s["parent_id"] in route_ids]
    assert len(spans) == 2 + len(routes) + len(chats)  # nothing else, nothing orphaned
    for route in routes:
        attrs = route["attributes"]
        assert attrs[A.DECISION_TIER] in {"simple", "medium", "complex", "reasoning"}
        assert attrs[A.DECISION_CAUSE]
        assert A.GEN_AI_OPERATION_NAME not in attrs  # a route span is not a model call
        attempts = _children(spans, route)
        assert len(attempts) == attrs[A.ATTEMPT_COUNT]
        final = attempts[-1]
        assert final["status_code"] != "ERROR"
        assert final["attributes"][A.GEN_AI_USAGE_INPUT_TOKENS] > 0
        assert final["attributes"][A.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    for chat in chats:
        attrs = chat["attributes"]
        assert chat["span_kind"] == "LLM"
        assert attrs[A.GEN_AI_OPERATION_NAME] == A.CHAT_OPERATION
        assert chat["name"] == f"chat {attrs[A.GEN_AI_REQUEST_MODEL]}"
        assert attrs[A.GEN_AI_PROVIDER_NAME] in {"openai", "anthropic"}
        assert attrs[A.SERVER_ADDRESS] == "127.0.0.1"


def test_the_escalation_the_fallback_and_the_affinity_break_are_visible(
    phoenix_spans: list[Span],
) -> None:
    spans = phoenix_spans
    routes = [s for s in spans if s["name"] == A.ROUTE_SPAN]

    causes = Counter(r["attributes"][A.DECISION_CAUSE] for r in routes)
    assert causes["escalation_request"] == 1, causes
    escalation = next(
        r for r in routes if r["attributes"][A.DECISION_CAUSE] == "escalation_request"
    )
    assert escalation["attributes"][A.DECISION_PREVIOUS_TIER] == "medium"
    assert escalation["attributes"][A.DECISION_TIER] == "complex"
    assert A.SWITCH_EXPECTED_SAVING in escalation["attributes"]

    broken = [r for r in routes if r["attributes"].get(A.AFFINITY_KIND) == "break"]
    assert len(broken) == 1
    attempts = _children(spans, broken[0])
    *failed, served = attempts
    assert failed, "the pin broke without a failed attempt"
    for attempt in failed:
        assert attempt["status_code"] == "ERROR"
        assert attempt["attributes"][A.ERROR_TYPE] == "ProviderUnavailable"
        events = [e for e in attempt["events"] if e["name"] == "exception"]
        assert len(events) == 1
        assert events[0]["attributes"]["exception.type"] == "ProviderUnavailable"
    # the fallback: the same model served by another deployment, where the new pin points
    assert {a["attributes"][A.DEPLOYMENT] for a in failed} == {"bigcloud/large-v1"}
    assert served["attributes"][A.DEPLOYMENT] == "backup/large-v1"
    assert served["attributes"][A.GEN_AI_REQUEST_MODEL] == "large-v1"
    assert broken[0]["attributes"][A.AFFINITY_PREVIOUS] == "bigcloud/large-v1"
    assert broken[0]["attributes"][A.AFFINITY_DEPLOYMENT] == "backup/large-v1"


def test_no_message_content_arrived(phoenix_spans: list[Span]) -> None:
    dump = json.dumps(phoenix_spans)
    for key in (A.GEN_AI_INPUT_MESSAGES, A.GEN_AI_OUTPUT_MESSAGES):
        assert key not in dump
    for text in (SYSTEM_PROMPT, USER_REQUEST):
        assert json.dumps(text[:40])[1:-1] not in dump
