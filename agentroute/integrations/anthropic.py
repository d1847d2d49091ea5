"""A routed ``anthropic.AsyncAnthropic``: swap the client, keep the agent loop.

    client = router.anthropic_client()       # was: anthropic.AsyncAnthropic(...)
    message = await client.messages.create(model="any", max_tokens=1024, messages=..., tools=...)
    async with client.messages.stream(model="any", max_tokens=1024, messages=...) as stream:
        ...

What it adds: ``messages`` whose ``create`` (plain and ``stream=True``), ``stream(...)`` helper
and ``with_raw_response.create`` route every call: the router picks the tier, model and
deployment, replaces whatever ``model=`` the caller passed with the deployment's model name, and
sends the request through an ``anthropic.AsyncAnthropic`` of that deployment (one per deployment,
built on first use with its provider's ``base_url``, ``api_key`` and ``headers``, and
``max_retries=0``: the router retries and fails over, so it must see every fault). The answers
are the SDK's own types (``Message``, ``AsyncStream``, the ``AsyncMessageStream`` helper …).
``messages.stream(...)`` returns an async context manager: the call is routed when it is entered
(a failure to open the stream fails over like any call), and ``async with`` gives the SDK's own
``AsyncMessageStream`` (``text_stream``, ``get_final_message()`` …); the call is charged from
the stream's own usage (``message_start`` and the final ``message_delta``) when it ends.

Session: the router's usual one. Inside ``async with router.session()`` or ``with
router.bind_session(id)`` the calls join that session; otherwise each conversation is matched to
an implicit session by its content and ``system`` prompt (:mod:`agentroute.implicit_sessions`).
A call may name its session with ``agentroute_session="run-42"`` (taken out before the SDK sees
the call). Anthropic's ``metadata`` (``user_id``) is the caller's data for Anthropic, never read.

Tool errors: read from the history the call sends (``tool_result`` blocks, ``is_error`` or a
text the config's ``policy.tool_error_detector`` detector calls an error).

Decisions where the issue was silent:

* Only deployments of kind ``anthropic`` can serve the Messages API: a router whose tiers route
  to an ``openai`` deployment is refused when the client is built (a ConfigurationError naming
  each such deployment and its tier).
* ``max_retries`` other than 0, ``api_key`` and ``base_url`` are refused as client options
  (ConfigurationError): the latter two are per deployment, in the router's config. Other options
  (``timeout``, ``http_client``, ``default_headers`` …) go to every client; a deployment's
  headers win over ``default_headers``. A deployment's configured ``kwargs`` are passed to each
  request, so client options there are refused.
* Async only (``AsyncAnthropic``): the router is async.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentroute.integrations._extras import missing_extra

try:
    import anthropic
except ImportError as exc:
    raise missing_extra("anthropic", "anthropic", exc) from exc

from agentroute.integrations._sdk_clients import (
    RoutedResource,
    RoutedSdkClient,
    SdkClients,
    client_options,
    require_kind,
)

if TYPE_CHECKING:
    from agentroute._router_like import RouterLike

__all__ = ["RoutedAsyncAnthropic", "routed"]

_LABEL = "the routed anthropic client"


class RoutedAsyncAnthropic(RoutedSdkClient):
    """An ``anthropic.AsyncAnthropic`` stand-in whose calls are routed (module docstring).

    Attributes:
        messages: ``messages.create(...)``, ``.stream(...)``, ``.with_raw_response.create``.
        router: the router it routes through.
    """

    def __init__(self, router: RouterLike, **client_kwargs: Any) -> None:
        require_kind(router, "anthropic", _LABEL)
        options = client_options(anthropic.AsyncAnthropic, client_kwargs, _LABEL)
        clients: SdkClients[anthropic.AsyncAnthropic] = SdkClients(
            anthropic.AsyncAnthropic, options
        )
        super().__init__(router, clients)
        self.messages = RoutedResource(
            router, clients, "messages", messages_param="messages", label="RoutedAsyncAnthropic"
        )


def routed(router: RouterLike, **client_kwargs: Any) -> RoutedAsyncAnthropic:
    """A routed ``AsyncAnthropic`` on ``router`` (``router.anthropic_client()`` is the same).

    Args:
        router: routes every call.
        client_kwargs: options for every ``anthropic.AsyncAnthropic`` built (``timeout``,
            ``http_client`` …; ``max_retries`` only as 0).

    Raises:
        ConfigurationError: a tier routes to a deployment that is not of kind ``anthropic``,
            an option is refused or unknown, or a deployment's kwargs hold a client option.
    """
    return RoutedAsyncAnthropic(router, **client_kwargs)
