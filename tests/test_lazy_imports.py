"""What ``import agentroute`` and ``Router(config)`` leave unloaded, and that the deferred
imports still happen when they are needed.

PyYAML and tomllib load only when a config file is read; structlog only when an event is
emitted (with ``log_events: null``, not before the application has imported and configured it).
Each check runs in a fresh interpreter: this test process has imported all of them already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import agentroute

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {
    "providers": {"p": {"kind": "openai"}},
    "models": {
        "small": {
            "context_window": 128_000,
            "price": {"input": 0.15, "output": 0.6},
            "deployments": [{"provider": "p", "name": "small-1"}],
        }
    },
    "tiers": {"simple": ["small"]},
}
DEFERRED = ("yaml", "tomllib", "structlog")


def _run(code: str) -> object:
    """The JSON ``code`` prints, run in a fresh interpreter with this checkout first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_import_and_router_load_none_of_the_deferred_packages() -> None:
    loaded = _run(
        "import json, sys, agentroute\n"
        f"agentroute.Router({CONFIG!r})\n"
        f"print(json.dumps([m for m in {DEFERRED!r} if m in sys.modules]))"
    )
    assert loaded == []


def test_every_public_name_still_imports_from_the_package() -> None:
    missing = _run(
        "import json, agentroute\n"
        "print(json.dumps([n for n in agentroute.__all__ if not hasattr(agentroute, n)]))"
    )
    assert missing == []
    assert callable(agentroute.load_config)


def test_reading_a_config_file_loads_its_parser(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(json.dumps(CONFIG), encoding="utf-8")
    (tmp_path / "c.toml").write_text(
        '[providers.p]\nkind = "openai"\n[models.small]\ncontext_window = 128000\n'
        "[models.small.price]\ninput = 0.15\noutput = 0.6\n[[models.small.deployments]]\n"
        'provider = "p"\nname = "small-1"\n[tiers]\nsimple = ["small"]\n',
        encoding="utf-8",
    )
    loaded = _run(
        "import json, sys, agentroute\n"
        "seen = []\n"
        f"for name in ('c.yaml', 'c.toml'):\n"
        f"    agentroute.load_config({str(tmp_path)!r} + '/' + name)\n"
        "    seen.append([m for m in ('yaml', 'tomllib') if m in sys.modules])\n"
        "print(json.dumps(seen))"
    )
    assert loaded == [["yaml"], ["yaml", "tomllib"]]


def test_events_follow_structlog_imported_and_configured_after_the_sink() -> None:
    result = _run(
        "import json, logging, sys\n"
        "from agentroute.telemetry.logs import RouteEvents\n"
        "events = RouteEvents()\n"
        "before = events.logger_for(logging.WARNING)\n"
        "untouched = 'structlog' not in sys.modules\n"
        "import structlog.testing\n"
        "with structlog.testing.capture_logs() as captured:\n"
        "    events.outcome_unknown_session('s1')\n"
        "events.outcome_unknown_session('s2')\n"  # no longer configured: nothing
        "print(json.dumps([before is None, untouched, [e['session_id'] for e in captured]]))"
    )
    assert result == [True, True, ["s1"]]


def test_the_lazy_logger_names_resolve() -> None:
    from agentroute.telemetry import logs

    assert logs.logger is logs.__dict__["logger"]
    assert logs._STRUCTLOG_CONFIG is not None
    result = _run(
        "import json\n"
        "from agentroute.telemetry import logs\n"
        "try:\n"
        "    logs.no_such_name\n"
        "except AttributeError as exc:\n"
        "    print(json.dumps(str(exc)))"
    )
    assert result == "module 'agentroute.telemetry.logs' has no attribute 'no_such_name'"
