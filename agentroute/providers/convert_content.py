"""Content conversion between the two message shapes: text parts, content blocks, images.

The parts inside a message, where :mod:`~agentroute.providers.convert_messages` converts the
messages themselves (roles, tool calls, tool results): OpenAI content parts (``text``,
``image_url`` incl. ``data:`` URLs) ↔ Anthropic content blocks (``text``, ``image`` with a base64
or url source); the Responses API's parts (``input_text``/``output_text`` → text,
``input_image`` → image, ``input_file`` → OpenAI's ``file``) are read on the way to either.
Parts one side cannot carry are dropped, and so are provider-only keys (Anthropic
``cache_control``/``citations`` never reach OpenAI; OpenAI's
``prompt_cache_breakpoint`` never reaches Anthropic).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentroute._json_text import text_of
from agentroute.messages import is_content_parts
from agentroute.providers.convert_tools import anthropic_tool_id, strip_cache_control

__all__ = [
    "ANTHROPIC_ONLY_BLOCKS",
    "ANTHROPIC_TEXT_KEYS",
    "DATA_URL",
    "OPENAI_ONLY_PARTS",
    "OPENAI_PART_KEYS",
    "RESPONSES_PARTS",
    "as_blocks",
    "content_to_anthropic",
    "content_to_openai",
    "image_to_anthropic",
    "image_to_openai",
    "joined_text",
    "part_to_anthropic",
    "part_to_openai",
]

DATA_URL = re.compile(r"data:(?P<media>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.DOTALL)
OPENAI_ONLY_PARTS = frozenset({"input_audio", "file", "refusal", "audio"})
ANTHROPIC_ONLY_BLOCKS = frozenset(
    {"tool_use", "tool_result", "thinking", "redacted_thinking", "document", "image"}
)
OPENAI_PART_KEYS = ("prompt_cache_breakpoint",)
ANTHROPIC_TEXT_KEYS = ("cache_control", "citations")


def _from_responses_part(part: Mapping[str, Any]) -> Mapping[str, Any]:
    """A Responses API content part in the Chat Completions shape (other parts as they are)."""
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part.get("text") or ""}
    if kind == "input_image":
        url = part.get("image_url")
        return {"type": "image_url", "image_url": {"url": url}} if isinstance(url, str) else {}
    if kind == "input_file":
        keys = ("file_id", "file_data", "filename")
        return {"type": "file", "file": {k: part[k] for k in keys if part.get(k) is not None}}
    return part


RESPONSES_PARTS = frozenset({"input_text", "output_text", "input_image", "input_file"})


def joined_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or "")
            for p in content
            if isinstance(p, Mapping) and p.get("type") == "text"
        )
    return ""


def image_to_anthropic(image_url: object) -> dict[str, Any] | None:
    url = image_url.get("url") if isinstance(image_url, Mapping) else image_url
    if not isinstance(url, str) or not url:
        return None
    match = DATA_URL.fullmatch(url)
    if match:
        source = {"type": "base64", "media_type": match["media"], "data": match["data"]}
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": url}}


def part_to_anthropic(part: object) -> dict[str, Any] | None:
    if isinstance(part, str):
        return {"type": "text", "text": part} if part else None
    if not isinstance(part, Mapping):
        return None
    if part.get("type") in RESPONSES_PARTS:
        part = _from_responses_part(part)
        if not part:
            return None
    kind = part.get("type")
    if kind == "text":
        if not part.get("text"):
            return None
        return {k: v for k, v in part.items() if k not in OPENAI_PART_KEYS}
    if kind == "image_url":
        return image_to_anthropic(part.get("image_url"))
    if kind in OPENAI_ONLY_PARTS:
        return None
    if kind == "tool_use":
        return {**part, "id": anthropic_tool_id(part.get("id"))}
    if kind == "tool_result":
        block = {**part, "tool_use_id": anthropic_tool_id(part.get("tool_use_id"))}
        content = part.get("content")
        if not (content is None or isinstance(content, str) or is_content_parts(content)):
            block["content"] = text_of(content, ensure_ascii=False)  # a tool's data, as text
        return block
    return dict(part)  # image, document, thinking, …: already Anthropic's


def content_to_anthropic(content: object) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return [b for b in map(part_to_anthropic, content) if b is not None]
    return ""


def as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def image_to_openai(block: Mapping[str, Any]) -> dict[str, Any] | None:
    source = block.get("source")
    if not isinstance(source, Mapping):
        return None
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        return None  # Files API references exist only at Anthropic
    return {"type": "image_url", "image_url": {"url": url}}


def part_to_openai(part: object) -> dict[str, Any] | None:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, Mapping):
        return None
    if part.get("type") in RESPONSES_PARTS:
        part = _from_responses_part(part)
        if not part:
            return None
    kind = part.get("type")
    if kind == "text":
        return {k: v for k, v in part.items() if k not in ANTHROPIC_TEXT_KEYS}
    if kind == "image":
        return image_to_openai(part)
    if kind in ANTHROPIC_ONLY_BLOCKS:
        return None
    cleaned: dict[str, Any] = strip_cache_control(part)
    return cleaned


def content_to_openai(content: object) -> object:
    if isinstance(content, list):
        return [p for p in map(part_to_openai, content) if p is not None]
    return content
