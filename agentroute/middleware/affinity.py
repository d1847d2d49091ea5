"""AffinityMiddleware: keep a session on the deployment whose prompt cache is warm.

Runs just before the fallback step, so it sees the decision's candidate deployments and the
outcome of every attempt. For each candidate model it looks up the session's pin
(:class:`~agentroute.state.StateStore`, shared by every router on the store; a store across a
network reads the pins and the candidates' cooldowns in one round trip,
:mod:`agentroute.state.reads`) and puts the pinned deployment first; the others are ordered
by ``affinity.strategy``. After the call:

* the deployment that served becomes (or stays) the model's pin, its idle TTL refreshed to
  the provider's ``cache_ttl_s`` (a pin lives as long as the prompt cache it protects);
* a pin whose deployment failed in this call, or was skipped because it is cooling down, is
  **broken**: dropped (or moved to the deployment that served), with the reason recorded on
  the call's own progress record (``call.progress.pin``, which the route span reads; also
  ``AllAttemptsFailed.pin`` when every attempt failed) and logged as ``route.affinity_break``
  (a new or kept pin as ``route.affinity``).

Pins apply only to models whose ``cache_read`` price is below their ``input`` price: where a
cache read costs what fresh input costs, staying put saves nothing and only narrows the
choice. A provider with ``cache_ttl_s: 0`` gets no pins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from agentroute._catalog import Catalog
from agentroute._pin_event import PinEvent
from agentroute._types import Attempt, CallNext, ModelCall, ModelResult, Target
from agentroute.clock import Clock, SystemClock
from agentroute.config import AffinityConfig
from agentroute.errors import AllAttemptsFailed
from agentroute.session import SessionState
from agentroute.state import StateStore
from agentroute.state.reads import CallReads, CallSnapshot, prefetched
from agentroute.telemetry.logs import RouteEvents

__all__ = ["AffinityMiddleware", "PinEvent"]

_EWMA = 0.2
"""Weight of the newest latency sample in a deployment's running mean."""
_FAILURE_PENALTY_S = 5.0
"""Seconds a failed attempt adds to its deployment's latency sample."""


class AffinityMiddleware:
    """Pinned deployment first, then the configured strategy; pins kept fresh or broken."""

    def __init__(
        self,
        catalog: Catalog,
        config: AffinityConfig,
        store: StateStore,
        *,
        clock: Clock | None = None,
        events: RouteEvents | None = None,
    ) -> None:
        cfg = catalog.config
        self._prices = catalog.prices
        self._strategy = config.strategy
        self._draws = config.strategy == "weighted"
        self._store = store
        self._reads: CallReads | None = store if isinstance(store, CallReads) else None
        self._clock: Clock = clock or SystemClock()
        self._events = events or RouteEvents()
        self._sticky = (
            frozenset(
                name
                for name, price in catalog.prices.items()
                if price.cache_read is not None and price.cache_read < price.input
            )
            if config.sticky
            else frozenset()
        )
        self._ttl = {name: p.cache_ttl_s for name, p in cfg.providers.items()}
        self._weights = {
            (dep.provider, dep.name): dep.weight
            for model in cfg.models.values()
            for dep in model.deployments
        }
        self._latency: dict[str, float] = {}
        self._keys = {
            name: frozenset(f"{dep.provider}/{dep.name}" for dep in model.deployments)
            for name, model in cfg.models.items()
        }
        self._hits: dict[tuple[str, str], PinEvent] = {}

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        state = call.session
        targets = call.targets
        pins: dict[str, str] = {}
        ahead: CallSnapshot | None = None
        keys: list[str] = []
        if state is not None and self._sticky:
            decision = call.decision
            models = decision.candidates if decision is not None else _models(targets)
            if self._reads is None:  # the in-memory store: no round trips to save
                for model in models:
                    if model in self._sticky:
                        pin = await self._store.get_pin(state.key, model)
                        if pin is not None and pin in self._keys.get(model, ()):
                            pins[model] = pin  # (a pin to a deployment no longer listed: stale)
            else:
                sticky = [model for model in models if model in self._sticky]
                found: Mapping[str, str | None] = {}
                if sticky:  # pins and cooldowns in one round trip
                    keys = [t.key for t in targets]
                    ahead = await self._reads.read_call(keys, state.key, sticky)
                    found = ahead.pins
                for model, pin in found.items():
                    if pin is not None and pin in self._keys.get(model, ()):
                        pins[model] = pin
        # one target: no strategy or pin can reorder it (the weighted strategy still draws,
        # so the random sequence, and every later draw, stays as it was)
        ordered = targets if len(targets) < 2 and not self._draws else self._order(targets, pins)
        routed = call if ordered is targets else call.with_route(call.decision, ordered)
        try:
            if ahead is None:
                result = await call_next(routed)
            else:  # the fallback step's first cooldown read is answered from ``ahead``
                with prefetched(keys, ahead.cooling):
                    result = await call_next(routed)
        except AllAttemptsFailed as group:
            if self._strategy == "latency":
                self._observe(group.attempts)
            if state is not None and pins:
                group.pin = event = await self._settle(state, call.step, pins, group.attempts, None)
                if call.progress is not None:
                    call.progress.pin = event
            raise
        if self._strategy == "latency":
            self._observe(result.attempts)
        if state is not None:
            event = await self._settle(state, call.step, pins, result.attempts, result.target)
            if call.progress is not None:
                call.progress.pin = event  # (a re-run of the call replaces it: the last wins)
        return result

    # Order ---------------------------------------------------------------------------------

    def _order(self, targets: tuple[Target, ...], pins: dict[str, str]) -> tuple[Target, ...]:
        strategy = self._strategy
        if strategy == "order":
            ordered = targets
        elif strategy == "price":
            prices = self._prices
            ordered = tuple(
                sorted(targets, key=lambda t: (prices[t.model].input, prices[t.model].output))
            )
        elif strategy == "latency":
            latency = self._latency
            ordered = tuple(sorted(targets, key=lambda t: latency.get(t.key, -1.0)))
        else:
            ordered = self._weighted(targets)
        if not pins:
            return ordered
        # A pin moves its deployment ahead of the other deployments of its model, into the
        # place the strategy gave that model: it never reorders models (the strategy's call).
        pinned = {t for t in ordered if pins.get(t.model) == t.key}
        if not pinned:
            return ordered
        out: list[Target] = []
        placed: set[str] = set()
        for t in ordered:
            if t in pinned:
                continue
            model = t.model
            if model in pins and model not in placed:
                placed.add(model)
                out.extend(p for p in pinned if p.model == model)
            out.append(t)
        out.extend(p for p in pinned if p.model not in placed)  # a model with one deployment
        result = tuple(out)
        return ordered if result == ordered else result

    def _weighted(self, targets: tuple[Target, ...]) -> tuple[Target, ...]:
        """Each model's deployments in a random order drawn by weight (models keep theirs):
        sorting by ``-log(u)/w`` draws a weighted permutation (Efraimidis–Spirakis)."""
        weights = self._weights
        draw = self._clock.random
        models: dict[str, list[tuple[float, Target]]] = {}
        for t in targets:
            key = -math.log(1.0 - draw()) / weights.get((t.provider, t.deployment), 1.0)
            models.setdefault(t.model, []).append((key, t))
        return tuple(t for group in models.values() for _, t in sorted(group, key=_first))

    def _observe(self, attempts: Sequence[Attempt]) -> None:
        """Fold each attempt's duration into its deployment's running mean; a failed attempt
        counts ``_FAILURE_PENALTY_S`` more (it costs the caller another attempt elsewhere), so
        a deployment that keeps failing fast does not stay first."""
        latency = self._latency
        for a in attempts:
            seconds = a.duration_s + (0.0 if a.outcome == "ok" else _FAILURE_PENALTY_S)
            key = a.target.key
            old = latency.get(key)
            latency[key] = seconds if old is None else old + _EWMA * (seconds - old)

    # After the call ------------------------------------------------------------------------

    async def _settle(
        self,
        state: SessionState,
        step: int,
        pins: dict[str, str],
        attempts: Sequence[Attempt],
        served: Target | None,
    ) -> PinEvent | None:
        """Keep, move, or break pins after the call numbered ``step`` (see the module
        docstring); what was done."""
        if served is not None and len(attempts) == 1 and len(pins) <= 1:
            key = served.key
            if pins.get(served.model) == key:  # the usual case: the pin served at once
                await self._store.set_pin(state.key, served.model, key, self._ttl[served.provider])
                hit = self._hits.get((served.model, key))
                if hit is None:
                    hit = self._hits[(served.model, key)] = PinEvent("hit", served.model, key, key)
                self._events.pin(state, step, "hit", served.model, key, key, "")
                return hit
        failed = {a.target.key: a.error_type for a in attempts if a.outcome != "ok"}
        tried = {a.target.key for a in attempts}
        event: PinEvent | None = None
        reached = {a.target.model for a in attempts}
        for model, pinned in pins.items():
            if served is not None and served.model == model:
                continue  # settled below
            # broken: the pinned deployment failed, or its model was reached without it (it
            # was skipped: cooling down); a model the call never reached keeps its pin
            if pinned in failed or (model in reached and pinned not in tried):
                await self._store.drop_pin(state.key, model)
                event = PinEvent("break", model, "", pinned, _why(pinned, failed))
        if served is not None and served.model in self._sticky:
            ttl = self._ttl.get(served.provider, 0.0)
            previous = pins.get(served.model)
            if ttl > 0:
                await self._store.set_pin(state.key, served.model, served.key, ttl)
            if previous is None:
                event = PinEvent("new", served.model, served.key) if ttl > 0 else event
            elif previous == served.key:
                event = PinEvent("hit", served.model, served.key, previous)
            else:
                event = PinEvent(
                    "break", served.model, served.key, previous, _why(previous, failed)
                )
        if event is not None:
            self._events.pin(
                state, step, event.kind, event.model, event.deployment, event.previous, event.reason
            )
        return event


def _why(pinned: str, failed: dict[str, str | None]) -> str:
    if pinned in failed:
        return f"{failed[pinned]} on {pinned}"
    return f"{pinned} is cooling down"


def _models(targets: Sequence[Target]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.model for t in targets))


def _first(pair: tuple[float, Target]) -> float:
    return pair[0]
