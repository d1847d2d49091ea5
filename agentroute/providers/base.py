"""The terminal step for ``Router.complete()``, and what every terminal shares.

A terminal receives a call whose ``target`` is set and returns a :class:`~agentroute.ModelResult`
with usage and cost filled in. Whatever a provider raises leaves through
:func:`~agentroute._error_translation.translate`: translated into the error tree (``raise ...
from exc``), located at the target, and masked of secret values.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any, Protocol, cast

import anyio

from agentroute._catalog import Catalog
from agentroute._error_translation import translate
from agentroute._types import ModelCall, ModelResult, Provider, StreamChunk, Target
from agentroute.errors import ConfigurationError, ProviderConnectionError
from agentroute.pricing import cost_usd

__all__ = [
    "BaseProvider",
    "ProviderTerminal",
    "SendsCalls",
    "as_provider",
    "cannot_stream",
    "capped_output",
    "require_target",
]


class SendsCalls(Protocol):
    """The least a provider given to the Router must have: ``send`` (``stream`` and ``aclose``
    are optional for these; :func:`as_provider` fills them in)."""

    async def send(self, call: ModelCall, /) -> ModelResult: ...


class BaseProvider(abc.ABC):
    """The :class:`~agentroute.Provider` contract with its optional parts filled in: subclass
    it and implement :meth:`send`; override :meth:`stream` to serve ``Router.stream()`` and
    :meth:`aclose` to release what the provider holds. The built-in providers and the test
    doubles of :mod:`agentroute.testing` are ones."""

    __slots__ = ()

    @abc.abstractmethod
    async def send(self, call: ModelCall, /) -> ModelResult:
        """Send ``call`` to ``call.target`` and return the normalized answer."""

    def stream(self, call: ModelCall, /) -> AsyncIterator[StreamChunk]:
        """The answer in chunks; by default this provider cannot stream: ConfigurationError."""
        raise cannot_stream(call, type(self).__name__)

    async def aclose(self) -> None:
        """Release what the provider holds (by default nothing)."""
        return None


def cannot_stream(call: ModelCall, kind: str) -> ConfigurationError:
    """The error of a streamed call sent to a provider (of class ``kind``) without ``stream``."""
    where = call.target.provider if call.target is not None else "?"
    return ConfigurationError(
        f"provider {where!r} ({kind}) cannot stream: it has no stream(call) method"
    )


class _Completed:
    """A provider object with part of the contract (most often ``send`` only): its own methods,
    bound once, and the defaults of :class:`BaseProvider` for the others."""

    __slots__ = ("aclose", "send", "stream", "wrapped")

    def __init__(self, provider: SendsCalls) -> None:
        self.wrapped = provider
        self.send: Callable[[ModelCall], Coroutine[Any, Any, ModelResult]] = provider.send
        own_stream = getattr(provider, "stream", None)
        self.stream: Callable[[ModelCall], AsyncIterator[StreamChunk]] = (
            own_stream
            if callable(own_stream)
            else functools.partial(_no_stream, type(provider).__name__)
        )
        own_close = getattr(provider, "aclose", None)
        self.aclose: Callable[[], Coroutine[Any, Any, None]] = (
            own_close if callable(own_close) else _nothing_to_close
        )

    def __repr__(self) -> str:
        return f"{type(self.wrapped).__name__}(adapted)"


def as_provider(name: str, provider: Provider | SendsCalls) -> Provider:
    """``provider`` (given to the Router as ``providers[name]``) as a full
    :class:`~agentroute.Provider`: as it is when it is one, else completed once here."""
    if isinstance(provider, BaseProvider):
        return provider
    if not callable(getattr(provider, "send", None)):
        raise ConfigurationError(
            f"providers[{name!r}]: {type(provider).__name__} has no send(call) method"
        )
    if callable(getattr(provider, "stream", None)) and callable(getattr(provider, "aclose", None)):
        return cast(Provider, provider)
    return _Completed(provider)


def _no_stream(kind: str, call: ModelCall, /) -> AsyncIterator[StreamChunk]:
    raise cannot_stream(call, kind)


async def _nothing_to_close() -> None:
    return None


def capped_output(limit: Any, cap: int | None) -> Any:
    """A call's output-token ``limit`` (``max_tokens``/``max_completion_tokens``) for a model
    whose ``max_output_tokens`` is ``cap``: lowered to the cap when it is an integer above it
    (a limit meant for a bigger model of another tier would be refused by this one's API),
    else as given."""
    if cap is not None and type(limit) is int and limit > cap:
        return cap
    return limit


def require_target(call: ModelCall) -> Target:
    if call.target is None:
        raise ConfigurationError(
            "a terminal was reached with no target (is FallbackMiddleware in the chain?)"
        )
    return call.target


class ProviderTerminal:
    """Send the call to the :class:`~agentroute.Provider` of its target's provider.

    Providers given to the Router are made full :class:`~agentroute.Provider` objects once,
    here (:func:`as_provider`: one with ``send`` only gets the defaults of
    :class:`BaseProvider`); the others are built on first use by ``build`` (the built-in HTTP
    providers), so a Router used only through ``wrap()`` opens no HTTP client at all.

    Raises:
        ConfigurationError: a given provider has no ``send`` method.
    """

    def __init__(
        self,
        providers: Mapping[str, Provider | SendsCalls],
        catalog: Catalog,
        build: Callable[[str], Provider] | None = None,
    ) -> None:
        self.providers: dict[str, Provider] = {
            name: as_provider(name, provider) for name, provider in providers.items()
        }
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
        if call.mode == "stream":
            return await self._open_stream(call, provider, target)
        try:
            result = await provider.send(call)
        except Exception as exc:  # a custom provider's own error may quote a key too
            err = translate(exc, target)
            if err is exc:
                raise
            raise err from exc
        return result.with_cost(target, cost_usd(result.usage, self._catalog.prices[target.model]))

    async def _open_stream(
        self, call: ModelCall, provider: Provider, target: Target
    ) -> ModelResult:
        """Open ``provider``'s stream and read its first chunk: a failure up to there is an
        attempt's failure like any other (the fallback step moves on); after it, the open
        stream travels back up the chain on the result, for ``Router.stream()`` to read."""
        chunks = provider.stream(call)
        try:
            first = await chunks.__anext__()
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await _aclose(chunks)
            if isinstance(exc, StopAsyncIteration):
                raise ProviderConnectionError("the stream ended before its first chunk").located(
                    provider=target.provider, model=target.model, deployment=target.deployment
                ) from None
            err = translate(exc, target)
            if err is exc:
                raise
            raise err from exc
        return ModelResult(target=target, stream=_Resumed(first, chunks))


class _Resumed:
    """An open stream whose first chunk was read already: yields it, then the rest."""

    __slots__ = ("_first", "_rest")

    def __init__(self, first: StreamChunk, rest: AsyncIterator[StreamChunk]) -> None:
        self._first: StreamChunk | None = first
        self._rest = rest

    def __aiter__(self) -> _Resumed:
        return self

    async def __anext__(self) -> StreamChunk:
        first = self._first
        if first is not None:
            self._first = None
            return first
        return await self._rest.__anext__()

    async def aclose(self) -> None:
        self._first = None
        await _aclose(self._rest)


async def _aclose(chunks: AsyncIterator[StreamChunk]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()
