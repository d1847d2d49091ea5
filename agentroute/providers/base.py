"""The terminal step for ``Router.complete()``, and error translation shared by all terminals.

A terminal receives a call whose ``target`` is set and returns a :class:`~agentroute.ModelResult`
with usage and cost filled in. Whatever a provider raises is translated here, once, into the
error tree (``raise ... from exc``), located at the target, and scrubbed of secret values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from agentroute._catalog import Catalog
from agentroute._secrets import redact
from agentroute._types import ModelCall, ModelResult, Provider, Target
from agentroute.errors import ConfigurationError, ProviderError
from agentroute.pricing import cost_usd
from agentroute.providers.classify import classify_exception


def translate_error(exc: BaseException, target: Target) -> ProviderError | None:
    """The provider error ``exc`` stands for, located at ``target``; None for other errors."""
    err = classify_exception(exc)
    if err is None:
        return None
    clean = redact(err.message)
    if clean != err.message:
        err.message = clean
        err.args = (clean,)
    return err.located(provider=target.provider, model=target.model, deployment=target.deployment)


def require_target(call: ModelCall) -> Target:
    if call.target is None:
        raise ConfigurationError(
            "a terminal was reached with no target (is FallbackMiddleware in the chain?)"
        )
    return call.target


class ProviderTerminal:
    """Send the call to the :class:`~agentroute.Provider` of its target's provider.

    Providers given to the Router are used as they are; the others are built on first use by
    ``build`` (the built-in HTTP providers), so a Router used only through ``wrap()`` opens no
    HTTP client at all.
    """

    def __init__(
        self,
        providers: Mapping[str, Provider],
        catalog: Catalog,
        build: Callable[[str], Provider] | None = None,
    ) -> None:
        self.providers: dict[str, Provider] = dict(providers)
        self.built: list[Provider] = []
        """The providers this terminal built itself (and so must close)."""
        self._catalog = catalog
        self._build = build

    def provider(self, name: str) -> Provider:
        found = self.providers.get(name)
        if found is None:
            if self._build is None:
                raise ConfigurationError(
                    f"no provider implementation for {name!r}: pass one with "
                    f"Router(config, providers={{{name!r}: ...}}) or route through wrap()"
                )
            found = self.providers[name] = self._build(name)
            self.built.append(found)
        return found

    async def __call__(self, call: ModelCall) -> ModelResult:
        target = require_target(call)
        provider = self.provider(target.provider)
        try:
            result = await provider.send(call)
        except ProviderError as err:
            err.located(provider=target.provider, model=target.model, deployment=target.deployment)
            raise
        except Exception as exc:
            translated = translate_error(exc, target)
            if translated is None:
                raise
            raise translated from exc
        return result.with_cost(target, cost_usd(result.usage, self._catalog.prices[target.model]))
