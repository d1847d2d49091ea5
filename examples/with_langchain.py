"""A LangChain v1 agent (``create_agent``) whose every model call is routed by agentroute.

The change to an existing agent is one middleware: ``AgentRouteMiddleware(router)`` in
``create_agent(..., middleware=[...])``; the model it is given is replaced on every call by the
chat model of the deployment the router chose. Here the cheap tier is an OpenAI-compatible
model and the top tier an Anthropic one, both served by agentroute's simulator: the cheap model
asks for a basic economy fare, ``update_reservation`` raises :class:`ToolRefused`, LangChain's
``ToolErrorMiddleware`` turns that into ``ToolMessage(status="error")``, and the router (with the
``langchain`` tool-error preset) sends the next step to the top tier. The LangGraph thread id
is the router's session. It runs the agent once with ``invoke`` (sync) and once with
``astream`` (async, the model's tokens streamed), and exits non-zero if either run did not
escalate.

    python examples/with_langchain.py
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
from _frameworks import (
    SYSTEM_PROMPT,
    USER_REQUEST,
    StepTable,
    ToolRefused,
    get_reservation,
    router_config,
    search_flights,
    simulator,
)
from _frameworks import update_reservation as update_reservation_text
from langchain.agents import create_agent
from langchain.agents.middleware import ToolCallRequest, ToolErrorMiddleware
from langchain_core.messages import AIMessageChunk
from langgraph.checkpoint.memory import InMemorySaver

from agentroute import Router
from agentroute.integrations.langchain import AgentRouteMiddleware


def update_reservation(reservation_id: str, flight: str, cabin: str) -> str:
    """Change flight and cabin (a basic economy fare cannot be changed)."""
    answer = update_reservation_text(reservation_id, flight, cabin)
    if answer.startswith("Error"):
        raise ToolRefused(answer.removeprefix("Error: "))
    return answer


def refused(exc: Exception, request: ToolCallRequest) -> str | None:
    """A refused change goes back to the model as ``ToolMessage(status="error")``; any other
    exception ends the run (LangChain's default)."""
    return f"{request.tool_call['name']} refused: {exc}" if isinstance(exc, ToolRefused) else None


def build(url: str) -> tuple[Any, AgentRouteMiddleware, StepTable]:
    table = StepTable()
    router = Router(router_config(url), middleware=[table])
    routing = AgentRouteMiddleware(router)
    agent = create_agent(
        routing.model,
        [get_reservation, search_flights, update_reservation],
        system_prompt=SYSTEM_PROMPT,
        middleware=[routing, ToolErrorMiddleware(on_error=refused)],
        checkpointer=InMemorySaver(),
    )
    return agent, routing, table


def run_sync(url: str) -> StepTable:
    agent, routing, table = build(url)
    try:
        state = agent.invoke(
            {"messages": [{"role": "user", "content": USER_REQUEST}]},
            config={"configurable": {"thread_id": "langchain-invoke"}},
        )
    finally:
        routing.close()
    print(f"invoke: {state['messages'][-1].text[:100]}")
    return table


async def run_streamed(url: str) -> StepTable:
    agent, _, table = build(url)
    chunks = 0
    async for message, _metadata in agent.astream(
        {"messages": [{"role": "user", "content": USER_REQUEST}]},
        config={"configurable": {"thread_id": "langchain-astream"}},
        stream_mode="messages",
    ):
        chunks += isinstance(message, AIMessageChunk)
    print(f"astream: {chunks} model chunks streamed")
    return table


def main() -> int:
    with simulator() as url:
        tables = {"invoke": run_sync(url), "astream": anyio.run(run_streamed, url)}
    escalated = True
    for title, table in tables.items():
        table.print(f"LangChain create_agent ({title})")
        escalated &= table.tiers[:1] == ["simple"] and "complex" in table.tiers
    if not escalated:
        print("expected the cheap tier first, then an escalation after the tool error")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
