"""The ``--log FILE…`` and ``--skip-bad`` options, shared by the commands that read routing logs
as their input (``agentroute calibrate``, ``agentroute bench cascade``): one wording, and one
way of writing them back into the command line a result records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import click

__all__ = ["log_args", "log_options"]

F = TypeVar("F", bound=Callable[..., object])


def log_options(command: F) -> F:
    """Add ``--log`` (repeatable: a file, a glob or a ``.gz`` file; passed as ``logs``) and
    ``--skip-bad`` (``skip_bad``) to a click command."""
    command = click.option(
        "--skip-bad",
        is_flag=True,
        help="With --log: count invalid lines and go on (default: stop).",
    )(command)
    return click.option(
        "--log",
        "logs",
        multiple=True,
        metavar="FILE",
        help="Routing log with outcomes instead of a table: a file, a glob or a .gz file "
        "(repeatable).",
    )(command)


def log_args(logs: Sequence[str], skip_bad: bool) -> list[str]:
    """``--log`` for each log given (as given: a glob stays a glob), then ``--skip-bad``."""
    args: list[str] = []
    for log in logs:
        args += ["--log", log]
    return args + (["--skip-bad"] if skip_bad else [])
