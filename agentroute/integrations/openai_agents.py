"""The OpenAI Agents SDK routed: a ``ModelProvider`` whose model sends every turn through the
router.

The Agents SDK has no per-turn model hook; its ``Model`` is the hook: the runner calls
``get_response`` (``Runner.run``, ``Runner.run_sync``) or ``stream_response``
(``Runner.run_streamed``) once per turn. :class:`RoutedModelProvider` hands the runner a model
that routes each of those calls::

    provider = RoutedModelProvider(router)
    result = await Runner.run(agent, "…", run_config=RunConfig(model_provider=provider))
    await provider.aclose()  # the SDK clients it made (the runner closes only its own provider)

What each turn does: the router sees the turn's messages — the agent's instructions as a
``system`` message, then the SDK's input items (Responses API items: messages,
``function_call`` and ``function_call_output`` items) — and the turn's tools and handoffs as
function definitions (counted, never sent from here); it picks a tier, a model and a
deployment; the turn is then made by the SDK's own model for that deployment
(``OpenAIResponsesModel``, or ``OpenAIChatCompletionsModel`` with ``api="chat_completions"``),
built once per deployment on an ``AsyncOpenAI`` client with ``max_retries=0`` (the router
retries and fails over, and must see every fault). The agent's own ``model`` name is not used:
the router chooses.

Decisions taken where the issue is silent:

* **Session id**: the run's trace, read with ``agents.tracing.get_current_trace()`` inside the
  turn: its ``group_id`` when the run has one (``RunConfig(group_id=…)``, or a ``trace(…,
  group_id=…)`` the run is inside), else its ``trace_id``. Turns of one run — across handoffs,
  and the runs nested in it (agents as tools) — share one session. With the SDK's tracing
  *disabled* the runner makes a no-op trace with no id: the turns are then left to the
  router's implicit sessions (matched by content). To keep the ids without sending traces to
  OpenAI, replace the SDK's exporters instead: ``agents.set_trace_processors([])``.
* **Tool errors**: a failed tool's result reaches the model as a ``function_call_output`` item
  with the SDK's default ``failure_error_function`` text, "An error occurred while running the
  tool. Please try again." (0.24; older releases appended "Error: …"). The router's ``default``
  detector does not count that text as an error, and the router has one detector for all its
  calls; so this integration flags such an item ``is_error: true`` in the copy of the input the
  router reads (the ``openai_agents`` preset's test, :mod:`agentroute.policy.tool_errors`),
  never in what the SDK sends. Every other result is judged by the router's detector as usual
  (a tool whose own error text the detector reads, e.g. "Error: …", counts too).
* **Deployments**: the SDK's OpenAI models speak the Responses and Chat Completions APIs
  only, so every deployment of a tiered model must be of an ``openai``-kind provider (OpenAI
  or a compatible server); an ``anthropic``-kind one is refused with a
  :class:`~agentroute.ConfigurationError` when the provider is made (not in the middle of a run,
  when the router first picks it). The SDK's LiteLLM model could serve one, but LiteLLM is a
  dependency of its own, with its own retries and a download of its cost map at import (unless
  ``LITELLM_LOCAL_MODEL_COST_MAP`` is set); not taken here.
* **Usage**: from the ``ModelResponse``'s usage (``input_tokens`` with cached tokens included,
  ``input_tokens_details.cached_tokens`` and ``.cache_write_tokens``, ``output_tokens``,
  ``output_tokens_details.reasoning_tokens``); for a streamed turn, from the
  ``response.completed`` event's response usage (both API flavours end their stream with one;
  with ``api="chat_completions"`` the request asks the server for the usage chunk unless the
  model settings say otherwise).

Sync and streaming: ``Runner.run`` and ``Runner.run_sync`` use ``get_response``;
``Runner.run_streamed`` uses ``stream_response``, which is routed as a watched stream: the
first event is awaited inside the routed attempt (a failure before it — a 429, a refused
connection — fails over like any failed call), and the attempt is charged when the stream has
been read. The SDK runs on asyncio only (its models and runner use ``asyncio`` directly).
``Runner.run_sync`` runs on the thread's default event loop and leaves it open: close the
provider on it (``loop.run_until_complete(provider.aclose())``), where its clients live.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal, TypeAlias

from agentroute.integrations._extras import missing_extra

try:
    from agents import (
        AgentOutputSchemaBase,
        FunctionTool,
        Handoff,
        Model,
        ModelProvider,
        ModelResponse,
        ModelSettings,
        ModelTracing,
        OpenAIChatCompletionsModel,
        OpenAIResponsesModel,
        Tool,
    )
except ImportError as exc:
    raise missing_extra("openai_agents", "openai-agents", exc) from exc
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.tracing import get_current_trace
from agents.tracing.traces import NoOpTrace
from openai import AsyncOpenAI
from openai.types.responses.response_prompt_param import ResponsePromptParam

from agentroute._router_like import RouterLike
from agentroute._types import Deployment, Usage
from agentroute.errors import ConfigurationError
from agentroute.policy.tool_errors import is_tool_error, openai_agents_tool_error_detector

__all__ = ["ModelApi", "RoutedModel", "RoutedModelProvider", "usage_of_model_response"]

ModelApi: TypeAlias = Literal["responses", "chat_completions"]
"""Which OpenAI API the SDK model of each deployment speaks."""

_APIS: tuple[ModelApi, ...] = ("responses", "chat_completions")


def usage_of_model_response(response: object) -> Usage | None:
    """The usage of an Agents SDK ``ModelResponse`` (``None`` for anything else): the SDK's
    ``input_tokens`` already include the cached ones, as :class:`~agentroute.Usage` counts
    them."""
    if not isinstance(response, ModelResponse):
        return None
    usage = response.usage
    details = usage.input_tokens_details
    cached = getattr(details, "cached_tokens", 0) or 0
    written = getattr(details, "cache_write_tokens", 0) or 0
    reasoning = getattr(usage.output_tokens_details, "reasoning_tokens", 0) or 0
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=reasoning,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Turn:
    """One turn's request as the runner made it, replayed on the chosen deployment's model."""

    system_instructions: str | None
    input: str | list[TResponseInputItem]
    model_settings: ModelSettings
    tools: list[Tool]
    output_schema: AgentOutputSchemaBase | None
    handoffs: list[Handoff]
    tracing: ModelTracing
    previous_response_id: str | None
    conversation_id: str | None
    prompt: ResponsePromptParam | None

    async def respond(self, model: Model) -> ModelResponse:
        return await model.get_response(
            self.system_instructions,
            self.input,
            self.model_settings,
            self.tools,
            self.output_schema,
            self.handoffs,
            self.tracing,
            previous_response_id=self.previous_response_id,
            conversation_id=self.conversation_id,
            prompt=self.prompt,
        )

    def stream(self, model: Model, settings: ModelSettings) -> AsyncIterator[TResponseStreamEvent]:
        return model.stream_response(
            self.system_instructions,
            self.input,
            settings,
            self.tools,
            self.output_schema,
            self.handoffs,
            self.tracing,
            previous_response_id=self.previous_response_id,
            conversation_id=self.conversation_id,
            prompt=self.prompt,
        )

    def messages(self) -> list[Any]:
        """What the router reads: the instructions as a system message, then the input."""
        items: list[Any] = []
        if self.system_instructions:
            items.append({"role": "system", "content": self.system_instructions})
        if isinstance(self.input, str):
            items.append({"role": "user", "content": self.input})
        else:
            items.extend(_flag_sdk_failure(item) for item in self.input)
        return items

    def tool_definitions(self) -> list[dict[str, Any]]:
        """The turn's tools and handoffs as function definitions, for the router's count."""
        defs: list[dict[str, Any]] = []
        for tool in self.tools:
            if isinstance(tool, FunctionTool):
                defs.append(_function(tool.name, tool.description, tool.params_json_schema))
            else:  # a hosted tool: its name is what the request carries for it
                defs.append({"type": str(getattr(tool, "name", type(tool).__name__))})
        for handoff in self.handoffs:
            defs.append(
                _function(handoff.tool_name, handoff.tool_description, handoff.input_json_schema)
            )
        return defs


def _flag_sdk_failure(item: Any) -> Any:
    """``item`` flagged ``is_error: true`` (a copy) when it is a tool output carrying the SDK's
    own failed-tool text (the ``openai_agents`` preset); else ``item`` itself."""
    if (
        isinstance(item, Mapping)
        and item.get("type") in ("function_call_output", "custom_tool_call_output")
        and item.get("is_error") is not True
        and is_tool_error(openai_agents_tool_error_detector, item.get("output"), shape="responses")
    ):
        return {**item, "is_error": True}
    return item


def _function(name: str, description: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "function", "name": name, "description": description, "parameters": parameters}


class _DeploymentModels:
    """The SDK model of each deployment, made on first use (one ``AsyncOpenAI`` client each,
    its retries off) and made again only when the deployment's address or key changes."""

    def __init__(self, api: ModelApi) -> None:
        self.api = api
        self._models: dict[tuple[Any, ...], tuple[Model, AsyncOpenAI]] = {}

    def model_for(self, deployment: Deployment) -> Model:
        key = (
            deployment.key,
            deployment.base_url,
            deployment.api_key,
            tuple(sorted(deployment.headers.items())),
        )
        made = self._models.get(key)
        if made is None:
            client = AsyncOpenAI(
                api_key=deployment.api_key,
                base_url=deployment.base_url,
                default_headers=dict(deployment.headers) or None,
                max_retries=0,
            )
            model: Model
            if self.api == "responses":
                model = OpenAIResponsesModel(model=deployment.name, openai_client=client)
            else:
                model = OpenAIChatCompletionsModel(model=deployment.name, openai_client=client)
            made = self._models[key] = (model, client)
        return made[0]

    async def aclose(self) -> None:
        made, self._models = list(self._models.values()), {}
        for model, client in made:
            await model.close()
            await client.close()


def _session_id() -> str | None:
    """The current run's group id, else its trace id; ``None`` when tracing is off."""
    trace = get_current_trace()
    if trace is None or isinstance(trace, NoOpTrace):
        return None
    group = getattr(trace, "group_id", None)
    if isinstance(group, str) and group:
        return group
    trace_id = trace.trace_id
    return trace_id if isinstance(trace_id, str) and trace_id else None


class RoutedModel(Model):
    """An Agents SDK ``Model`` that routes each turn (see the module docstring). Made by
    :meth:`RoutedModelProvider.get_model`."""

    def __init__(self, router: RouterLike, models: _DeploymentModels) -> None:
        self._router = router
        self._models = models

        async def respond(
            messages: Any, *, model: str, deployment: Deployment, tools: Any, turn: _Turn
        ) -> ModelResponse:
            return await turn.respond(models.model_for(deployment))

        async def stream(
            messages: Any, *, model: str, deployment: Deployment, tools: Any, turn: _Turn
        ) -> AsyncIterator[TResponseStreamEvent]:
            settings = turn.model_settings
            if models.api == "chat_completions" and settings.include_usage is None:
                settings = dataclasses.replace(settings, include_usage=True)
            events = turn.stream(models.model_for(deployment), settings)
            try:  # inside the attempt: a failure before the first event fails over
                first = await anext(events)
            except StopAsyncIteration:
                return _events((), events)
            except BaseException:
                await _aclose(events)
                raise
            return _events((first,), events)

        # usage: ModelResponse.usage read here; a stream's response.completed event is read by
        # the router's own stream reader (it ends the stream's usage report there)
        self._respond = router.wrap(
            respond, deployment_param="deployment", usage_of=usage_of_model_response
        )
        self._stream = router.wrap(stream, deployment_param="deployment")

    def _session(self) -> contextlib.AbstractContextManager[None]:
        session_id = _session_id()
        if session_id is None:
            return contextlib.nullcontext()
        return self._router.bind_session(session_id)

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> ModelResponse:
        turn = _Turn(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id,
            conversation_id,
            prompt,
        )
        with self._session():
            response: ModelResponse = await self._respond(
                turn.messages(), tools=turn.tool_definitions(), turn=turn
            )
        return response

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        turn = _Turn(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id,
            conversation_id,
            prompt,
        )
        with self._session():
            events: AsyncIterator[TResponseStreamEvent] = await self._stream(
                turn.messages(), tools=turn.tool_definitions(), turn=turn
            )
        try:
            async for event in events:
                yield event
        finally:
            await _aclose(events)


async def _events(
    first: Sequence[TResponseStreamEvent], rest: AsyncIterator[TResponseStreamEvent]
) -> AsyncIterator[TResponseStreamEvent]:
    """The stream again from its first event (already read, inside the attempt)."""
    try:
        for event in first:
            yield event
        async for event in rest:
            yield event
    finally:
        await _aclose(rest)


async def _aclose(events: object) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


class RoutedModelProvider(ModelProvider):
    """An Agents SDK ``ModelProvider`` routing every turn of a run through ``router``: pass it
    as ``RunConfig(model_provider=RoutedModelProvider(router))``.

    Args:
        router: the router; every deployment of its tiers' models must be of an
            ``openai``-kind provider.
        api: the OpenAI API the SDK model of each deployment speaks: ``"responses"`` (the
            SDK's ``OpenAIResponsesModel``, its default) or ``"chat_completions"``
            (``OpenAIChatCompletionsModel``, for servers without the Responses API).

    Raises:
        ConfigurationError: a tiered model has a deployment of a non-``openai`` provider, or
            ``api`` is neither value.
    """

    def __init__(self, router: RouterLike, *, api: ModelApi = "responses") -> None:
        if api not in _APIS:
            raise ConfigurationError(
                f"RoutedModelProvider: api must be one of {', '.join(_APIS)}, got {api!r}"
            )
        _require_openai_kind(router)
        self._models = _DeploymentModels(api)
        self._model = RoutedModel(router, self._models)

    def get_model(self, model_name: str | None) -> Model:
        """The routed model (the same for every name: the router chooses the model)."""
        return self._model

    async def aclose(self) -> None:
        """Close the SDK clients made for the deployments."""
        await self._models.aclose()


def _require_openai_kind(router: RouterLike) -> None:
    config = router.config
    refused: list[str] = []
    for names in config.tiers.values():
        for name in names:
            for i, deployment in enumerate(config.models[name].deployments):
                kind = config.providers[deployment.provider].kind
                if kind != "openai":
                    refused.append(
                        f"models.{name}.deployments.{i}.provider ({deployment.provider!r}, "
                        f"kind {kind!r})"
                    )
    if refused:
        raise ConfigurationError(
            "RoutedModelProvider: the Agents SDK's OpenAI models speak the Responses and Chat "
            "Completions APIs only, so every tiered deployment must be of an 'openai'-kind "
            "provider; not: " + ", ".join(dict.fromkeys(refused))
        )
