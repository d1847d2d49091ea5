"""The shadow runner: sampled steps sent to the reference tier in the background, compared with
the served answer, and recorded (docs/architecture.md, "Shadow routing").

**Never on the user's path.** :meth:`ShadowRunner.submit` is synchronous and only counts and
queues: the shadow call runs in a task group the runner owns, hosted by one background task of
the running event loop (asyncio: a task; trio: a system task), started with the first sample of
that loop. A router used from several loops in turn (a sync framework calling ``asyncio.run``
per call) gets a host per loop; a loop that ends cancels its host's shadow calls. The host's
context is empty: a shadow call sees no session, span or context variable of the call it
shadows.

**Bounded.** At most ``shadow.max_concurrency`` shadow calls are in flight; a sample beyond them
is dropped (``dropped_concurrency``), never queued. A per-UTC-day ledger holds each call's
expected cost (the served call's usage at the reference model's price) while it runs and its
real cost after; a sample that would take the day past ``shadow.budget_usd_per_day`` is dropped
(``dropped_budget``). Each shadow call is bounded by ``shadow.timeout_s``, the judge by
``shadow.judge_timeout_s``. :meth:`ShadowRunner.aclose` (``Router.aclose()``) cancels what is in
flight and waits until the host has ended; :meth:`ShadowRunner.drain` waits for it to finish.

**Nothing disturbed.** The shadow call goes straight to the terminal (the providers of
``complete()``, or the wrapped function of ``wrap()``), to the reference tier's deployments in
the config's order, the next one tried only when one fails: no affinity step (no pin is read,
made or broken), no fallback step (no retry, failure or cooldown recorded), a fresh
``CallProgress``, and a shallow copy of the message list taken when the step was sampled (an
agent loop appends the answer and its tool results to its list as soon as the call returns;
messages are not copied deeper: one edited in place afterwards is seen as edited). Its cost
goes to this runner's ledger, never to the session's cost or budget. A shadow call's failure
(an error, a timeout, an answer that cannot be read, a judge that fails) is recorded as such;
nothing of it reaches the user's call.

**Compared.** The default comparator (:mod:`agentroute.shadow.compare`) gives an agreement in
[0, 1] with a reason; ``Router(shadow_judge=...)``, an ``async (served, shadow, call) -> float``,
replaces its score (the reason keeps the comparator's; a judge that raises, times out or returns
anything but a number in [0, 1] falls back to the comparator, and the reason says so). A call
the judge itself routes through the router is not shadowed.

**Recorded.** Per finished sample: an ``agentroute.shadow`` span (a root span linked to the
step's route span, current while the shadow call runs so a provider's spans nest under it),
``agentroute.shadow.agreement`` / ``.samples`` / ``.cost`` metrics, a ``route.shadow`` event, and
the routing log's ``shadow`` record of the step. Dropped samples are counted in the metric,
the event and :meth:`ShadowRunner.stats`.
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import hashlib
from collections.abc import Awaitable, Callable, MutableSequence
from contextlib import nullcontext
from typing import Any, TypeAlias

import anyio
from opentelemetry import trace

from agentroute._catalog import Catalog
from agentroute._error_translation import error_text
from agentroute._types import CallNext, CallProgress, ModelCall, ModelResult, Target
from agentroute.config import RouterConfig, ShadowConfig
from agentroute.pricing import cost_usd
from agentroute.shadow._host import Host
from agentroute.shadow.answer import answer_of
from agentroute.shadow.compare import Agreement, compare
from agentroute.shadow.ledger import ShadowLedger, ShadowStats, TierAgreement
from agentroute.telemetry.routing_log import RoutingLog
from agentroute.telemetry.routing_log_schema import clip_reason
from agentroute.telemetry.shadow import ShadowSample, record_shadow, start_shadow_span
from agentroute.telemetry.spans import Telemetry

__all__ = ["ShadowJudge", "ShadowRunner", "ShadowStats", "TierAgreement", "in_shadow"]

ShadowJudge: TypeAlias = Callable[[ModelResult, ModelResult, ModelCall], Awaitable[float]]
"""``Router(shadow_judge=...)``: ``async (served, shadow, call) -> agreement in [0, 1]``."""

_IN_SHADOW: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "agentroute_in_shadow", default=False
)


def in_shadow() -> bool:
    """Whether the running code is a shadow call or its judge (whose own routed calls are
    not shadowed)."""
    return _IN_SHADOW.get()


class _Job:
    """One sample on its way: the served call and answer, where to send the shadow call."""

    __slots__ = ("call", "cause", "ended", "expected", "link", "send", "served", "tier")

    def __init__(
        self,
        call: ModelCall,
        served: ModelResult,
        send: CallNext,
        tier: str,
        cause: str,
        expected: float,
        link: Any,
    ) -> None:
        self.call = call
        self.served = served
        self.send = send
        self.tier = tier
        self.cause = cause
        self.expected = expected
        self.link = link
        self.ended = False
        """Settled in the ledger (finished, or written off with its loop)."""

    def sample(self, reference_tier: str, result: str, **fields: Any) -> ShadowSample:
        target = self.call.target
        return ShadowSample(
            session=self.call.session,
            step=self.call.step,
            served_tier=self.tier,
            served_model=target.model if target is not None else None,
            served_cost_usd=self.served.cost_usd,
            cause=self.cause,
            reference_tier=reference_tier,
            result=result,
            **fields,
        )


class ShadowRunner:
    """Samples, runs, compares and records shadow calls for one router (module docstring).

    Args:
        config: the router's config (its ``shadow`` section set).
        catalog: the router's catalog (the reference tier's targets, prices).
        telemetry: the router's telemetry (tracer, metrics, events).
        log: the router's routing log, if any.
        judge: ``Router(shadow_judge=...)``.
    """

    def __init__(
        self,
        config: RouterConfig,
        catalog: Catalog,
        telemetry: Telemetry,
        log: RoutingLog | None = None,
        judge: ShadowJudge | None = None,
    ) -> None:
        shadow = config.shadow
        assert shadow is not None
        self.settings: ShadowConfig = shadow
        self._tiers = frozenset(config.shadowed_tiers)
        self._reference = catalog.targets(shadow.tier)
        self._expected_price = catalog.prices[self._reference[0].model]
        self._t = telemetry
        self._log = log
        self._judge = judge
        self._by_session = shadow.unit == "session"
        self._ledger = ShadowLedger(shadow.budget_usd_per_day)
        self._host: Host[_Job] | None = None
        self._closed = False

    def samples(self) -> bool:
        """Whether any call can be sampled (a positive ``sample`` and a tier to sample)."""
        return self.settings.sample > 0 and bool(self._tiers)

    # On the user's path (synchronous, no I/O) ---------------------------------------------

    def wanted(self, call: ModelCall, served: ModelResult) -> bool:
        """Whether the answered ``call`` is a sample: a call (not streamed, nor a wrapped
        function's stream) served by a sampled tier, outside a shadow call, whose session
        (and step) hash under ``sample``."""
        target = call.target
        if (
            target is None
            or target.tier not in self._tiers
            or call.mode == "stream"
            or served.stream_end is not None
            or served.stream is not None
            or _IN_SHADOW.get()
        ):
            return False
        state = call.session
        key = state.key if state is not None else ""
        salt = key if self._by_session else f"{key}\x1f{call.step}"
        return _fraction(salt) < self.settings.sample

    def submit(self, call: ModelCall, served: ModelResult, send: CallNext) -> None:
        """Start the shadow call of a sample (``send``: the terminal), or drop it (counted)."""
        if self._closed:
            return
        target = call.target
        assert target is not None
        decision = call.decision
        cause = str(decision.cause) if decision is not None else "unknown"
        job = _Job(call, served, send, target.tier, cause, 0.0, None)
        ledger = self._ledger
        if ledger.in_flight >= self.settings.max_concurrency:
            self._drop(job, "dropped_concurrency")
            return
        job.expected = cost_usd(served.usage, self._expected_price)
        if not ledger.affords(job.expected):
            self._drop(job, "dropped_budget")
            return
        progress = call.progress
        link = progress.route_span if progress is not None else None
        if link is None:
            current = trace.get_current_span().get_span_context()
            link = current if current.is_valid else None
        job.link = link
        job.call = _snapshot(call)  # (only for a sample that runs)
        host = self._host
        if host is None or not host.here():
            self._reap()
            # (another loop's host still running is left to its loop: its calls end with it)
            host = self._host = Host(self._work)
        ledger.start(job.expected)
        host.submit(job)

    def _drop(self, job: _Job, result: str) -> None:
        self._ledger.count(result)
        record_shadow(self._t, None, job.sample(self.settings.tier, result))

    # In the host's task group ----------------------------------------------------------

    async def _work(self, job: _Job) -> None:
        _IN_SHADOW.set(True)  # (this task's own copy of the host's empty context)
        span = start_shadow_span(self._t, job.link)
        fields: dict[str, Any] = {}
        result = "failed"
        try:
            with trace.use_span(span, end_on_exit=False) if span is not None else nullcontext():
                shadow, fields = await self._send(job)
                if shadow is not None:
                    fields["cost_usd"] = shadow.cost_usd
                    agreement, judged = await self._agreement(job, shadow)
                    if agreement is not None:
                        result = "compared"
                        fields.update(agreement=agreement.score, reason=agreement.reason)
                        fields["judge"] = judged
                    else:
                        fields["reason"] = "an answer could not be read"
        except BaseException as exc:
            if not isinstance(exc, Exception):  # a cancel (trio's may come in a group), exit
                result = "cancelled"
            raise
        finally:
            sample = job.sample(self.settings.tier, result, **fields)
            if not job.ended:
                job.ended = True
                self._ledger.end(job.expected, sample.cost_usd, result)
                if sample.agreement is not None:
                    self._ledger.agreed(job.tier, job.cause, sample.agreement)
            record_shadow(self._t, self._log, sample, span)

    async def _send(self, job: _Job) -> tuple[ModelResult | None, dict[str, Any]]:
        """The reference tier's answer to the job's call: its deployments in order until one
        answers, within ``timeout_s`` in all; and the sample's fields so far."""
        fields: dict[str, Any] = {
            "error_type": "TimeoutError",
            "error": f"no answer within shadow.timeout_s ({self.settings.timeout_s:g}s)",
        }
        with anyio.move_on_after(self.settings.timeout_s):
            for number, target in enumerate(self._reference, start=1):
                fields["reference_model"] = target.model
                try:
                    answer = await job.send(_aimed(job.call, self._reference, target, number))
                except Exception as exc:
                    fields.update(error_type=type(exc).__name__, error=error_text(exc))
                else:
                    return answer, {"reference_model": target.model}
        return None, fields

    async def _agreement(self, job: _Job, shadow: ModelResult) -> tuple[Agreement | None, bool]:
        """The comparator's agreement, its score replaced by the judge's when one is given and
        answers; whether the judge gave it (``None``: an answer could not be read and no
        judge scored it)."""
        served_answer, shadow_answer = answer_of(job.served), answer_of(shadow)
        base: Agreement | None = None
        if served_answer is not None and shadow_answer is not None:
            base = compare(served_answer, shadow_answer)
        judge = self._judge
        if judge is None:
            return base, False
        shown = base.reason if base is not None else "answers not readable"
        limit = self.settings.judge_timeout_s
        try:
            with anyio.fail_after(limit):
                score = await judge(job.served, shadow, job.call)
        except TimeoutError:
            failure = f"judge timed out after {limit:g}s"
        except Exception as exc:
            failure = f"judge failed ({type(exc).__name__})"
        else:
            if isinstance(score, int | float) and not isinstance(score, bool) and 0 <= score <= 1:
                return Agreement(float(score), clip_reason(f"judge {score:.2f}; {shown}")), True
            failure = f"judge returned {type(score).__name__}, not a number in [0, 1]"
        if base is None:
            return None, False
        return Agreement(base.score, clip_reason(f"{failure}; {base.reason}")), False

    # The router's side -----------------------------------------------------------------------

    def stats(self) -> ShadowStats:
        """A snapshot of what the runner has done so far."""
        self._reap()
        return self._ledger.stats()

    async def drain(self) -> None:
        """Wait until every shadow call started so far on this loop has finished (none is
        cancelled); those of a loop that has ended are counted cancelled."""
        self._reap()
        host = self._host
        if host is not None and host.here():
            await host.wait_idle()

    async def aclose(self) -> None:
        """Stop sampling, cancel the shadow calls in flight, and wait until the host of the
        running loop has ended (a host of another loop is left to that loop). Idempotent."""
        self._closed = True
        host = self._host
        if host is not None:
            await host.close()
        self._reap(force=host is not None and host.done.is_set())

    def _reap(self, *, force: bool = False) -> None:
        """Write off the jobs of a host that has ended or whose loop has (``force``: of a host
        known to have ended): they are counted cancelled, and the host is let go."""
        host = self._host
        if host is None or not (force or host.gone()):
            return
        self._host = None
        for job in host.let_go():
            if not job.ended:
                job.ended = True
                self._ledger.end(job.expected, 0.0, "cancelled")
                record_shadow(self._t, None, job.sample(self.settings.tier, "cancelled"))


def _aimed(served: ModelCall, targets: tuple[Target, ...], target: Target, n: int) -> ModelCall:
    """The served call aimed at one reference target, with a progress record of its own
    (nothing the shadow call does reaches the served call's)."""
    return ModelCall(
        served.messages,
        served.tools,
        served.params,
        served.mode,
        served.session,
        served.step,
        served.hints,
        served.decision,
        targets,
        target,
        n,
        CallProgress(),
    )


def _snapshot(call: ModelCall) -> ModelCall:
    """``call`` with a shallow copy of its message list: an agent loop appends the answer and
    its tool results to the list it passed as soon as the call returns, before the shadow call
    is sent (a list that cannot be copied is kept as it is)."""
    messages = call.messages
    if not isinstance(messages, MutableSequence):
        return call
    try:
        copied = copy.copy(messages)
    except Exception:  # an exotic sequence: sent as it is
        return call
    return dataclasses.replace(call, messages=copied)


def _fraction(text: str) -> float:
    """A stable uniform draw in [0, 1) from ``text`` (the same in every process)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
