"""Signals of one step, read from the call's messages + session.

The messages may be in OpenAI Chat, Anthropic Messages or Responses API shape, as dicts or SDK
objects, mixed (:mod:`agentroute.messages` reads each one). What is read:

* tool errors — every tool result (OpenAI ``role: tool`` messages, Anthropic ``tool_result``
  blocks, Responses ``function_call_output`` items) is judged by the one configured detector
  (:mod:`agentroute.policy.tool_errors`); ``is_error: true`` and ``status: "error"`` always
  count. ``recent`` counts the errors answering the last ``recent_window`` assistant turns that
  called tools.
* repeated tool calls — calls whose tool name and arguments (canonical JSON) already appeared
  in one of the previous ``repeat_window`` assistant turns: a stalled loop. Consecutive
  Responses ``function_call`` items (with the ``reasoning`` items between them) are one turn.
  A call is kept with its arguments' text as sent; the canonical form (a JSON round trip) is
  computed only when two calls of the same tool with different text are compared
  (:class:`ToolCall`), so a loop of distinct tools never parses an argument.
* context tokens — messages + tool schemas + a top-level ``system`` (or Responses
  ``instructions``), by the token counter.
* escalation — the model called the configured ``escalate`` tool in its last turn (a tool
  call, a ``tool_use`` block or a ``function_call`` item), the last user message contains a
  configured keyword, or the app called ``session.escalate()``.

**Incremental within a session.** Agent loops resend the whole conversation, growing by a few
messages per step. The extractor keeps one scan state per session (keyed by the session, gone
with it: :meth:`SignalExtractor.scan_session`), which remembers the identities of the
messages it has read (8 bytes each, plus :func:`content_mark` hashes of the first and last);
when the next call's list starts with the very same message objects, only the new messages
are read — and an SDK object is read into a dict then, once — so a step costs O(new messages)
(the identity check is a C-level comparison) and a whole run O(total messages). A trimmed
history, or one where any earlier message was *replaced* by another object, falls back to a
full rescan. A message changed *in place* is not detected: replace messages rather than
mutating them, or open a new session.

Keyword and ``escalate``-tool escalations count once: only when the user message or the
model's turn arrived since the previous step.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentroute._json_text import parse, safe_str, text_of
from agentroute._types import Message, SessionState, Signals
from agentroute.config import RouterConfig
from agentroute.messages import as_message
from agentroute.policy.session_memory import SessionMemory
from agentroute.policy.tokens import TokenCounter, count_message, count_tools, message_text
from agentroute.policy.tool_errors import (
    ToolErrorDetector,
    ToolResult,
    ToolShape,
    default_tool_error_detector,
    is_tool_error,
)

__all__ = [
    "ScanState",
    "SignalConfig",
    "SignalExtractor",
    "StepProgress",
    "ToolCall",
    "ToolErrorDetector",
    "ToolResult",
    "content_mark",
    "default_tool_error_detector",
]


def content_mark(message: object) -> int:
    """A hash of a message's identity and text, cheap to recompute for the same objects
    (Python caches a string's hash in the string).

    The scan keeps this of the first and last message it read instead of the messages
    themselves, so an idle session does not keep the caller's conversation alive. An identity
    alone is not enough: once the caller drops a message, a new one may get its address.
    Objects are marked by their ``role`` and ``content`` attributes (no ``model_dump()``);
    Responses items without a content by their ``output`` or ``arguments``. Never raises.
    """
    try:
        if type(message) is dict or isinstance(message, Mapping):
            role = message.get("role")
            content = message.get("content")
            if content is None:
                content = message.get("output", message.get("arguments"))
        else:
            role = getattr(message, "role", None)
            content = getattr(message, "content", None)
    except Exception:  # a caller's object whose get() or attributes raise: by its identity
        role = content = None
    return hash((id(message), role if type(role) is str else None, _text_hash(content, 0)))


def _text_hash(content: object, depth: int) -> int:
    """A hash of a content's text: blocks are followed two levels down (a ``tool_result``'s
    blocks), deeper lists by their identity, so no content can make it recurse without end."""
    if type(content) is str:
        return hash(content)
    if type(content) is list:
        if depth >= 2:
            return id(content)
        return hash(
            tuple(
                _text_hash(b.get("text", b.get("content")), depth + 1) if type(b) is dict else id(b)
                for b in content
            )
        )
    return hash(type(content))


class ToolCall:
    """One tool call of an assistant turn, as the repeat signal compares it: two calls are the
    same when their names are equal and so are their arguments' canonical JSON.

    The arguments are kept as the text the model sent; their canonical form is computed on
    first need (only when a call of the same name with other text is compared) and kept.
    Equal text means equal canonical forms, so most comparisons parse nothing. Arguments given
    as a value (an Anthropic ``tool_use`` input) are written as canonical JSON at once (one
    serialisation, no round trip).
    """

    __slots__ = ("_canonical", "name", "text")

    def __init__(self, name: str, arguments: Any) -> None:
        self.name = name
        if isinstance(arguments, str):
            self.text: str = str.__str__(arguments)
            self._canonical: str | None = None
        else:
            self.text = self._canonical = _canonical(arguments)

    def canonical(self) -> str:
        """The arguments as canonical JSON (:func:`_canonical`)."""
        found = self._canonical
        if found is None:
            found = self._canonical = _canonical(self.text)
        return found

    def same(self, other: ToolCall) -> bool:
        return self.name == other.name and (
            self.text == other.text or self.canonical() == other.canonical()
        )

    def __repr__(self) -> str:
        return f"ToolCall({self.name!r}, {self.text!r})"


def _among(call: ToolCall, calls: Sequence[ToolCall]) -> bool:
    name = call.name
    return any(other.name == name and call.same(other) for other in calls)


def _distinct(calls: Sequence[ToolCall]) -> list[ToolCall]:
    """The calls without repeats within them (the first of each kept, in order)."""
    out: list[ToolCall] = []
    for call in calls:
        if not _among(call, out):
            out.append(call)
    return out


@dataclass(slots=True)
class ScanState:
    """Progress of the incremental scan of one session's conversation. It holds no message
    and no message text: only identities, counts and :func:`content_mark` hashes."""

    seen: int = 0
    first: int = 0
    """:func:`content_mark` of the first message read."""
    last: int = 0
    """:func:`content_mark` of the last message read."""
    ids: array[int] = field(default_factory=lambda: array("Q"))
    message_tokens: int = 0
    tool_errors_total: int = 0
    # The last few assistant turns, oldest first, trimmed to their windows by the scan (lists,
    # not deques: an idle session keeps three of them, and an empty deque is far larger).
    turn_errors: list[int] = field(default_factory=list)
    turn_calls: list[tuple[ToolCall, ...]] = field(default_factory=list)
    """The distinct tool calls of each of the last ``repeat_window`` turns."""
    turn_repeats: list[int] = field(default_factory=list)
    escalate_reason: str = ""
    user_keyword: bool = False
    """The last user message contains an escalation keyword."""
    fresh_user: bool = False
    """A user message arrived since the previous step (keywords count only then)."""
    fresh_escalate: bool = False
    """The escalate tool was called in a turn that arrived since the previous step."""
    open_calls: bool = False
    """The last item read was a Responses ``function_call``: the next one joins its turn."""


@dataclass(frozen=True, slots=True)
class SignalConfig:
    recent_window: int = 3
    repeat_window: int = 6
    escalate_tool: str = "escalate"
    escalation_keywords: tuple[str, ...] = ()


class SignalExtractor:
    """Computes :class:`Signals` for a call; keeps each session's scan state incremental
    (its own memory, keyed by the session and dropped with it)."""

    def __init__(
        self,
        counter: TokenCounter,
        config: SignalConfig = SignalConfig(),
        detector: ToolErrorDetector = default_tool_error_detector,
    ) -> None:
        self._counter = counter
        self._cfg = config
        self._detector = detector
        self._keywords = (
            re.compile("|".join(re.escape(k) for k in config.escalation_keywords), re.I)
            if config.escalation_keywords
            else None
        )
        self._memo: dict[str, tuple[object, int]] = {}
        # Each session's scan, kept while the session lives (its own memory, not the ledger's)
        self._scans: SessionMemory[ScanState] = SessionMemory()
        self._scan_of = self._scans.by_id.get  # the read on every routed call: C-level

    def scan_session(self, session: SessionState, messages: Sequence[Message]) -> ScanState:
        """:meth:`scan` ``messages`` from where the session's previous call left its scan, and
        keep the result for its next call. (Concurrent calls of one session each scan their
        own messages; the one routed last leaves its scan for the next call.)"""
        before = self._scan_of(id(session))
        state = self.scan(messages, before)
        if state is not before:
            self._scans.put(session, state)
        return state

    def scanned_tokens(self, session: SessionState) -> int:
        """The message tokens of the session's latest scan (0 before its first)."""
        state = self._scan_of(id(session))
        return state.message_tokens if state is not None else 0

    def scan(self, messages: Sequence[Message], state: ScanState | None) -> ScanState:
        """Bring ``state`` up to date with ``messages`` (a fresh state when it cannot extend)."""
        if (
            state is None
            or state.seen == 0
            or len(messages) < state.seen
            or array("Q", map(id, messages[: state.seen])) != state.ids
            or content_mark(messages[0]) != state.first
            or content_mark(messages[state.seen - 1]) != state.last
        ):
            state = ScanState()
        state.fresh_user = state.fresh_escalate = False
        for i in range(state.seen, len(messages)):
            self._read(as_message(messages[i], i), state)
        if len(messages) > state.seen:
            if state.seen == 0:  # (an extended scan checked its first mark above)
                state.first = content_mark(messages[0])
            state.ids.extend(map(id, messages[state.seen :]))
            state.seen = len(messages)
            state.last = content_mark(messages[-1])
        return state

    def _read(self, m: Message, s: ScanState) -> None:
        s.message_tokens += count_message(self._counter, m)
        role = m.get("role")
        if role is None:  # a Responses input item
            self._item(m, s)
            return
        # an assistant output message between function_call items is part of their turn
        s.open_calls = s.open_calls and role == "assistant" and m.get("type") == "message"
        if role == "assistant":
            self._assistant_turn(_tool_calls(m), s, extend=s.open_calls)
        elif role == "tool":
            self._tool_result(m.get("content"), m.get("status"), m.get("is_error"), "openai", s)
        elif role == "user":
            content = m.get("content")
            if isinstance(content, list):
                texts = []
                for b in content:
                    if isinstance(b, Mapping) and b.get("type") == "tool_result":
                        self._tool_result(b.get("content"), None, b.get("is_error"), "anthropic", s)
                    else:
                        texts.append(b)
                if texts:
                    s.user_keyword = self._has_keyword({"content": texts})
                    s.fresh_user = True
            else:
                s.user_keyword = self._has_keyword(m)
                s.fresh_user = True

    def _item(self, m: Message, s: ScanState) -> None:
        """A Responses item: a call joins the turn of the calls just before it; an output is
        a tool result; a reasoning item (and an assistant output message, in :meth:`_read`)
        leaves the turn open; anything else closes it."""
        kind = m.get("type")
        if kind in ("function_call", "custom_tool_call"):
            arguments = m.get("arguments", m.get("input", ""))
            call = ToolCall(safe_str(m.get("name", "")), arguments)
            self._assistant_turn([call], s, extend=s.open_calls)
            s.open_calls = True
        elif kind in ("function_call_output", "custom_tool_call_output"):
            s.open_calls = False
            self._tool_result(m.get("output"), m.get("status"), m.get("is_error"), "responses", s)
        elif kind != "reasoning":
            s.open_calls = False

    def _has_keyword(self, m: Message) -> bool:
        """Whether the user's text contains an escalation keyword (checked once, when read:
        the scan state keeps no message text)."""
        return self._keywords is not None and self._keywords.search(message_text(m)) is not None

    def _assistant_turn(self, calls: list[ToolCall], s: ScanState, *, extend: bool) -> None:
        """One assistant turn's tool calls (``extend``: more calls of the turn read last)."""
        escalate = self._cfg.escalate_tool
        escalations = [call for call in calls if call.name == escalate]
        if escalations:
            s.fresh_escalate = True
            s.escalate_reason = _reason(escalations[0].canonical())
        elif not extend:
            s.fresh_escalate = False
        if not calls:
            return
        distinct = _distinct(calls) if len(calls) > 1 else calls
        if extend and s.turn_calls:
            current = s.turn_calls[-1]
            earlier = s.turn_calls[:-1]
            new = [call for call in distinct if not _among(call, current)]
            s.turn_repeats[-1] += sum(1 for call in new if _seen(call, earlier))
            s.turn_calls[-1] = current + tuple(new)
            return
        s.turn_repeats.append(sum(1 for call in distinct if _seen(call, s.turn_calls)))
        s.turn_calls.append(tuple(distinct))
        s.turn_errors.append(0)
        cfg = self._cfg
        for window, turns in (
            (cfg.repeat_window, s.turn_repeats),
            (cfg.repeat_window, s.turn_calls),
            (cfg.recent_window, s.turn_errors),
        ):
            if len(turns) > window:
                del turns[0]

    def _tool_result(
        self, content: object, status: object, flag: object, shape: ToolShape, s: ScanState
    ) -> None:
        flagged = flag is True
        if not is_tool_error(self._detector, content, status=status, flagged=flagged, shape=shape):
            return
        s.tool_errors_total += 1
        if not s.turn_errors:
            s.turn_errors.append(0)
        s.turn_errors[-1] += 1

    def tools_tokens(self, tools: Sequence[Mapping[str, Any]] | None) -> int:
        """Token count of the tool schemas, remembered for the same list object."""
        return self._memo_count("tools", tools, lambda: count_tools(self._counter, tools))

    def system_tokens(self, system: object) -> int:
        """Token count of a top-level system prompt (Anthropic's ``system``, the Responses
        API's ``instructions``; a string or text blocks), remembered likewise."""
        return self._memo_count(
            "system", system, lambda: self._counter.count(message_text({"content": system}))
        )

    def _memo_count(self, slot: str, obj: object, compute: Callable[[], int]) -> int:
        """Loops resend the same tools and system prompt objects: count each object once."""
        try:
            if not obj:
                return 0
        except Exception:  # a wrapped function's own argument whose truth value raises
            pass
        hit = self._memo.get(slot)
        if hit is not None and hit[0] is obj:
            return hit[1]
        count = compute()
        self._memo[slot] = (obj, count)
        return count

    def signals(
        self,
        s: ScanState,
        *,
        step: int,
        tools_tokens: int,
        extra_tokens: int,
        reference_window: int,
        validation_failures: int,
        app_escalation: bool,
        hints: Mapping[str, Any],
        content: float = 0.0,
    ) -> Signals:
        context = s.message_tokens + tools_tokens + extra_tokens
        keyword = s.fresh_user and s.user_keyword
        return Signals(
            step,
            s.tool_errors_total,
            sum(s.turn_errors),
            sum(s.turn_repeats),
            context,
            context / reference_window if reference_window else 0.0,
            validation_failures,
            app_escalation or s.fresh_escalate or keyword,
            hints,
            content,
        )


def _seen(call: ToolCall, turns: Sequence[tuple[ToolCall, ...]]) -> bool:
    """Whether ``call`` is among the calls of ``turns``."""
    name = call.name
    for turn in turns:
        for other in turn:
            if other.name == name and call.same(other):
                return True
    return False


def _tool_calls(m: Message) -> list[ToolCall]:
    """The tool calls of an assistant message, either shape."""
    out: list[ToolCall] = []
    for call in m.get("tool_calls") or ():
        fn = call.get("function") or call.get("custom") or {}
        name = safe_str(fn.get("name", ""))
        out.append(ToolCall(name, fn.get("arguments", fn.get("input", ""))))
    content = m.get("content")
    if isinstance(content, list):
        for b in content:
            if isinstance(b, Mapping) and b.get("type") == "tool_use":
                out.append(ToolCall(safe_str(b.get("name", "")), b.get("input", {})))
    return out


def _reason(canonical_arguments: str) -> str:
    try:
        args = parse(canonical_arguments)
    except ValueError:
        return ""
    return safe_str(args.get("reason", "")) if isinstance(args, dict) else ""


def _canonical(arguments: Any) -> str:
    """Arguments as canonical JSON (sorted keys, compact), whether given as JSON text or as a
    value; text that is not JSON, or nested deeper than the parser reads, is its own canonical
    form (:mod:`agentroute._json_text`)."""
    if isinstance(arguments, str):
        try:
            arguments = parse(arguments) if arguments else {}
        except ValueError:
            return str.__str__(arguments)
    return text_of(arguments, sort_keys=True, separators=(",", ":"))


_Anchor = tuple[str, int, float]
"""One session's step progress where it entered the tier it holds: ``(tier, first step on
it, progress before that step)``."""


class StepProgress:
    """The ``step`` signal on each model's own scale: how far into a normal run the session is.

    ``Signals.step`` counts the session's model calls. A model's ``typical_steps``
    (``models.<name>.typical_steps``) says how many calls a normal run of it takes, so a step
    on it counts ``policy.expected_steps / typical_steps``: a model that runs four times longer
    than the reference counts a quarter per step, and the same score from steps means the same
    share of a normal run on any ladder. Unset, ``typical_steps`` is ``policy.expected_steps``
    and every step counts 1 (:attr:`uniform`: the policy then uses ``Signals.step`` as is).

    **Which scale, once a session has moved tiers.** A tier counts at the scale of its first
    model (the one serving it while healthy). Each step counts at the scale of the tier the
    session held when the step was routed (the first step: the start tier's), and the steps
    add up: a session that made 20 steps on a model with ``typical_steps: 40`` (reference
    12) has progress 6 when it climbs, and counts on from there at the new tier's scale.
    Progress never jumps when the tier changes, so a climb to a longer-running model cannot
    drop the score back under the threshold it just crossed (which would flap), and a score
    from steps only grows.

    Its memory of each session (the tier held, where the session entered it and the progress
    before that) is keyed by the session and dropped with it
    (:class:`~agentroute.policy.session_memory.SessionMemory`), written only when the tier
    changes; asking twice for the same step gives the same answer. A session the policy
    first sees at step ``n`` (a restored one) counts its earlier steps at its tier's scale.
    """

    def __init__(self, config: RouterConfig) -> None:
        reference = config.policy.expected_steps
        self._start = config.start_tier
        self.scales: dict[str, float] = {}
        for tier, models in config.tiers.items():
            typical = config.models[models[0]].typical_steps
            self.scales[tier] = 1.0 if typical is None else reference / typical
        self.uniform = all(scale == 1.0 for scale in self.scales.values())
        """Every step counts 1: the progress is ``Signals.step``."""
        self._anchors: SessionMemory[_Anchor] = SessionMemory()
        self._anchor_of = self._anchors.by_id.get

    def __call__(self, state: SessionState, step: int) -> float:
        """The session's progress at ``step``, in reference steps."""
        tier = state.tier or self._start
        scale = self.scales[tier]
        anchor = self._anchor_of(id(state))
        if anchor is not None and anchor[0] == tier and anchor[1] <= step:
            return anchor[2] + (step - anchor[1] + 1) * scale
        if anchor is None:
            before = (step - 1) * scale
        else:  # the steps since the previous tier was entered count at its scale
            held, first, earlier = anchor
            before = earlier + max(0, step - first) * self.scales.get(held, 1.0)
        self._anchors.put(state, (tier, step, before))
        return before + scale
