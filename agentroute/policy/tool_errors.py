"""Which tool results are errors: one detector for every message shape, and named presets.

The router reads tool results in three shapes — OpenAI ``role: "tool"`` messages, Anthropic
``tool_result`` blocks and Responses API ``function_call_output`` items — and asks one
detector about each of them, the same one the built-in providers use when they carry a
result's error flag from one shape to the other. A result flagged ``is_error: true`` (Anthropic's
flag) or ``status: "error"`` (LangChain's ``ToolMessage``) is always an error, whatever the
detector: the framework said so; every other result is judged by the detector, which gets a
:class:`ToolResult`: the result's text (its text parts joined), the content as given, its
``status`` when it has one, and the shape it came in.

Presets, selected by name (``Router(tool_error_detector="openai_agents")`` or
``policy.tool_error_detector: [default, openai_agents]``; a list counts a result as an error
when any of its detectors says so):

* ``default`` — the text's first word is ``Error``/``ERROR``/``error:``/``Exception``/
  ``Traceback`` (so ``"Errors: 0"`` and ``"Exceptional"`` are not errors), or the text is a
  JSON object whose ``error`` (or ``Error``) value is set (``{"error": null}`` is a success).
* ``openai_agents`` — the OpenAI Agents SDK's own texts for a failed tool: its default
  ``failure_error_function`` answer, "An error occurred while running the tool. Please try
  again." (older releases append "Error: …"), and its timeout answer, "Tool 'name' timed out
  after N seconds.".
* ``pydantic_ai`` — pydantic-ai's retry prompt, the text a ``RetryPromptPart`` is rendered to
  as a tool result (a ``ModelRetry`` message or "N validation errors: …" followed by "Fix the
  errors and try again."), and the ``{"error": …}`` object its newer releases send for a
  failed or retried tool return.
* ``langchain`` — LangChain's ``ToolMessage(status="error")``: any tool result (a message
  dict or object) whose ``status`` is ``"error"`` (which every detector now counts, as an
  explicit flag: the preset is kept so that configs naming it stay valid). LangChain's own
  converters to OpenAI dicts drop ``status``; pass the message objects (the router reads
  them) or keep the key.

The presets match the frameworks' *default* texts only; an application that words its own
errors passes its own detector (any callable ``(ToolResult) -> bool``), alone or in a list
with presets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeAlias, get_args

from agentroute._frozen import value_object
from agentroute._json_text import parse, text_of
from agentroute.config._policy import ToolErrorPreset
from agentroute.errors import ConfigurationError
from agentroute.messages import is_content_parts

__all__ = [
    "PRESETS",
    "ToolErrorDetector",
    "ToolErrorPreset",
    "ToolErrorSpec",
    "ToolResult",
    "any_of",
    "default_tool_error_detector",
    "is_tool_error",
    "langchain_tool_error_detector",
    "openai_agents_tool_error_detector",
    "pydantic_ai_tool_error_detector",
    "resolve_tool_error_detector",
    "result_text",
]

ToolShape: TypeAlias = Literal["openai", "anthropic", "responses"]


@value_object
class ToolResult:
    """One tool result as a detector sees it (whatever shape it came in).

    ``text`` is the result's text (a string content as is; the text parts of a list joined);
    ``content`` the content as given (OpenAI ``content``, Anthropic ``tool_result.content``,
    Responses ``output``); ``status`` the result's ``status`` field when it has one
    (LangChain's ``"success"``/``"error"``, a Responses item's ``"completed"``); ``shape`` one of
    ``openai``, ``anthropic``, ``responses``. ``str(result)`` is the text.
    """

    text: str
    content: Any = None
    status: str | None = None
    shape: ToolShape = "openai"

    def __str__(self) -> str:
        return self.text


ToolErrorDetector: TypeAlias = Callable[[ToolResult], bool]
ToolErrorSpec: TypeAlias = ToolErrorDetector | str | Sequence[ToolErrorDetector | str]
"""What ``Router(tool_error_detector=...)`` takes: a detector, a preset name, or a list of
either (an error when any of them says so)."""


def result_text(content: object) -> str:
    """The text of a tool result's content: a string as is, a list of content parts' text parts
    joined (OpenAI ``text``, Anthropic ``text``, Responses ``input_text``/``output_text`` parts
    all have a ``text``), ``""`` for none; any other value — a tool's data, a number, a mapping,
    a list of values (:func:`~agentroute.messages.is_content_parts`) — its JSON text."""
    if type(content) is str:
        return content
    if content is None:
        return ""
    if not is_content_parts(content):
        return text_of(content, ensure_ascii=False)  # as the built-in providers send it
    if isinstance(content, list | tuple):
        texts: list[str] = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    texts.append(text)
        return "".join(texts)
    return ""


def is_tool_error(
    detector: ToolErrorDetector,
    content: object,
    *,
    status: object = None,
    flagged: bool = False,
    shape: ToolShape = "openai",
) -> bool:
    """Whether one tool result is an error: ``flagged`` (``is_error: true``) or ``status ==
    "error"`` always is; else the detector decides. ``status`` is passed on only when it is a
    string."""
    if flagged or status == "error":
        return True
    text = content if type(content) is str else result_text(content)
    return bool(detector(ToolResult(text, content, status if type(status) is str else None, shape)))


# The shipped detectors -------------------------------------------------------------------------

_ERROR_START = re.compile(r"(?:Error\b|ERROR\b|error:|Exception\b|Traceback\b)")


def _json_error(text: str) -> bool:
    """The text is a JSON object whose ``error``/``Error`` value is set (text nested deeper than
    :data:`~agentroute._json_text.MAX_PARSE_DEPTH` levels is not read as JSON)."""
    if not text.startswith("{") or ('"error"' not in text and '"Error"' not in text):
        return False
    try:
        data = parse(text)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    value = data.get("error", data.get("Error"))
    return value not in (None, False, "", [], {})


def default_tool_error_detector(result: ToolResult) -> bool:
    """The default rule (see the module docstring): an error word first, or a JSON error."""
    head = result.text.lstrip()
    return _ERROR_START.match(head) is not None or _json_error(head)


_AGENTS_FAILURE = "An error occurred while running the tool"
_AGENTS_TIMEOUT = re.compile(r"Tool '[^']*' timed out after \S+ seconds\.")


def openai_agents_tool_error_detector(result: ToolResult) -> bool:
    """The OpenAI Agents SDK's default failure and timeout answers (module docstring)."""
    head = result.text.lstrip()
    return head.startswith(_AGENTS_FAILURE) or _AGENTS_TIMEOUT.match(head) is not None


_PYDANTIC_AI_RETRY = "Fix the errors and try again."


def pydantic_ai_tool_error_detector(result: ToolResult) -> bool:
    """pydantic-ai's retry prompt text, or its ``{"error": …}`` tool return (module docstring)."""
    text = result.text.strip()
    return text.endswith(_PYDANTIC_AI_RETRY) or _json_error(text)


def langchain_tool_error_detector(result: ToolResult) -> bool:
    """LangChain's ``ToolMessage(status="error")``."""
    return result.status == "error"


PRESETS: Mapping[str, ToolErrorDetector] = {
    "default": default_tool_error_detector,
    "openai_agents": openai_agents_tool_error_detector,
    "pydantic_ai": pydantic_ai_tool_error_detector,
    "langchain": langchain_tool_error_detector,
}
assert set(PRESETS) == set(get_args(ToolErrorPreset))


def any_of(*detectors: ToolErrorDetector) -> ToolErrorDetector:
    """A detector that says "error" when any of ``detectors`` does (in order, lazily)."""
    if len(detectors) == 1:
        return detectors[0]

    def detector(result: ToolResult) -> bool:
        return any(d(result) for d in detectors)

    detector.__qualname__ = "any_of(" + ", ".join(_name(d) for d in detectors) + ")"
    return detector


def _name(detector: ToolErrorDetector) -> str:
    for name, preset in PRESETS.items():
        if preset is detector:
            return name
    return getattr(detector, "__qualname__", type(detector).__name__)


class _HasDetector(Protocol):
    @property
    def tool_error_detector(self) -> Sequence[str]: ...


def resolve_tool_error_detector(
    spec: ToolErrorSpec | None, policy: _HasDetector | None = None
) -> ToolErrorDetector:
    """The detector ``spec`` names: a name, a callable, or a list; ``None`` is the
    ``policy.tool_error_detector`` of a config's policy, else ``default``.

    Raises:
        ConfigurationError: an unknown name, an empty list, or something not callable.
    """
    if spec is None:
        if policy is not None:
            return resolve_tool_error_detector(policy.tool_error_detector)
        return default_tool_error_detector
    if isinstance(spec, str):
        preset = PRESETS.get(spec)
        if preset is None:
            raise ConfigurationError(
                f"tool_error_detector: unknown preset {spec!r} (known: {', '.join(PRESETS)})"
            )
        return preset
    if callable(spec):
        return spec
    if isinstance(spec, Sequence) and spec:
        parts: list[ToolErrorDetector | str] = list(spec)
        if any(not isinstance(p, str) and not callable(p) for p in parts):
            raise ConfigurationError(
                "tool_error_detector: a list may hold preset names and callables only"
            )
        return any_of(*(resolve_tool_error_detector(p) for p in parts))
    raise ConfigurationError(
        "tool_error_detector must be a callable (ToolResult) -> bool, a preset name "
        f"({', '.join(PRESETS)}) or a non-empty list of those, got {type(spec).__name__}"
    )
