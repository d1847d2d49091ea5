"""pydantic-ai, routed: ``Agent(RoutedModel(router), tools=[...])``.

The airline agent runs twice against the simulator (``agent.run``, then ``agent.run_stream``).
Its cheap model, served over an OpenAI-compatible API, tries to change a basic economy fare; the
``update_reservation`` tool refuses by raising ``ModelRetry`` — pydantic-ai's own way to tell the
model to try again, which it sends back as the call's result with ``outcome="retried"`` and which
``RoutedModel`` counts as a tool error. The next request escalates, mid-run, to the top model,
served over the Anthropic Messages API, which asks for economy. Each run is one session, named
by the agent run's id.

Run: ``python examples/with_pydantic_ai.py`` (starts the simulator itself, or uses
``$AGENTROUTE_SIM_URL``). Exits non-zero if a run did not escalate.
"""

from __future__ import annotations

import asyncio
import sys

from _frameworks import (
    SYSTEM_PROMPT,
    USER_REQUEST,
    StepTable,
    get_reservation,
    router_config,
    search_flights,
    simulator,
    update_reservation,
)
from pydantic_ai import Agent, ModelRetry, Tool

from agentroute import Router
from agentroute.integrations.pydantic_ai import RoutedModel


def change_reservation(reservation_id: str, flight: str, cabin: str) -> str:
    """Change flight and cabin."""
    answer = update_reservation(reservation_id, flight, cabin)
    if answer.startswith("Error"):
        raise ModelRetry(answer)  # pydantic-ai answers the call with this text, as a retry
    return answer


async def main(sim_url: str) -> int:
    failed = False
    for streamed in (False, True):
        table = StepTable()
        router = Router(router_config(sim_url), middleware=[table])
        agent = Agent(
            RoutedModel(router),  # the two-line change: this, and the import
            tools=[
                get_reservation,
                search_flights,
                Tool(change_reservation, name="update_reservation"),
            ],
            system_prompt=SYSTEM_PROMPT,
        )
        if streamed:
            async with agent.run_stream(USER_REQUEST) as stream:
                answer = await stream.get_output()
            run_id = stream.run_id
        else:
            result = await agent.run(USER_REQUEST)
            answer, run_id = result.output, result.run_id
        how = "agent.run_stream" if streamed else "agent.run"
        table.print(f"{how} (run id {run_id})")
        print(f"  answer: {answer}\n")
        escalated = "simple" in table.tiers and table.tiers[-1] == "complex"
        if not escalated or any(row[0] != run_id for row in table.rows):
            print(f"{how}: no escalation from the cheap tier, or not one session", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    with simulator() as url:
        code = asyncio.run(main(url))
    sys.exit(code)
