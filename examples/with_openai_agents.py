"""The OpenAI Agents SDK, routed: ``RunConfig(model_provider=RoutedModelProvider(router))``.

The airline agent runs twice against the simulator (``Runner.run``, then
``Runner.run_streamed``). Its cheap model tries to change a basic economy fare; the tool raises,
the SDK answers the model with its default failure text ("An error occurred while running the
tool. …"), which the integration flags as a tool error for the router (the ``openai_agents``
preset's test): the next turn goes to the top tier. Each run is one session, named by its trace id.

The SDK's models speak the OpenAI APIs only, so both tiers are served here by the simulator's
OpenAI-compatible instance (it plays both skills by model name); a router with an
Anthropic-kind deployment is refused by ``RoutedModelProvider`` with a ConfigurationError.

Run: ``python examples/with_openai_agents.py`` (starts the simulator itself, or uses
``$AGENTROUTE_SIM_URL``). Exits non-zero if a run did not escalate.
"""

from __future__ import annotations

import asyncio
import sys

from _frameworks import (
    SYSTEM_PROMPT,
    USER_REQUEST,
    StepTable,
    ToolRefused,
    get_reservation,
    openai_only_config,
    search_flights,
    simulator,
    update_reservation,
)
from agents import Agent, RunConfig, Runner, function_tool, set_trace_processors

from agentroute import Router
from agentroute.integrations.openai_agents import RoutedModelProvider


@function_tool(name_override="update_reservation")
def change_reservation(reservation_id: str, flight: str, cabin: str) -> str:
    """Change flight and cabin."""
    answer = update_reservation(reservation_id, flight, cabin)
    if answer.startswith("Error"):
        raise ToolRefused(answer)  # the SDK's default failure_error_function answers the model
    return answer


AGENT = Agent(
    name="airline",
    instructions=SYSTEM_PROMPT,
    tools=[function_tool(get_reservation), function_tool(search_flights), change_reservation],
)


async def main(sim_url: str) -> int:
    # no export of the SDK's traces (to OpenAI); the runs' trace ids are still made and read
    set_trace_processors([])
    failed = False
    for streamed in (False, True):
        table = StepTable()
        router = Router(openai_only_config(sim_url), middleware=[table])
        provider = RoutedModelProvider(router)  # the two-line change: this, and the RunConfig
        run_config = RunConfig(model_provider=provider)
        try:
            if streamed:
                stream = Runner.run_streamed(AGENT, USER_REQUEST, run_config=run_config)
                async for _ in stream.stream_events():
                    pass
                answer = stream.final_output
            else:
                result = await Runner.run(AGENT, USER_REQUEST, run_config=run_config)
                answer = result.final_output
        finally:
            await provider.aclose()
        table.print("Runner.run_streamed" if streamed else "Runner.run")
        print(f"  answer: {answer}\n")
        if "complex" not in table.tiers:
            print("error: the run did not escalate to the top tier", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    with simulator() as url:
        status = asyncio.run(main(url))
    sys.exit(status)  # outside the simulator's block: SystemExit must not pass through it
