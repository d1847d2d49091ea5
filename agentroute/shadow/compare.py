"""The default shadow comparator: how far the reference tier's answer agrees with the served one.

:func:`compare` scores two answers to the same step (:class:`~agentroute.shadow.answer.Answer`)
in [0, 1] and says why in a short ``reason``. What counts as agreement, for an agent step:

* **Both call tools**: the same calls, as a multiset (order does not matter, a repeated call
  counts as often as it is made). A call with the same tool name and the same canonical JSON
  arguments counts 1; of the calls left, a pair with the same name but other arguments counts
  0.5 (the right tool, asked differently); the score is the credit over the longer list of
  calls, so a missing or extra call costs as much as a wrong one. Any text next to the calls is
  ignored (the calls are what the loop acts on), and the reason says so.
* **One calls tools, the other answers in text**: 0: the loop goes on differently.
* **Both answer in text**: a normalised similarity of the two texts — case-folded, whitespace
  collapsed, punctuation stripped from the ends of words — over their *word* lists:
  ``2 × common words / total words``, the ratio :meth:`difflib.SequenceMatcher.ratio` reports,
  with the common words counted exactly as the longest common subsequence of the two lists
  (:func:`lcs_length`). A word-level ratio is what a "normalised similarity" of two answers
  means here: the same words in the same order, whatever their spacing, case or punctuation,
  every word counting (no junk heuristic); it is not a semantic judge
  (``Router(shadow_judge=...)`` is for that). It needs only the standard library, like
  ``difflib``, but not ``difflib`` itself: ``SequenceMatcher`` with its junk heuristic off
  takes time cubic in the words a text repeats — measured here, 114 s of CPU for two
  2,000-word texts of one repeated word (a degenerate answer a weak model does give), while
  40 ms on natural text — and this runs on the router's event loop. The bit-parallel longest
  common subsequence takes milliseconds on any two texts, is symmetric by construction, and
  is never below ``SequenceMatcher``'s count (which finds its matching blocks greedily). Each
  side is cut at :data:`MAX_WORDS` words. Two empty answers agree fully.

The score is symmetric in its two answers and 1.0 for equal ones. The ``reason`` goes into
spans and the routing log, so it names tools (at most :data:`MAX_NAMED`, each cut to
:data:`MAX_NAME_CHARS` characters) and argument *keys* only — never an argument value nor any
text of the answers — and is at most :data:`MAX_REASON_CHARS` characters (the routing log's
limit). In it, ``served`` is the first answer (the user's) and ``reference`` the second.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Sequence

from agentroute._frozen import value_object
from agentroute._json_text import parse
from agentroute.shadow.answer import Answer
from agentroute.telemetry.routing_log_schema import REASON_MAX_CHARS, clip_reason

__all__ = ["MAX_REASON_CHARS", "MAX_WORDS", "Agreement", "compare"]

MAX_WORDS = 2_000
"""The words of each text compared (the rest are ignored)."""
MAX_NAMED = 3
"""The tool names (or argument keys) a reason lists; the rest are counted."""
MAX_NAME_CHARS = 64
"""A tool name or argument key in a reason is cut to this many characters."""
MAX_REASON_CHARS = REASON_MAX_CHARS
"""The longest reason (the routing log's ``ShadowRecord.reason`` limit)."""
_MAX_TEXT_CHARS = 100 * MAX_WORDS
"""The characters of a text split into words (enough for :data:`MAX_WORDS` words)."""

_PUNCTUATION = string.punctuation + "“”‘’«»„‚…–—¡¿·•"


@value_object
class Agreement:
    """How far two answers agree: ``score`` in [0, 1] and a ``reason`` naming tools and
    argument keys only (module docstring)."""

    score: float
    reason: str


def compare(primary: Answer, shadow: Answer) -> Agreement:
    """How far ``shadow`` (the reference tier's answer) agrees with ``primary`` (the served
    one): module docstring."""
    a, b = primary.tool_calls, shadow.tool_calls
    if a and b:
        score, reason = _compare_calls(a, b)
        if primary.text or shadow.text:
            reason += "; text ignored"
        return Agreement(score, clip_reason(reason))
    if a or b:
        calls = _names(name for name, _ in (a or b))
        if a:
            reason = f"served called tools ({calls}), reference {_texted(shadow)}"
        else:
            reason = f"served {_texted(primary)}, reference called tools ({calls})"
        return Agreement(0.0, clip_reason(reason))
    score = _text_similarity(primary.text or "", shadow.text or "")
    return Agreement(score, f"text similarity {score:.2f}")


# Tool calls ---------------------------------------------------------------------------------------


def _compare_calls(a: Sequence[tuple[str, str]], b: Sequence[tuple[str, str]]) -> tuple[float, str]:
    exact = Counter(a) & Counter(b)
    matched = exact.total()
    rest_a = sorted((Counter(a) - exact).elements())
    rest_b = sorted((Counter(b) - exact).elements())
    by_name_a = _by_name(rest_a)
    by_name_b = _by_name(rest_b)
    # Same-name pairs of the calls left, in sorted order of their arguments.
    pairs: list[tuple[str, str, str]] = []
    for name in sorted(by_name_a.keys() & by_name_b.keys()):
        pairs.extend((name, x, y) for x, y in zip(by_name_a[name], by_name_b[name], strict=False))
    paired_a = Counter((name, x) for name, x, _ in pairs)
    paired_b = Counter((name, y) for name, _, y in pairs)
    left_a = [name for name, _ in (Counter(rest_a) - paired_a).elements()]
    left_b = [name for name, _ in (Counter(rest_b) - paired_b).elements()]
    longest = max(len(a), len(b))
    score = min(1.0, (matched + 0.5 * len(pairs)) / longest)

    if matched == longest:
        return 1.0, f"same tool calls ({matched})"
    clauses: list[str] = []
    if pairs:
        clauses.append("same tools, different arguments: " + _differing(pairs))
    if left_a and left_b:
        clauses.append(f"different tools: {_names(left_a)} vs {_names(left_b)}")
    elif left_a:
        clauses.append(f"only served called {_names(left_a)}")
    elif left_b:
        clauses.append(f"only reference called {_names(left_b)}")
    if matched or len(clauses) > 1:
        clauses.insert(0, f"{matched} of {longest} tool calls matched")
    return score, "; ".join(clauses)


def _by_name(calls: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, arguments in calls:
        out.setdefault(name, []).append(arguments)
    return out


def _differing(pairs: Sequence[tuple[str, str, str]]) -> str:
    """``name (key, key)`` for each pair of same-name calls: the argument keys whose values
    differ, or ``arguments`` when the two are not both JSON objects."""
    described = [f"{_clean(name)} ({_keys(x, y)})" for name, x, y in pairs]
    return _listed(list(dict.fromkeys(described)))


def _keys(x: str, y: str) -> str:
    left, right = _object(x), _object(y)
    if left is None or right is None:
        return "arguments"
    keys = sorted(
        k for k in left.keys() | right.keys() if left.get(k, _ABSENT) != right.get(k, _ABSENT)
    )
    return _listed([_clean(k) for k in keys]) if keys else "arguments"


_ABSENT = object()


def _object(arguments: str) -> dict[str, object] | None:
    try:
        value = parse(arguments)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _texted(answer: Answer) -> str:
    return "answered in text" if answer.text else "gave no answer"


# Text ---------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    words: list[str] = []
    for word in text[:_MAX_TEXT_CHARS].casefold().split():
        stripped = word.strip(_PUNCTUATION)
        if stripped:
            words.append(stripped)
            if len(words) >= MAX_WORDS:
                break
    return words


def _text_similarity(x: str, y: str) -> float:
    """``2 × common words / total words``, the common words being the longest common
    subsequence of the two word lists (module docstring); 1.0 when both are empty."""
    a, b = _words(x), _words(y)
    if a == b:
        return 1.0
    return 2.0 * lcs_length(a, b) / (len(a) + len(b))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """The length of the longest common subsequence of ``a`` and ``b``.

    Bit-parallel (Allison and Dix; Hyyrö): bit ``j`` of ``positions[word]`` marks where
    ``word`` is in ``b``, and one pass over ``a`` updates a row of the dynamic-programming
    table held as the bits of one integer, so the work is ``len(a)`` big-integer operations on
    ``len(b)`` bits — a few milliseconds for two 2,000-word texts, whatever they repeat.
    """
    positions: dict[str, int] = {}
    for j, word in enumerate(b):
        positions[word] = positions.get(word, 0) | (1 << j)
    full = (1 << len(b)) - 1
    row = full
    for word in a:
        matches = positions.get(word, 0) & row
        row = ((row + matches) | (row - matches)) & full
    return len(b) - row.bit_count()


# Reasons ------------------------------------------------------------------------------------------


def _clean(name: str) -> str:
    """A tool name or key as a reason shows it: cut, without control characters."""
    cut = name[:MAX_NAME_CHARS]
    shown = "".join(c if c.isprintable() else "?" for c in cut)
    return (shown or "''") + ("…" if len(name) > MAX_NAME_CHARS else "")


def _names(names: Iterable[str]) -> str:
    """Distinct tool names, sorted, at most :data:`MAX_NAMED` of them."""
    return _listed([_clean(n) for n in sorted(set(names))])


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_NAMED])
    more = len(items) - MAX_NAMED
    return f"{shown} … and {more} more" if more > 0 else shown
