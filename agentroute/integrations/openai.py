"""A routed ``openai.AsyncOpenAI``: swap the client, keep the agent loop.

    client = router.openai_client()          # was: openai.AsyncOpenAI(...)
    response = await client.chat.completions.create(model="any", messages=..., tools=...)

What it adds: ``chat.completions`` and ``responses`` whose ``create`` (plain and
``stream=True``), ``stream(...)`` helper and ``with_raw_response.create`` route every call: the
router picks the tier, model and deployment, replaces whatever ``model=`` the caller passed with
the deployment's model name, and sends the request through an ``openai.AsyncOpenAI`` of that
deployment (one per deployment, built on first use with its provider's ``base_url``,
``api_key`` and ``headers``, and ``max_retries=0``: the router retries and fails over, so it
must see every fault). The answers are the SDK's own types (``ChatCompletion``, ``AsyncStream``,
``Response``, the raw response …); streams are watched and charged when read.

Session: the router's usual one. Inside ``async with router.session()`` or ``with
router.bind_session(id)`` the calls join that session; otherwise each conversation is matched to
an implicit session by its content (:mod:`agentroute.implicit_sessions`). A call may name its
session itself with ``agentroute_session="run-42"`` (taken out before the SDK sees the call).
OpenAI's ``user``, ``metadata`` and ``safety_identifier`` are never read for that: they are the
caller's data for OpenAI, sent as they are.

Tool errors: read from the history the call sends (Chat Completions ``tool`` messages, Responses
``function_call_output`` items) by the router's tool-error detector (the config's
``policy.tool_error_detector``; by default a result starting ``Error`` and the like).

Decisions where the issue was silent:

* Only deployments of kind ``openai`` can serve these APIs: a router whose tiers route to an
  ``anthropic`` deployment is refused when the client is built (a ConfigurationError naming
  each such deployment and its tier), not restricted silently at call time.
* ``max_retries`` other than 0, ``api_key`` and ``base_url`` are refused as client options
  (ConfigurationError): the latter two are per deployment, in the router's config. Other options
  (``timeout``, ``http_client``, ``organization``, ``default_headers`` …) go to every client; a
  deployment's headers win over ``default_headers``. A deployment's configured ``kwargs`` are
  passed to each request (``temperature``, ``extra_body`` …), so client options there are
  refused.
* A Chat Completions stream carries its usage only with ``stream_options={"include_usage":
  True}``; without it the streamed call is charged the router's input estimate
  (``agentroute.usage.estimated``). ``routed(router, stream_usage=True)`` adds that option to
  every Chat Completions stream (``create(stream=True)`` and ``stream(...)``) that sets no
  ``stream_options`` (off by default: the extra final
  chunk has no ``choices``, which code reading ``chunk.choices[0]`` does not expect).
  The Responses API always reports usage.
* Async only (``AsyncOpenAI``): the router is async. ``previous_response_id`` is passed through,
  but the router only sees the new input, and a server-side conversation does not follow an
  escalation to another deployment: send the whole history (``store=False`` style) to route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentroute.integrations._extras import missing_extra

try:
    import openai
except ImportError as exc:
    raise missing_extra("openai", "openai", exc) from exc

from agentroute.integrations._sdk_clients import (
    RoutedResource,
    RoutedSdkClient,
    SdkClients,
    client_options,
    require_kind,
)

if TYPE_CHECKING:
    from agentroute._router_like import RouterLike

__all__ = ["RoutedAsyncOpenAI", "routed"]

_LABEL = "the routed openai client"


def _include_stream_usage(params: dict[str, Any], streams: bool) -> None:
    if streams and params.get("stream_options") is None:
        params["stream_options"] = {"include_usage": True}


class _Chat:
    """``client.chat``: holds ``completions``."""

    __slots__ = ("completions",)

    def __init__(self, completions: RoutedResource) -> None:
        self.completions = completions


class RoutedAsyncOpenAI(RoutedSdkClient):
    """An ``openai.AsyncOpenAI`` stand-in whose calls are routed (module docstring).

    Attributes:
        chat: ``chat.completions.create(...)``, ``.stream(...)``, ``.with_raw_response.create``.
        responses: ``responses.create(...)``, ``.stream(...)``, ``.with_raw_response.create``.
        router: the router it routes through.
    """

    def __init__(self, router: RouterLike, *, stream_usage: bool = False, **client_kwargs: Any):
        require_kind(router, "openai", _LABEL)
        options = client_options(openai.AsyncOpenAI, client_kwargs, _LABEL)
        clients: SdkClients[openai.AsyncOpenAI] = SdkClients(openai.AsyncOpenAI, options)
        super().__init__(router, clients)
        label = "RoutedAsyncOpenAI"
        self.chat = _Chat(
            RoutedResource(
                router,
                clients,
                "chat.completions",
                messages_param="messages",
                label=label,
                prepare=_include_stream_usage if stream_usage else None,
            )
        )
        self.responses = RoutedResource(
            router, clients, "responses", messages_param="input", label=label
        )


def routed(
    router: RouterLike, *, stream_usage: bool = False, **client_kwargs: Any
) -> RoutedAsyncOpenAI:
    """A routed ``AsyncOpenAI`` on ``router`` (``router.openai_client()`` is the same).

    Args:
        router: routes every call.
        stream_usage: add ``stream_options={"include_usage": True}`` to Chat Completions
            streams that set none (exact usage for them; module docstring).
        client_kwargs: options for every ``openai.AsyncOpenAI`` built (``timeout``,
            ``http_client`` …; ``max_retries`` only as 0).

    Raises:
        ConfigurationError: a tier routes to a deployment that is not of kind ``openai``, an
            option is refused or unknown, or a deployment's kwargs hold a client option.
    """
    return RoutedAsyncOpenAI(router, stream_usage=stream_usage, **client_kwargs)
