"""``agentroute sim serve``: run the wire-level simulator from a YAML file or flags.

The command prints the bound URL and each instance's SDK ``base_url`` (one line each, flushed, so
a parent process can read them), then serves until interrupted (Ctrl-C or SIGTERM stop it
gracefully). Without ``--config`` and ``--instance`` it serves two instances named ``openai`` and
``anthropic``. Flags override the file: ``--host``/``--port`` the listening address,
``--instance NAME=KIND`` adds (or replaces) an instance, and ``--scenario``, ``--latency-ms``,
``--fault-rate KIND=P`` and ``--seed`` configure the instances added by flags.

The lead registers the group in :mod:`agentroute.cli` with ``main.add_command(sim)``.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import click

from agentroute.errors import ConfigurationError
from agentroute.sim.config import SimConfig, read_sim_file
from agentroute.sim.server import Simulator

__all__ = ["sim"]


@click.group()
def sim() -> None:
    """A local simulator of OpenAI- and Anthropic-compatible providers."""


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    out = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint=option)
        out.append((name, rest))
    return out


@sim.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML file (see examples/sim.yaml).",
)
@click.option("--host", default=None, help="Loopback address to bind [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port; 0 picks a free one [default: 0].")
@click.option(
    "--instance", "instances", multiple=True, metavar="NAME=KIND", help="Add an instance."
)
@click.option(
    "--scenario",
    type=click.Choice(["echo", "airline"]),
    default="echo",
    show_default=True,
    help="Scenario of the instances added by flags.",
)
@click.option("--latency-ms", type=float, default=0.0, help="Base latency of flag instances.")
@click.option("--fault-rate", "rates", multiple=True, metavar="KIND=P", help="Fault probability.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of flag instances.")
@click.option("--backend", type=click.Choice(["asyncio", "trio"]), default="asyncio", hidden=True)
def serve(
    config_file: Path | None,
    host: str | None,
    port: int | None,
    instances: tuple[str, ...],
    scenario: str,
    latency_ms: float,
    rates: tuple[str, ...],
    seed: int,
    backend: str,
) -> None:
    """Serve simulated providers on 127.0.0.1 until interrupted."""
    try:
        data: dict[str, Any] = read_sim_file(config_file) if config_file else {}
        added = _pairs(instances, "--instance")
        fault_rates = {kind: float(p) for kind, p in _pairs(rates, "--fault-rate")}
        if not added and not data.get("instances"):
            added = [("openai", "openai"), ("anthropic", "anthropic")]
        merged = dict(data.get("instances") or {})
        for name, kind in added:
            merged[name] = {
                "kind": kind,
                "scenario": {"kind": scenario},
                "latency": {"base_ms": latency_ms},
                "faults": {"seed": seed, "rates": fault_rates},
            }
        data["instances"] = merged
        if host is not None:
            data["host"] = host
        if port is not None:
            data["port"] = port
        config = SimConfig.from_mapping(data, source=str(config_file or "sim flags"))
    except (ConfigurationError, ValueError) as exc:
        click.echo(f"✗ {exc}", err=True)
        raise SystemExit(1) from None
    try:
        anyio.run(_serve, config, backend=backend)
    except OSError as exc:
        click.echo(f"✗ cannot listen on {config.host}:{config.port}: {exc.strerror}", err=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C during shutdown
        pass


async def _serve(config: SimConfig) -> None:
    simulator = Simulator(config)
    async with anyio.create_task_group() as tg:
        await tg.start(simulator.serve)
        click.echo(f"agentroute sim: listening on {simulator.url}")
        width = max(len(n) for n in simulator.instances)
        for name, instance in simulator.instances.items():
            click.echo(
                f"  {name:<{width}}  {instance.config.kind:<9}  base_url {simulator.base_url(name)}"
            )
        sys.stdout.flush()
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                click.echo("agentroute sim: stopping")
                tg.cancel_scope.cancel()
                break
