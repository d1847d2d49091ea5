"""Conversion between the OpenAI Chat Completions and the Anthropic Messages shapes, both ways.

One import for the built-in providers and for applications that keep a conversation in one shape
and send it to the other provider. The rules are documented where they live:
:mod:`agentroute.providers.convert_messages` (system prompt, text, images, tool calls, tool
results and their error flag, portability) and :mod:`agentroute.providers.convert_tools` (tool
definitions, tool choice, tool-call ids, the tool-error detector).

Every function detects the shape of its input (message by message) and is idempotent for its own
shape, so converting twice, or converting a conversation already in the target shape, is safe.
"""

from __future__ import annotations

from agentroute.providers.convert_messages import (
    RAW_ARGUMENTS_KEY,
    AnthropicMessages,
    messages_to_anthropic,
    messages_to_openai,
)
from agentroute.providers.convert_tools import (
    ERROR_PREFIX,
    anthropic_tool_id,
    looks_like_tool_error,
    openai_tool_id,
    strip_cache_control,
    tool_choice_to_anthropic,
    tool_choice_to_openai,
    tools_to_anthropic,
    tools_to_openai,
)

__all__ = [
    "ERROR_PREFIX",
    "RAW_ARGUMENTS_KEY",
    "AnthropicMessages",
    "anthropic_tool_id",
    "looks_like_tool_error",
    "messages_to_anthropic",
    "messages_to_openai",
    "openai_tool_id",
    "strip_cache_control",
    "tool_choice_to_anthropic",
    "tool_choice_to_openai",
    "tools_to_anthropic",
    "tools_to_openai",
]
