"""One simulated provider instance: a request in, an action out (answer, hold or drop).

An instance serves one endpoint per wire format it is given (``kind: openai``: Chat Completions
and the Responses API; ``kind: anthropic``: Messages); they share its request counter (so a fault
``schedule`` counts requests to either), fault plan, prompt caches and records.

The order of checks is: path, API key, request shape (400), scheduled or probabilistic fault
(:class:`~agentroute.sim.faults.Faults`), context window (the whole prompt counted with the
prefix cache's chars-per-token), content-policy trigger in the last user message, then the
cache lookup (one prompt cache per model, as real providers keep), the scenario's move and the
rendering in the instance's wire format. Every step is counted
(:class:`~agentroute.sim.faults.InstanceStats`, :class:`~agentroute.sim.faults.RequestRecord`)
when the action is decided.
"""

from __future__ import annotations

import hmac
import json
import random
import string
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

from agentroute.clock import Clock, SystemClock, wall_time
from agentroute.sim.cache import Breakpoint, MarkedOutcome, PrefixCache
from agentroute.sim.config import InstanceConfig
from agentroute.sim.faults import (
    Answer,
    Drop,
    ErrorDetail,
    ErrorKind,
    Faults,
    Hold,
    InstanceStats,
    InvalidRequest,
    Reply,
    RequestRecord,
    Wire,
    WireRequest,
)
from agentroute.sim.scenario import last_user_text, reply

__all__ = ["Instance"]

_STATUS_FAULTS: Mapping[str, ErrorKind] = {
    "rate_limit": "rate_limit",
    "server_error": "server_error",
    "unavailable": "unavailable",
    "overloaded": "overloaded",
    "context_window": "context_window",
    "content_policy": "content_policy",
}
"""Faults answered with an HTTP error status (the others act on the connection)."""
_ALNUM = string.ascii_letters + string.digits


class Instance:
    """One named simulated provider: its config, cache, faults, counters and wire formats
    (``wires``: one per endpoint; the first also renders errors that come before the endpoint
    is known: an unknown path, a body too large). ``clock``: where its prompt caches read time
    (the simulator's)."""

    def __init__(
        self,
        name: str,
        config: InstanceConfig,
        wires: Sequence[Wire],
        *,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._clock: Clock = clock or SystemClock()
        self.wire = wires[0]
        self.endpoints: Mapping[str, Wire] = MappingProxyType({w.PATH: w for w in wires})
        self.cache = self._new_cache()
        # One prompt cache per model, as real providers keep: a prefix cached for one model
        # is no hit for another model on the same endpoint.
        self._model_caches: dict[str, PrefixCache] = {}
        self.faults = Faults(config.faults, config.latency)
        self.records: deque[RequestRecord] = deque(maxlen=1000)
        self._ids = random.Random(f"{name}/{config.faults.seed}")
        self._count: Counter[str] = Counter()
        self._fault_count: Counter[str] = Counter()

    def stats(self) -> InstanceStats:
        c = self._count
        return InstanceStats(
            c["requests"],
            c["answered"],
            c["streams"],
            MappingProxyType(dict(self._fault_count)),
            c["input"],
            c["output"],
            c["cache_read"],
            c["cache_write"],
        )

    def _id(self, prefix: str, n: int) -> str:
        return prefix + "".join(self._ids.choices(_ALNUM, k=n))

    def too_large(self, limit: int) -> Answer:
        """The answer to a body over ``limit`` bytes (413, in this instance's API shape)."""
        self._count["requests"] += 1
        detail = ErrorDetail(self._id("req_", 24), message=f"Request larger than {limit} bytes")
        return self._error("too_large", detail, self._count["requests"])

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Answer | Hold | Drop:
        """The action for one request: an :class:`Answer`, a :class:`Hold` or a :class:`Drop`."""
        self._count["requests"] += 1
        number = self._count["requests"]
        detail = ErrorDetail(request_id=self._id("req_", 24))
        wire = self.endpoints.get(path) if method == "POST" else None
        if wire is None:
            message = f"Invalid URL ({method} /{self.name}{path})"
            return self._error("not_found", replace(detail, message=message), number)
        if self.config.api_key is not None and not self._authorized(headers):
            return self._error("authentication", detail, number, wire=wire)
        try:
            req = wire.parse(json.loads(body))
        except InvalidRequest as exc:
            detail = replace(detail, message=exc.message, param=exc.param, code=exc.code)
            return self._error("invalid_request", detail, number, wire=wire)
        except ValueError:
            detail = replace(detail, message="We could not parse the JSON body of your request.")
            return self._error("invalid_request", detail, number, wire=wire)
        detail = replace(detail, model=req.model, window=self.config.window(req.model))
        spec = self.faults.pick(number)
        if spec is None:
            return self._answer(req, wire, detail, number, None)
        as_error = _STATUS_FAULTS.get(spec.kind)
        if as_error is not None:
            prompt_tokens = self.cache.tokens(req.prompt()[0])
            detail = replace(detail, retry_after_s=spec.retry_after_s, prompt_tokens=prompt_tokens)
            return self._error(
                as_error, detail, number, fault=spec.kind, stream=req.stream, wire=wire
            )
        if spec.kind != "drop_mid_response":  # a cut is counted where it is applied
            self._fault_count[spec.kind] += 1
        if spec.kind == "drop" or (spec.kind == "timeout" and spec.delay_s is None):
            self.records.append(RequestRecord(number, req.model, req.stream, 0, spec.kind))
            return Drop() if spec.kind == "drop" else Hold(None)
        answer = self._answer(req, wire, detail, number, spec.kind)
        return Hold(spec.delay_s, answer) if spec.kind == "timeout" else answer

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        key = self.config.api_key or ""
        given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), key.encode())

    def _error(
        self,
        kind: ErrorKind,
        detail: ErrorDetail,
        number: int,
        *,
        fault: str | None = None,
        stream: bool = False,
        wire: Wire | None = None,
    ) -> Answer:
        if fault is not None or kind in ("context_window", "content_policy"):
            self._fault_count[kind] += 1
        status, headers, body = (wire or self.wire).error(kind, detail)
        self.records.append(RequestRecord(number, detail.model, stream, status, fault or kind))
        return Answer(status, headers, ((body, 0),))

    def _answer(
        self, req: WireRequest, wire: Wire, detail: ErrorDetail, number: int, fault: str | None
    ) -> Answer:
        text, marks = req.prompt()
        prompt_tokens = self.cache.tokens(text)
        if prompt_tokens > detail.window:
            too_long = replace(detail, prompt_tokens=prompt_tokens)
            return self._error("context_window", too_long, number, wire=wire)
        refused = False
        if self.faults.trigger(last_user_text(req.conversation)) is not None:
            if self.config.faults.refusal == "error":
                return self._error("content_policy", detail, number, wire=wire)
            self._fault_count["content_policy"] += 1
            refused = True
        usage = self._lookup(req.model, text, marks)
        move = reply(self.config.scenario, req.conversation, req.model, req.tools)
        out = (move.text or "") + (move.tool or "") + json.dumps(dict(move.arguments or {}))
        output_tokens = 1 if refused else self.cache.tokens(out)
        anthropic = self.config.kind == "anthropic"
        rendered = Reply(
            move=move,
            response_id=self._id(*wire.RESPONSE_ID),
            call_id=self._id(*wire.CALL_ID),
            created=int(wall_time()),
            usage=usage,
            output_tokens=output_tokens,
            refused=refused,
            chars_per_token=self.config.cache.chars_per_token,
        )
        self._count.update(
            answered=1,
            streams=int(req.stream),
            input=usage.prompt_tokens,
            output=output_tokens,
            cache_read=usage.read_tokens,
            cache_write=usage.written_tokens,
        )
        self.records.append(
            RequestRecord(number, req.model, req.stream, 200, fault, usage, output_tokens)
        )
        request_id = "x-request-id" if not anthropic else "request-id"
        cut = fault == "drop_mid_response"
        if cut:
            self._fault_count["drop_mid_response"] += 1
        per_token_s = self.config.latency.per_output_token_ms / 1000.0
        delay = self.faults.first_byte_s()
        if not req.stream:
            headers = [("content-type", "application/json"), (request_id, detail.request_id)]
            body = req.body(rendered)
            delay += per_token_s * output_tokens
            return Answer(200, headers, ((body, output_tokens),), delay_s=delay, cut=cut)
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            (request_id, detail.request_id),
        ]
        events = tuple(req.events(rendered))
        return Answer(200, headers, events, True, delay, per_token_s, cut)

    def _new_cache(self) -> PrefixCache:
        c = self.config.cache
        return PrefixCache(
            ttl_s=c.ttl_s,
            block_tokens=c.block_tokens,
            min_tokens=c.min_tokens,
            chars_per_token=c.chars_per_token,
            clock=self._clock,
        )

    def _lookup(self, model: str, text: str, marks: tuple[Breakpoint, ...] | None) -> MarkedOutcome:
        if not self.config.cache.enabled:
            return MarkedOutcome(self.cache.tokens(text), 0, 0)
        cache = self._model_caches.get(model)
        if cache is None:
            cache = self._model_caches[model] = self._new_cache()
        if marks is None:  # OpenAI: automatic prefix caching, writes not reported
            seen = cache.lookup(text)
            return MarkedOutcome(seen.prompt_tokens, seen.cached_tokens, 0)
        return cache.lookup_marked(text, marks)
