"""pydantic-ai: :class:`RoutedModel`, a pydantic-ai ``Model`` whose every request is routed.

Two lines change in an agent::

    router = Router("agentroute.yaml")
    agent = Agent(RoutedModel(router), tools=[...])

**What it adds.** Each model request of the agent's loop — ``agent.run``, ``run_sync``,
``run_stream``, ``iter`` (``request`` and ``request_stream``) — goes through the router: it
picks the tier from the run's own signals (tool errors, repeated calls, context size …), may
escalate in the middle of a run from a cheap OpenAI-compatible model to an Anthropic top model
and step down again, retries and fails over between deployments, charges each request its exact
usage (cache reads and writes included) against the session's budget, and records one
``agentroute.route`` span per request. pydantic-ai's own ``FallbackModel`` only moves to the
next model when one *fails* (an error, or a response a handler rejects), always starting from
the first, with no notion of how the run is going; choosing the model per step (a
``model=`` per run or a capability swapping it) is code the application writes and keeps in
step with the history itself. Here the choice is a policy in a config, made per request from
the history, with the run's cost and a span per decision.

**How.** A request's pydantic-ai messages are read as OpenAI-shaped messages for the router's
signals (:mod:`agentroute.integrations._pydantic_ai_view`); the router calls a function that
sends the *original* messages through a pydantic-ai model built once per deployment (and event
loop): ``OpenAIChatModel`` for ``kind: openai`` providers, ``AnthropicModel`` for ``kind:
anthropic`` ones, each on an SDK client built with ``max_retries=0`` — the router sees every
fault and retries itself — or any model the ``model_factory`` argument builds. Each inner model
prepares the messages itself (as ``FallbackModel`` does for its candidates), so one history
can go to either wire format in one run.

**Retries.** pydantic-ai's ``max_retries`` model setting copies the SDK client with that retry
count for one request. Nothing is patched on a client here, so a copy cannot bypass the router;
the setting is dropped from the settings given to the inner model, so the copy is not made and
the SDK does not retry behind the router's back (the router's ``resilience`` section decides).
``Agent(retries=...)`` is about tools and output validation: each retry is a new model request,
and routed like any other. pydantic-ai's ``request_timeout`` / ``first_event_timeout`` settings
are not applied to the routed requests: the router times them (``resilience.attempt_timeout_s``,
``deadline_s``), so a slow deployment is failed over rather than the run failed.

**Session id.** The agent run's id (``run_id`` of the history's last message that has one:
``Agent.run(run_id=...)`` or the fresh id pydantic-ai gives each run) is bound with
:meth:`~agentroute.Router.bind_session`: all requests of a run share one session (step counter,
tier, cost), and spans carry it as ``gen_ai.conversation.id``. A request without a run id (a
direct ``model_request``) joins a session the router derives from its messages. An ``async with
router.session()`` around the run still wins.

**Tool errors.** pydantic-ai marks a failed tool call on its ``ToolReturnPart``: ``outcome``
``"failed"``, or ``"retried"`` for a tool that raised ``ModelRetry`` (the natural pydantic-ai way
to say "try again") or got invalid arguments. Those results are flagged ``is_error`` for the
router and always count; a legacy ``RetryPromptPart`` with a tool name counts too. A tool that
returns an error *text* (``"Error: …"``) is judged by the router's detector (``default`` preset;
``policy.tool_error_detector`` may add the ``pydantic_ai`` one).

**Streaming.** ``request_stream`` is routed as one attempt that covers the stream: the attempt
opens the chosen model's stream and waits for its first event (so a failure before any output
falls back to the next deployment, as ``FallbackModel`` does), hands the stream to pydantic-ai,
and is settled — charged with the stream's final usage, its span ended — when pydantic-ai
closes it. A stream closed early, or broken by an error, is charged the router's estimate. Once
pydantic-ai has the stream, nothing is retried behind its back. Sync use (``run_sync``) works
as pydantic-ai runs it (an event loop of its own).

**Decisions where the issue was silent.** ``model_name`` is ``agentroute:<the configured models,
cheap first>`` and ``system`` is ``agentroute`` (which deployment answered is on each
``ModelResponse``: its ``model_name`` and ``provider_name``); there is no profile of its own
(each inner model applies its own, as in ``FallbackModel``). For an Anthropic deployment whose
provider keeps ``cache_breakpoints`` on, a request that sets no cache setting of its own gets
``cache=True`` (pydantic-ai places the breakpoints), as the router's own Anthropic provider does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import anyio.lowlevel

from agentroute.integrations._extras import missing_extra

try:
    from pydantic_ai import RunContext
except ImportError as exc:
    raise missing_extra("pydantic_ai", "pydantic-ai", exc) from exc

# pydantic-ai's own "open a stream and wait for its first event" (FallbackModel's), not public
from pydantic_ai._fallback import request_stream_until_first_event
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.profiles import ModelProfile
from pydantic_ai.settings import ModelSettings

from agentroute._types import Deployment, Usage
from agentroute.errors import ConfigurationError
from agentroute.integrations._pydantic_ai_view import openai_view, run_id_of, tool_schemas

if TYPE_CHECKING:
    from agentroute._router_like import RouterLike

__all__ = ["ModelFactory", "RoutedModel", "default_model_factory", "usage_of"]

ModelFactory = Callable[[Deployment], Model]
"""Builds the pydantic-ai model that serves one deployment (its SDK client's retries off)."""


def default_model_factory(deployment: Deployment) -> Model:
    """``OpenAIChatModel`` for a ``kind: openai`` deployment, ``AnthropicModel`` for a ``kind:
    anthropic`` one, each on its own SDK client with ``max_retries=0`` and the deployment's
    ``base_url``, ``api_key`` and headers.

    Raises:
        ConfigurationError: another kind (naming the provider's ``kind`` field).
    """
    headers = dict(deployment.headers) or None
    if deployment.kind == "openai":
        from openai import AsyncOpenAI
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        openai_client = AsyncOpenAI(
            api_key=deployment.api_key or "api-key-not-set",  # a local server may need none
            base_url=deployment.base_url,
            max_retries=0,
            default_headers=headers,
        )
        return OpenAIChatModel(
            deployment.name, provider=OpenAIProvider(openai_client=openai_client)
        )
    if deployment.kind == "anthropic":
        from anthropic import AsyncAnthropic
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        anthropic_client = AsyncAnthropic(
            api_key=deployment.api_key,
            base_url=deployment.base_url,
            max_retries=0,
            default_headers=headers,
        )
        return AnthropicModel(
            deployment.name, provider=AnthropicProvider(anthropic_client=anthropic_client)
        )
    raise ConfigurationError(
        f"providers.{deployment.provider}.kind: RoutedModel builds models for 'openai' and "
        f"'anthropic' providers, not {deployment.kind!r} (pass model_factory= for others)"
    )


def usage_of(answer: object) -> Usage | None:
    """A routed answer's usage: a ``ModelResponse``'s ``usage`` (pydantic-ai counts cache reads
    and writes inside ``input_tokens``, as :class:`~agentroute.Usage` does); ``None`` (the
    router's estimate) for anything else, or a response whose provider reported no usage (no
    real request is free of tokens)."""
    if not isinstance(answer, ModelResponse):
        return None
    usage = answer.usage
    if usage.unmeasured_requests or not (usage.input_tokens or usage.output_tokens):
        return None  # none reported (or not yet: a stream closed before its usage arrived)
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
    )


@dataclass(frozen=True, slots=True)
class _Request:
    """One pydantic-ai request, as the routed function gets it (the router passes it on)."""

    messages: list[ModelMessage]
    settings: ModelSettings | None
    params: ModelRequestParameters
    stream: bool = False
    run_context: RunContext[Any] | None = None


_CACHE_SETTINGS = ("cache", "anthropic_cache")


class RoutedModel(Model):
    """A pydantic-ai model that routes every request through ``router`` (module docstring).

    Args:
        router: the :class:`~agentroute.Router` whose config names the deployments.
        model_factory: builds the pydantic-ai model for a deployment (default
            :func:`default_model_factory`); called once per deployment and event loop. Its SDK
            client should not retry (``max_retries=0``): the router must see every fault.
        settings: default model settings, as for any pydantic-ai model.
    """

    _answers_requests_itself = False

    def __init__(
        self,
        router: RouterLike,
        *,
        model_factory: ModelFactory | None = None,
        settings: ModelSettings | None = None,
    ) -> None:
        super().__init__(settings=settings)
        if model_factory is not None and not callable(model_factory):
            raise ConfigurationError(
                "RoutedModel: model_factory must be a callable (Deployment) -> Model, got "
                f"{type(model_factory).__name__}"
            )
        self._router = router
        self._factory: ModelFactory = model_factory or default_model_factory
        self._models: dict[tuple[object, ...], Model] = {}
        self._loop: object = None
        self._users = 0
        models = [name for names in router.config.tiers.values() for name in names]
        self._name = "agentroute:" + ",".join(dict.fromkeys(models))
        self._send = router.wrap(self._answer, deployment_param="deployment", usage_of=usage_of)

    # Identity --------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def system(self) -> str:
        return "agentroute"

    @property
    def profile(self) -> ModelProfile:
        raise NotImplementedError("RoutedModel has no profile: each routed model applies its own")

    @property
    def router(self) -> RouterLike:
        """The router every request goes through."""
        return self._router

    # Preparation: each inner model prepares its own request (as FallbackModel does) ------------

    def customize_request_parameters(
        self, model_request_parameters: ModelRequestParameters
    ) -> ModelRequestParameters:
        return model_request_parameters

    def prepare_request(
        self,
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> tuple[ModelSettings | None, ModelRequestParameters]:
        return model_settings, model_request_parameters

    def prepare_messages(
        self,
        messages: list[ModelMessage],
        model_request_parameters: ModelRequestParameters | None = None,
    ) -> list[ModelMessage]:
        return messages

    def _start_request_deadline(self, model_settings: ModelSettings | None, *, stream: bool) -> Any:
        return None  # the router's resilience settings time each attempt

    def _caching_not_enabled(self, model_settings: ModelSettings | None) -> bool:
        return False  # which model serves the request is not known here

    # Lifecycle: the SDK clients live while a run (or ``async with``) uses them --------------------

    def _refresh_http_client(self) -> None:
        pass  # inner models are built per event loop (see _model_for)

    @asynccontextmanager
    async def _run_scope(self) -> AsyncIterator[None]:
        """Held by pydantic-ai around each agent run: the clients built for the run's requests
        are closed when the last run (or ``async with``) using them ends."""
        async with self:
            yield

    async def __aenter__(self) -> RoutedModel:
        self._users += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._users -= 1
        if self._users == 0:
            await self.aclose()
        return None

    async def aclose(self) -> None:
        """Close the SDK clients of the models built so far (they are built again on the next
        request). Needed only for requests made outside an agent run and ``async with``."""
        models, self._models = list(self._models.values()), {}
        with anyio.CancelScope(shield=True):
            for model in models:
                close = getattr(getattr(model.provider, "client", None), "close", None)
                if close is not None:
                    await close()

    # Requests ----------------------------------------------------------------------------------

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        request = _Request(messages, model_settings, model_request_parameters)
        with self._session(messages):
            response = await self._send(
                openai_view(messages), tools=tool_schemas(model_request_parameters), request=request
            )
        return cast(ModelResponse, response)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        request = _Request(messages, model_settings, model_request_parameters, True, run_context)
        with self._session(messages):
            opened = await self._send(
                openai_view(messages), tools=tool_schemas(model_request_parameters), request=request
            )
        # ``opened`` is the router's watch over the attempt's stream (_OpenStream below): the
        # attempt is settled when it is left
        async with opened as watched:
            yield watched.response
            async for _ in watched:  # the final response, to charge the attempt its usage
                pass

    def _session(self, messages: list[ModelMessage]) -> contextlib.AbstractContextManager[None]:
        run_id = run_id_of(messages)
        return contextlib.nullcontext() if run_id is None else self._router.bind_session(run_id)

    # The routed function -------------------------------------------------------------------------

    async def _answer(
        self,
        messages: object,
        *,
        model: str,
        deployment: Deployment,
        request: _Request,
        tools: object = None,
    ) -> ModelResponse | _OpenStream:
        """One attempt at ``deployment``: the original messages through its pydantic-ai model
        (``messages`` and ``tools`` are the router's view, read for its signals only)."""
        inner = self._model_for(deployment)
        settings = self._settings_for(deployment, request.settings)
        prepared = inner.prepare_messages(request.messages, request.params)
        if request.stream:
            return _OpenStream(inner, prepared, settings, request.params, request.run_context)
        return await inner.request(prepared, settings, request.params)

    def _model_for(self, deployment: Deployment) -> Model:
        loop = anyio.lowlevel.current_token()
        if loop != self._loop:  # an SDK client's connections belong to one event loop
            self._models = {}
            self._loop = loop
        key = (
            deployment.key,
            deployment.kind,
            deployment.base_url,
            deployment.api_key,
            tuple(sorted(deployment.headers.items())),
        )
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = self._factory(deployment)
            if not isinstance(model, Model):
                raise ConfigurationError(
                    "RoutedModel: model_factory must return a pydantic_ai Model, got "
                    f"{type(model).__name__}"
                )
        return model

    def _settings_for(
        self, deployment: Deployment, settings: ModelSettings | None
    ) -> ModelSettings | None:
        """The request's settings for ``deployment``: without ``max_retries`` (the router
        retries), and with pydantic-ai's prompt caching on for an Anthropic deployment whose
        provider keeps cache breakpoints on, unless the request says otherwise."""
        out: dict[str, Any] = dict(settings or {})
        out.pop("max_retries", None)
        if deployment.kind == "anthropic" and not any(key in out for key in _CACHE_SETTINGS):
            provider = self._router.config.providers.get(deployment.provider)
            if provider is None or provider.cache_breakpoints is not False:
                out["cache"] = True
        return cast(ModelSettings, out) if out else None


class _OpenStream:
    """The attempt's stream, as the routed function returns it: an async context manager the
    router enters inside the attempt (:mod:`agentroute.providers.wrapped_stream`). Entering
    opens the model's stream and waits for its first event; what it gives is a
    :class:`_FinalUsage`, which the router watches."""

    def __init__(
        self,
        model: Model,
        messages: list[ModelMessage],
        settings: ModelSettings | None,
        params: ModelRequestParameters,
        run_context: RunContext[Any] | None,
    ) -> None:
        self._open = request_stream_until_first_event(
            model, None, messages, settings, params, run_context
        )
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> _FinalUsage:
        response = await self._stack.enter_async_context(self._open)
        return _FinalUsage(response)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return bool(await self._stack.__aexit__(exc_type, exc, tb))


class _FinalUsage:
    """One event, once pydantic-ai has read the stream: the response it built, whose usage
    (:func:`usage_of`) the router charges the attempt."""

    def __init__(self, response: StreamedResponse) -> None:
        self.response = response
        self._done = False

    def __aiter__(self) -> _FinalUsage:
        return self

    async def __anext__(self) -> ModelResponse:
        if self._done:
            raise StopAsyncIteration
        self._done = True
        return self.response.get()
