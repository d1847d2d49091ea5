"""What the routed SDK clients (:mod:`agentroute.integrations.openai`,
:mod:`agentroute.integrations.anthropic`) share: one SDK client per deployment, the checks made
when a routed client is built, and the routed methods themselves.

A routed method is ``router.wrap()`` of a small function that takes the chosen
:class:`~agentroute.Deployment`, looks up (or builds, once) that deployment's SDK client and calls
the same method on it with the deployment's model name: the router decides, retries and falls
back; the SDK only speaks the wire format. Nothing here imports an SDK: the modules above pass
their client class in.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from agentroute._types import Deployment
from agentroute.errors import ConfigurationError

if TYPE_CHECKING:
    from agentroute._router_like import RouterLike

__all__ = [
    "SESSION_PARAM",
    "PendingStream",
    "RoutedMethod",
    "RoutedResource",
    "RoutedSdkClient",
    "SdkClients",
    "client_options",
    "require_kind",
]

SESSION_PARAM = "agentroute_session"
"""The keyword a call may name its session with (taken out before the SDK sees the call)."""

FROM_DEPLOYMENT = ("api_key", "base_url")
"""Client options that come from each deployment's provider, never from the caller."""

CLIENT_ONLY = ("api_key", "base_url", "default_headers", "http_client", "max_retries")
"""Client options a deployment's ``kwargs`` must not hold: they are request parameters here."""

Client = TypeVar("Client")


def client_options(cls: type, given: Mapping[str, Any], label: str) -> dict[str, Any]:
    """The options every SDK client of ``cls`` is built with: ``given`` checked, with
    ``max_retries=0`` (the router must see every fault: an SDK retrying by itself turns three
    failures into one slow one, and spends the call's deadline on one deployment).

    Raises:
        ConfigurationError: an option ``cls`` does not take, ``api_key``/``base_url`` (they
            come from each deployment), or ``max_retries`` other than 0.
    """
    accepted = inspect.signature(cls).parameters
    for name in given:
        if name in FROM_DEPLOYMENT:
            raise ConfigurationError(
                f"{label}: {name} comes from each deployment's provider "
                f"(providers.<name>.{name} in the router's config), not from the client options"
            )
        if name not in accepted:
            raise ConfigurationError(
                f"{label}: {cls.__name__} takes no option {name!r} "
                f"(it takes: {', '.join(p for p in accepted if not p.startswith('_'))})"
            )
    retries = given.get("max_retries", 0)
    if retries != 0:
        raise ConfigurationError(
            f"{label}: max_retries={retries!r} is refused: the router retries and falls back "
            "(config resilience.max_retries), so the SDK clients are built with max_retries=0"
        )
    return {**given, "max_retries": 0}


def require_kind(router: RouterLike, kind: str, label: str) -> None:
    """Every deployment the router can route to speaks ``kind``'s wire format.

    Raises:
        ConfigurationError: naming each deployment of another kind, with its model and tier.
    """
    config = router.config
    wrong = [
        f"{model} on {dep.provider} (kind {config.providers[dep.provider].kind}, tier {tier})"
        for tier, models in config.tiers.items()
        for model in models
        for dep in config.models[model].deployments
        if config.providers[dep.provider].kind != kind
    ]
    if wrong:
        raise ConfigurationError(
            f"{label} can only be routed to deployments of kind {kind!r}: the tiers also route "
            f"to {'; '.join(wrong)}. Use a router whose tiers hold {kind} deployments only, or "
            "router.wrap() a function that picks the SDK by deployment.kind"
        )
    for name, provider in config.providers.items():
        _no_client_options(provider.kwargs, f"providers.{name}.kwargs", label)
    for name, model in config.models.items():
        for i, dep in enumerate(model.deployments):
            _no_client_options(dep.kwargs, f"models.{name}.deployments[{i}].kwargs", label)


def _no_client_options(kwargs: Mapping[str, Any], where: str, label: str) -> None:
    for key in CLIENT_ONLY:
        if key in kwargs:
            raise ConfigurationError(
                f"{where}.{key}: {label} passes a deployment's kwargs to each request; "
                "set the provider's base_url, api_key and headers fields instead"
            )


class SdkClients(Generic[Client]):
    """One SDK client per deployment (by :attr:`Deployment.key`), built on first use with the
    deployment's ``base_url``, ``api_key`` and headers (over the caller's ``default_headers``)
    and the shared ``options``. A deployment whose credentials changed since (an ``env:`` key
    rotated) gets a new client; the old one is closed with the others."""

    def __init__(self, make: Callable[..., Client], options: Mapping[str, Any]) -> None:
        self._make = make
        self._options = dict(options)
        self._headers: Mapping[str, str] = self._options.pop("default_headers", None) or {}
        self._given_http = options.get("http_client") is not None
        self._clients: dict[str, tuple[Client, tuple[Any, ...]]] = {}
        self._retired: list[Client] = []

    def get(self, deployment: Deployment) -> Client:
        """``deployment``'s client."""
        where = (deployment.base_url, deployment.api_key, tuple(deployment.headers.items()))
        found = self._clients.get(deployment.key)
        if found is not None and found[1] == where:
            return found[0]
        options = dict(self._options)
        if deployment.base_url is not None:
            options["base_url"] = deployment.base_url
        if deployment.api_key is not None:
            options["api_key"] = deployment.api_key
        headers = {**self._headers, **deployment.headers}
        if headers:
            options["default_headers"] = headers
        client = self._make(**options)
        if found is not None:
            self._retired.append(found[0])
        self._clients[deployment.key] = (client, where)
        return client

    async def aclose(self) -> None:
        """Close every client built (the caller's ``http_client``, if given, is left open)."""
        clients = [client for client, _ in self._clients.values()] + self._retired
        self._clients.clear()
        self._retired.clear()
        if self._given_http:
            return
        for client in clients:
            await client.close()  # type: ignore[attr-defined]


def routed_call(
    router: RouterLike,
    clients: SdkClients[Any],
    path: str,
    *,
    messages_param: str,
    label: str,
    opens: bool = False,
    prepare: Callable[[dict[str, Any], bool], None] | None = None,
) -> Callable[..., Awaitable[Any]]:
    """``router.wrap()`` of a call to the SDK method at ``path`` (``chat.completions.create``)
        on the chosen deployment's client. ``opens``: the method returns a stream manager (not
        awaited; the router enters it inside the attempt). ``prepare`` may adjust the parameters
    (told whether the call streams)."""
    method_of = operator.attrgetter(path)

    async def call(*, model: str, deployment: Deployment, **params: Any) -> Any:
        if prepare is not None:
            prepare(params, opens or bool(params.get("stream")))
        answer = method_of(clients.get(deployment))(model=model, **params)
        return answer if opens else await answer

    call.__name__ = call.__qualname__ = f"{label}.{path}"
    return router.wrap(call, deployment_param="deployment", messages_param=messages_param)


class RoutedMethod:
    """An SDK method, routed: called with the SDK method's keyword arguments (``model`` is
    replaced by the router's choice), returns the SDK's own answer. ``agentroute_session=``
    names the call's session (:meth:`Router.bind_session`)."""

    __slots__ = ("_routed", "_router")

    def __init__(self, router: RouterLike, routed: Callable[..., Awaitable[Any]]) -> None:
        self._router = router
        self._routed = routed

    async def __call__(self, **params: Any) -> Any:
        session = params.pop(SESSION_PARAM, None)
        if session is None:
            return await self._routed(**params)
        with self._router.bind_session(session):
            return await self._routed(**params)


class PendingStream:
    """What a routed ``.stream(...)`` gives: the SDK's stream helper, as an async context
    manager. The call is routed when it is entered (a failure to open the stream falls back
    like any failed call); ``async with`` gives the SDK's own helper stream."""

    __slots__ = ("_manager", "_open")

    def __init__(self, open: Callable[[], Awaitable[Any]]) -> None:
        self._open = open
        self._manager: Any = None

    async def __aenter__(self) -> Any:
        if self._manager is not None:
            raise RuntimeError("a routed stream can be entered once")
        self._manager = await self._open()
        return await self._manager.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return bool(await self._manager.__aexit__(exc_type, exc, tb))


class _StreamMethod:
    """A routed ``.stream(...)`` helper: returns a :class:`PendingStream`."""

    __slots__ = ("_method",)

    def __init__(self, method: RoutedMethod) -> None:
        self._method = method

    def __call__(self, **params: Any) -> PendingStream:
        return PendingStream(lambda: self._method(**params))


class _RawResponse:
    """``.with_raw_response``: its ``create`` returns the SDK's raw response (headers, and
    ``parse()`` for the answer)."""

    __slots__ = ("create",)

    def __init__(self, create: RoutedMethod) -> None:
        self.create = create


class RoutedResource:
    """One SDK resource (``chat.completions``, ``responses``, ``messages``), routed: its
    ``create``, its ``stream`` helper and ``with_raw_response.create``."""

    __slots__ = ("create", "stream", "with_raw_response")

    def __init__(
        self,
        router: RouterLike,
        clients: SdkClients[Any],
        path: str,
        *,
        messages_param: str,
        label: str,
        prepare: Callable[[dict[str, Any], bool], None] | None = None,
    ) -> None:
        def method(name: str, *, opens: bool = False) -> RoutedMethod:
            fn = routed_call(
                router,
                clients,
                f"{path}.{name}",
                messages_param=messages_param,
                label=label,
                opens=opens,
                prepare=prepare,
            )
            return RoutedMethod(router, fn)

        self.create = method("create")
        self.stream = _StreamMethod(method("stream", opens=True))
        self.with_raw_response = _RawResponse(method("with_raw_response.create"))


class RoutedSdkClient:
    """The lifecycle every routed client shares: ``await client.close()`` (or ``aclose()``, or
    ``async with``) closes the SDK clients it built, never the router."""

    def __init__(self, router: RouterLike, clients: SdkClients[Any]) -> None:
        self.router = router
        self._clients = clients

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.router!r})"

    async def close(self) -> None:
        await self._clients.aclose()

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._clients.aclose()
