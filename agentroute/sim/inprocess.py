"""An in-process simulated provider: the scenario's model, a prefix cache, scheduled faults.

It implements the :class:`~agentroute.Provider` hook, so ``Router.complete()`` runs whole
agent loops with no network at all (the demo's default). Each deployment has its own prefix
cache (:class:`~agentroute.sim.cache.PrefixCache`), so a call that moves to another deployment
starts cold; faults are scheduled per deployment and per call number.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Mapping

from agentroute._types import ModelCall, ModelResult, ToolCall, Usage
from agentroute.errors import ProviderUnavailable, RateLimited
from agentroute.sim.cache import PrefixCache
from agentroute.sim.scenario import next_move

FAULTS: Mapping[str, Callable[[], Exception]] = {
    "503": lambda: ProviderUnavailable("HTTP 503 from provider: overloaded", status_code=503),
    "429": lambda: RateLimited(
        "HTTP 429 from provider: rate limit", status_code=429, retry_after=1.0
    ),
}


class SimProvider:
    """Serves the rebooking scenario for every deployment of one simulated provider.

    Args:
        skills: deployment model name → skill level of the simulated model.
        faults: deployment model name → {call number (1-based): fault name in FAULTS}.
        cache_ttl_s: the prefix cache's idle TTL.
    """

    def __init__(
        self,
        *,
        skills: Mapping[str, int],
        faults: Mapping[str, Mapping[int, str]] | None = None,
        cache_ttl_s: float = 300.0,
    ) -> None:
        self._skills = dict(skills)
        self._faults = {k: dict(v) for k, v in (faults or {}).items()}
        self._caches: defaultdict[str, PrefixCache] = defaultdict(
            lambda: PrefixCache(ttl_s=cache_ttl_s)
        )
        self._calls: defaultdict[str, int] = defaultdict(int)
        self._ids = itertools.count(1)

    async def send(self, call: ModelCall, /) -> ModelResult:
        assert call.target is not None
        name = call.target.deployment
        self._calls[name] += 1
        fault = self._faults.get(name, {}).get(self._calls[name])
        if fault is not None:
            raise FAULTS[fault]()
        prompt = json.dumps([call.tools or [], *call.messages], sort_keys=True, default=str)
        cache = self._caches[name]
        seen = cache.lookup(prompt)
        move = next_move(call.messages, self._skills.get(name, 0))
        if move.tool is not None:
            args = json.dumps(dict(move.arguments or {}))
            tool_calls: tuple[ToolCall, ...] = (
                ToolCall(f"call_{next(self._ids)}", move.tool, args),
            )
            out_text = move.tool + args
        else:
            tool_calls = ()
            out_text = move.text or ""
        usage = Usage(
            input_tokens=seen.prompt_tokens,
            output_tokens=cache.tokens(out_text) + 8,
            cache_read_tokens=seen.cached_tokens,
        )
        return ModelResult(
            text=move.text,
            tool_calls=tool_calls,
            finish_reason="tool_calls" if tool_calls else "stop",
            usage=usage,
            response_model=name,
        )
