"""The ``affinity`` section: which deployment of a model serves a call."""

from __future__ import annotations

from typing import Literal

from agentroute.config._fields import _Strict

__all__ = ["AffinityConfig"]


class AffinityConfig(_Strict):
    """Which deployment of a model serves a call.

    * ``sticky``: once a deployment served a session's call for a model, the session's later
      calls for that model go there first while the pin is fresh — its idle TTL is the
      provider's ``cache_ttl_s``, the life of its prompt cache. Only for models whose
      ``cache_read`` price is below their ``input`` price (else a warm cache saves nothing).
    * ``strategy`` orders the candidates that are not pinned: ``order`` (as configured),
      ``price`` (cheapest model first: input price, then output), ``latency`` (lowest observed
      latency first, an exponentially weighted mean per deployment; unmeasured ones first so
      each gets measured), ``weighted`` (random, by each deployment's ``weight``).
    """

    sticky: bool = True
    strategy: Literal["order", "price", "latency", "weighted"] = "order"
