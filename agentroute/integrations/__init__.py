"""Routed clients and framework integrations, one module each. Each imports its framework only
when it is itself imported: ``import agentroute`` loads none of them.

* :mod:`agentroute.integrations.openai`: an ``openai.AsyncOpenAI`` stand-in whose
  ``chat.completions`` and ``responses`` calls are routed (``router.openai_client()``).
* :mod:`agentroute.integrations.anthropic`: the same for ``anthropic.AsyncAnthropic``'s
  ``messages`` (``router.anthropic_client()``).

LiteLLM needs no module: ``router.wrap(litellm.acompletion)`` routes it as it is.
"""
