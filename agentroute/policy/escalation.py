"""A ready-made ``escalate`` tool an application can offer its model.

When the model calls it, the router sends the *next* call one tier up (the signal
``escalation_requested``; cause ``escalation_request``). The router never runs tools: the
application answers the tool call like any other (e.g. "escalated: a stronger model takes
over"), and the next call — the one that reads that answer — is routed up. The tool's name is
``policy.escalate_tool`` in the config (``escalate`` by default).
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["DESCRIPTION", "escalate_tool"]

DESCRIPTION = (
    "Hand the next step to a stronger model. Call this when the task is beyond you: you "
    "are unsure, a tool keeps failing, or the user needs deeper reasoning. Say why."
)
_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"reason": {"type": "string", "description": "Why a stronger model is needed"}},
    "required": ["reason"],
}


def escalate_tool(
    *, name: str = "escalate", format: Literal["openai", "anthropic"] = "openai"
) -> dict[str, Any]:
    """The tool definition in OpenAI (Chat Completions) or Anthropic (Messages) shape."""
    if format == "anthropic":
        return {"name": name, "description": DESCRIPTION, "input_schema": _PARAMETERS}
    return {
        "type": "function",
        "function": {"name": name, "description": DESCRIPTION, "parameters": _PARAMETERS},
    }
