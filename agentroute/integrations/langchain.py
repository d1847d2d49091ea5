"""LangChain v1: route every model call of a ``create_agent`` agent through a Router.

What it adds: :class:`AgentRouteMiddleware`, a LangChain ``AgentMiddleware`` whose
``wrap_model_call`` / ``awrap_model_call`` hand each model call to the router. The router
decides on the conversation as LangChain holds it (``request.messages``, the system message
first, the tools as OpenAI tool schemas) and the chosen deployment's chat model serves the call:
``handler(request.override(model=...))``, so everything else of the agent (tool binding,
structured output, the other middlewares, LangGraph's streaming callbacks) stays LangChain's.
One chat model is built per deployment and kept: ``ChatOpenAI`` for ``kind: openai``
(``stream_usage=True``, so streamed answers report usage), ``ChatAnthropic`` for ``kind:
anthropic``, each with the deployment's ``base_url``, ``api_key`` and headers and
``max_retries=0`` (the router retries and fails over; it must see every fault). Pass
``chat_model_factory`` to build them yourself (Azure, Bedrock, …); keep its retries off. The model
given to ``create_agent`` is never called: pass :attr:`AgentRouteMiddleware.model` (a stand-in
that says so if it is called without the middleware) or any chat model you already have.

Usage is read from the answer's ``AIMessage.usage_metadata`` (``input_tokens`` includes cache
reads and writes; ``input_token_details.cache_read`` / ``cache_creation``), also for answers
LangChain streamed (``astream(stream_mode="messages")``): the handler still returns the whole
message, whose usage LangChain added up from the chunks.

Session id: the LangGraph thread id — ``config={"configurable": {"thread_id": ...}}``, as the
run's ``runtime.execution_info`` carries it, else the run's config — bound with
``router.bind_session(str(thread_id))``: every model call of the thread (across ``invoke``
calls, with a checkpointer) shares one step counter, tier and cost. Without a thread id the
router's implicit sessions match the calls by their content.

Tool errors: the router reads LangChain's message objects as they are. ``ToolNode`` turns a
raised exception into ``ToolMessage(status="error")`` only when asked (``handle_tool_errors``,
LangChain's ``ToolErrorMiddleware``, a tool's ``handle_tool_error`` with ``ToolException``);
by default a tool that raises ends the run. Such a message always counts as a tool error
(``status="error"`` is an explicit flag, like Anthropic's ``is_error``, whatever the router's
detector: :mod:`agentroute.policy.tool_errors`); a result whose text starts with ``Error``
counts with the ``default`` preset.

Sync and async: ``awrap_model_call`` (``ainvoke``/``astream``, asyncio only, as LangGraph) runs
the routed call in the caller's task. ``wrap_model_call`` (``invoke``/``stream``; LangChain
never calls the async hook there) runs it on one event loop thread the middleware owns, started
on first use (the router is async and not thread-safe: its calls run on one loop), and the sync
``handler`` on a worker thread of that loop, in a copy of the calling thread's context (where
LangGraph keeps the run's config and callbacks, so sync streaming and tracing work).
:meth:`AgentRouteMiddleware.close` stops that thread; it is also stopped when the middleware is
collected or the interpreter exits. One router serves either the sync or the async calls of a
process, not both at once (two event loops).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import anyio.to_thread
from anyio.from_thread import BlockingPortal, start_blocking_portal

from agentroute.integrations._extras import missing_extra

try:
    from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
except ImportError as exc:
    raise missing_extra("langchain", "langchain", exc) from exc
from langchain.agents.middleware.types import AgentState, ExtendedModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from agentroute._router_like import RouterLike
from agentroute._types import Deployment, Usage
from agentroute.errors import ConfigurationError
from agentroute.providers.usage import usage_from_response

__all__ = [
    "AgentRouteMiddleware",
    "ChatModelFactory",
    "build_chat_model",
    "thread_id_of",
    "usage_of",
]

ChatModelFactory: TypeAlias = Callable[[Deployment], BaseChatModel]
"""Builds the chat model that serves a deployment (called once per deployment)."""

_ModelCallResult: TypeAlias = ModelResponse[Any] | AIMessage | ExtendedModelResponse[Any]


def build_chat_model(deployment: Deployment, **kwargs: Any) -> BaseChatModel:
    """The chat model for ``deployment``: ``ChatOpenAI`` (``kind: openai``, with
    ``stream_usage=True``) or ``ChatAnthropic`` (``kind: anthropic``), on the deployment's
    ``base_url``, ``api_key`` and headers, with ``max_retries=0``; ``kwargs`` (temperature,
    timeout, …) are passed on and may not switch the retries back on.

    Raises:
        ConfigurationError: another kind, or its LangChain package is missing.
    """
    options: dict[str, Any] = {"model": deployment.name, "max_retries": 0, **kwargs}
    if options["max_retries"]:
        raise ConfigurationError(
            "AgentRouteMiddleware: max_retries must be 0 (the router retries and fails over)"
        )
    if deployment.base_url is not None:
        options["base_url"] = deployment.base_url
    if deployment.api_key is not None:
        options["api_key"] = deployment.api_key
    if deployment.headers:
        options["default_headers"] = {**deployment.headers, **options.get("default_headers", {})}
    try:
        if deployment.kind == "openai":
            from langchain_openai import ChatOpenAI

            options.setdefault("stream_usage", True)
            return ChatOpenAI(**options)
        if deployment.kind == "anthropic":
            from langchain_anthropic import ChatAnthropic

            return ChatAnthropic(**options)
    except ImportError as exc:
        raise ConfigurationError(
            f"providers.{deployment.provider}: kind {deployment.kind!r} needs "
            f"langchain-{deployment.kind} (pip install 'agentroute[langchain]'): {exc.msg}"
        ) from None
    raise ConfigurationError(
        f"providers.{deployment.provider}: no LangChain chat model for kind "
        f"{deployment.kind!r}; pass AgentRouteMiddleware(chat_model_factory=...)"
    )


def usage_of(response: object) -> Usage | None:
    """The usage of a model call's answer: the ``usage_metadata`` of its last ``AIMessage``
    (a ``ModelResponse``, an ``ExtendedModelResponse`` or the message itself); ``None`` when
    it reported none (the router then charges its estimate, and says so)."""
    if isinstance(response, ExtendedModelResponse):
        response = response.model_response
    messages: Sequence[object] = (
        response.result if isinstance(response, ModelResponse) else (response,)
    )
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            return usage_from_response(message)
    return None


def thread_id_of(request: ModelRequest[Any]) -> str | None:
    """The LangGraph thread id of the run ``request`` belongs to: the runtime's execution info,
    else ``configurable.thread_id`` of the run's config; ``None`` without one."""
    info = getattr(request.runtime, "execution_info", None)
    thread = getattr(info, "thread_id", None)
    if thread is None:
        from langgraph.config import get_config

        try:
            configurable = get_config().get("configurable") or {}
        except RuntimeError:  # not inside a LangGraph run
            return None
        thread = configurable.get("thread_id")
    return None if thread is None or thread == "" else str(thread)


def _tool_schemas(tools: Sequence[BaseTool | dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The request's tools as OpenAI tool schemas, which the router reads (its token count);
    a provider's built-in tool (a dict) as it is."""
    if not tools:
        return None
    return [tool if isinstance(tool, dict) else convert_to_openai_tool(tool) for tool in tools]


class _LoopThread:
    """One event loop in a daemon thread, started on first use, for the sync model calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stack: contextlib.ExitStack | None = None
        self._portal: BlockingPortal | None = None

    def portal(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                stack = contextlib.ExitStack()
                self._portal = stack.enter_context(
                    start_blocking_portal(name="agentroute-langchain")
                )
                self._stack = stack
            return self._portal

    def close(self) -> None:
        with self._lock:
            stack, self._stack, self._portal = self._stack, None, None
        if stack is not None:
            stack.close()


class _NotRouted(BaseChatModel):
    """The model handed to ``create_agent``: the middleware replaces it on every call."""

    @property
    def _llm_type(self) -> str:
        return "agentroute-routed"

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        raise RuntimeError(
            "this model is routed by AgentRouteMiddleware: pass the middleware to "
            "create_agent(model=routing.model, middleware=[routing])"
        )


class AgentRouteMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Routes each model call of a LangChain v1 agent through ``router`` (see the module
    docstring)::

        routing = AgentRouteMiddleware(router)
        agent = create_agent(routing.model, tools, middleware=[routing])

    Args:
        router: the router deciding each call (its tool-error detector should include the
            ``langchain`` preset for ``ToolMessage(status="error")`` to count).
        chat_model_factory: builds the chat model serving a deployment (default:
            :func:`build_chat_model` with ``chat_model_kwargs``); called once per deployment.
        **chat_model_kwargs: passed to every chat model the default builder makes
            (``temperature``, ``timeout``, …).

    Raises:
        ConfigurationError: ``router`` is not a Router, or ``chat_model_factory`` is given with
            ``chat_model_kwargs``.
    """

    def __init__(
        self,
        router: RouterLike,
        *,
        chat_model_factory: ChatModelFactory | None = None,
        **chat_model_kwargs: Any,
    ) -> None:
        super().__init__()
        if not isinstance(router, RouterLike):
            raise ConfigurationError(
                f"AgentRouteMiddleware: router must be an agentroute.Router, got "
                f"{type(router).__name__}"
            )
        if chat_model_factory is not None and chat_model_kwargs:
            raise ConfigurationError(
                "AgentRouteMiddleware: chat_model_kwargs are for the default builder; "
                "with chat_model_factory, set them in your factory"
            )
        self.router = router
        self._build: ChatModelFactory = chat_model_factory or functools.partial(
            build_chat_model, **chat_model_kwargs
        )
        self._models: dict[tuple[str, str | None, str | None, tuple[Any, ...]], BaseChatModel]
        self._models = {}
        self._routed = router.wrap(
            self._call_model, deployment_param="deployment", usage_of=usage_of
        )
        self._loop = _LoopThread()
        self._finalizer = weakref.finalize(self, self._loop.close)
        self.model: BaseChatModel = _NotRouted()
        """A stand-in for ``create_agent``'s model argument (never called: each call is
        served by the routed deployment's chat model)."""

    # the routed function ----------------------------------------------------------------------

    def chat_model(self, deployment: Deployment) -> BaseChatModel:
        """The chat model serving ``deployment``, built on first use (a changed key, URL or
        headers builds a new one)."""
        key = (
            deployment.key,
            deployment.base_url,
            deployment.api_key,
            tuple(sorted(deployment.headers.items())),
        )
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = self._build(deployment)
        return model

    async def _call_model(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str,
        deployment: Deployment,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[_ModelCallResult]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        **configured: Any,
    ) -> _ModelCallResult:
        """What the router calls with its choice: the agent's own model call, on the chosen
        deployment's chat model (``model`` and ``tools`` are the router's; LangChain binds the
        request's tools itself). The deployment's configured ``kwargs`` (``temperature``,
        ``max_tokens``, …) join the request's ``model_settings``, which LangChain passes to the
        model call."""
        del model, tools
        chat = self.chat_model(deployment)
        if configured:
            settings = {**request.model_settings, **configured}
            return await handler(request.override(model=chat, model_settings=settings))
        return await handler(request.override(model=chat))

    async def _route(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[_ModelCallResult]],
        thread_id: str | None,
    ) -> _ModelCallResult:
        messages: list[BaseMessage] = list(request.messages)
        if request.system_message is not None:
            messages.insert(0, request.system_message)
        with self._session(thread_id):
            result: _ModelCallResult = await self._routed(
                messages, request=request, handler=handler, tools=_tool_schemas(request.tools)
            )
        return result

    @contextlib.contextmanager
    def _session(self, thread_id: str | None) -> Iterator[None]:
        if thread_id is None:
            yield
        else:
            with self.router.bind_session(thread_id):
                yield

    # LangChain's hooks --------------------------------------------------------------------------

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any] | AIMessage | ExtendedModelResponse[Any]:
        """Route the call in the caller's task (``ainvoke``/``astream``)."""
        return await self._route(request, handler, thread_id_of(request))

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any] | AIMessage | ExtendedModelResponse[Any]:
        """Route the call on the middleware's loop thread (``invoke``/``stream``), the sync
        ``handler`` on a worker thread in a copy of this thread's context."""
        thread_id = thread_id_of(request)
        context = contextvars.copy_context()

        async def run_handler(routed: ModelRequest[Any]) -> ModelResponse[Any]:
            return await anyio.to_thread.run_sync(context.run, handler, routed)

        result: _ModelCallResult = self._loop.portal().call(
            self._route, request, run_handler, thread_id
        )
        return result

    def close(self) -> None:
        """Stop the event loop thread of the sync calls (if one was started). The router is
        the caller's: it is left open."""
        self._loop.close()
