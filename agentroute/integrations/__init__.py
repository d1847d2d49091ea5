"""Per-step routing for the agent SDKs and frameworks people already use: one module each,
imported only when used (``import agentroute`` imports none of them, nor any framework).

* :mod:`agentroute.integrations.openai` — a routed ``AsyncOpenAI`` stand-in
  (``router.openai_client()``);
* :mod:`agentroute.integrations.anthropic` — a routed ``AsyncAnthropic`` stand-in
  (``router.anthropic_client()``);
* :mod:`agentroute.integrations.pydantic_ai` — ``RoutedModel``, a pydantic-ai ``Model``;
* :mod:`agentroute.integrations.langchain` — ``AgentRouteMiddleware`` for LangChain v1's
  ``create_agent``;
* :mod:`agentroute.integrations.openai_agents` — ``RoutedModelProvider`` for the OpenAI
  Agents SDK's ``RunConfig(model_provider=...)``.

LiteLLM needs no module: ``router.wrap(litellm.acompletion)`` works as it is (README, "Use it
with your framework"). Each framework is an optional extra (``agentroute[pydantic-ai]``,
``[langchain]``, ``[openai-agents]``, ``[litellm]``, ``[openai]``, ``[anthropic]``).
"""

__all__: list[str] = []
