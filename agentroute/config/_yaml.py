"""Reading YAML config text with PyYAML: the checks :mod:`agentroute.config._files` promises
(duplicate keys, bounded alias expansion, no recursive alias, errors by line without file
text).

A module of its own so that PyYAML is imported only once a YAML file is read
(:func:`agentroute.config._files.load_config`), not by ``import agentroute``: a router built
from a mapping never needs it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from agentroute.errors import ConfigurationError

__all__ = ["load_yaml"]


class _Refused(Exception):
    """A structural problem found in the YAML node graph (message without the source)."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader whose constructors' bare errors (``int('abc')`` raises a
    ValueError quoting the text) become marked errors: the problem and the line, no text."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError):
            tag = node.tag.rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"this value cannot be read as a YAML {tag}", node.start_mark
            ) from None


class _GraphCheck:
    """One walk of a composed YAML document: duplicate keys, alias expansion, recursion.

    Each node is walked once: a node reached again through an alias adds its (memoized)
    expanded size to the copied total instead of being walked again.
    """

    def __init__(self, max_alias_expansion: int) -> None:
        self.max_alias_expansion = max_alias_expansion
        self.duplicates: list[str] = []
        self._sizes: dict[int, int] = {}
        self._open: set[int] = set()
        self._copied = 0

    def size(self, node: yaml.Node, path: str = "") -> int:
        """The number of nodes ``node`` expands to; raises _Refused past the bounds."""
        key = id(node)
        known = self._sizes.get(key)
        if known is not None:
            self._copied += known
            if self._copied > self.max_alias_expansion:
                raise _Refused(
                    f"aliases expand to more than {self.max_alias_expansion:,} values (the limit "
                    f"was passed at {_where(path)}, by an alias of the value at line "
                    f"{node.start_mark.line + 1}); write the repeated parts out or reuse less"
                )
            return known
        if key in self._open:
            raise _Refused(
                f"a recursive alias at {_where(path)}: the value anchored at line "
                f"{node.start_mark.line + 1} contains an alias of itself"
            )
        self._open.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                where = f"{path}.{name}" if path else str(name)
                if name is not None and name in seen:
                    self.duplicates.append(
                        f"{where}: duplicate name {name!r} (again at line "
                        f"{key_node.start_mark.line + 1}); each name may appear once"
                    )
                seen.add(name)
                total += self.size(key_node, where) + self.size(value_node, where)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                total += self.size(item, f"{path}.{i}" if path else str(i))
        self._open.discard(key)
        self._sizes[key] = total
        return total


def _where(path: str) -> str:
    return path or "the top level"


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _unquoted(problem: str) -> str:
    """``problem`` without quoted file text longer than a character or a ``<token>``."""

    def keep_short(match: re.Match[str]) -> str:
        inner = match.group()[1:-1]
        return match.group() if len(inner) <= 4 or re.fullmatch(r"<[a-z ]+>", inner) else "(…)"

    return _QUOTED.sub(keep_short, problem)


def load_yaml(text: str, source: str, *, max_alias_expansion: int) -> Any:
    """The data of YAML ``text`` (``None`` for an empty document); ConfigurationError naming
    ``source`` for whatever is wrong with it (see :mod:`agentroute.config._files`), with at
    most ``max_alias_expansion`` nodes copied by aliases."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # checks the characters already
        node = loader.get_single_node()
        if node is None:
            return None
        check = _GraphCheck(max_alias_expansion)
        check.size(node)
        if check.duplicates:
            raise ConfigurationError("\n  ".join([f"invalid {source}:", *check.duplicates]))
        return loader.construct_document(node)
    except _Refused as exc:
        raise ConfigurationError(f"{source}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        # Not str(exc): PyYAML quotes the offending source line, which may hold a secret.
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = _unquoted(exc.problem or exc.context or "syntax error")
        raise ConfigurationError(f"{source}: not valid YAML: {problem}{at}") from None
    except yaml.reader.ReaderError as exc:  # its message quotes the character: that is all
        raise ConfigurationError(
            f"{source}: not valid YAML: a character YAML does not allow, at character "
            f"{exc.position + 1}"
        ) from None
    except yaml.YAMLError:
        raise ConfigurationError(f"{source}: not valid YAML") from None
    except RecursionError:
        raise ConfigurationError(f"{source}: not valid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
