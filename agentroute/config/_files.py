"""Config files: YAML or TOML text → a validated :class:`~agentroute.config.RouterConfig`.

Reading a file is a concept of its own, apart from the schema. Whatever is wrong with a file
is one :class:`~agentroute.errors.ConfigurationError` naming the file, the problem and, where
there is one, the line — never a bare parser exception, and never file text, which may hold a
literal secret:

* Unreadable: missing, a directory, no permission; not UTF-8 (the line of the first bad
  byte; a UTF-8 byte-order mark is accepted and skipped).
* Not a config: empty, or a top level that is not a mapping of sections.
* Not valid YAML/TOML: reported by position. PyYAML's own message quotes the offending source
  line and sometimes a name as written (an undefined alias, a tag): neither is repeated, only
  short quotes (a character, a ``<token>``) are kept. A value its YAML type cannot hold
  (``!!int abc``, ``2001-02-30``, an integer of thousands of digits) is reported at its line.
* Duplicate keys in one YAML mapping: an error naming their path (PyYAML would silently keep
  the last one).
* Aliases: anchors, aliases and merge keys (``<<: *defaults``) are allowed, but the values
  aliases copy may add up to at most :data:`MAX_ALIAS_EXPANSION` nodes — a "billion laughs"
  file of nested aliases is 9 lines that expand to 10⁹ values, which every consumer of the
  data would walk — and a recursive alias (an anchored value containing itself) is refused.
  Both checks run on PyYAML's node graph, where an alias is a shared node, so they cost time
  in the size of the file, not of its expansion.
* Nesting deeper than the parsers can follow (hundreds of levels): "nested too deeply".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from agentroute.config._root import RouterConfig
from agentroute.errors import ConfigurationError

__all__ = ["MAX_ALIAS_EXPANSION", "load_config", "parse_config_text", "read_config_text"]

MAX_ALIAS_EXPANSION = 100_000
"""The most YAML nodes (values, keys, items) that aliases may copy in one file, in all. A large
hand-written config has a few thousand nodes, and reusing a big block (a JSON schema in
``kwargs``) in every deployment stays far below this."""


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

    def __init__(self) -> None:
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
            if self._copied > MAX_ALIAS_EXPANSION:
                raise _Refused(
                    f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} values (the limit was "
                    f"passed at {_where(path)}, by an alias of the value at line "
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


def _load_yaml(text: str, source: str) -> Any:
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # checks the characters already
        node = loader.get_single_node()
        if node is None:
            return None
        check = _GraphCheck()
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


def _load_toml(text: str, source: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its messages name a position and keys, not values
        raise ConfigurationError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigurationError(f"{source}: not valid TOML: nested too deeply") from None
    except ValueError:  # e.g. int() of thousands of digits; no position to report
        raise ConfigurationError(
            f"{source}: not valid TOML: a value that cannot be read (an integer of thousands "
            "of digits?)"
        ) from None


def parse_config_text(text: str, *, fmt: Literal["yaml", "toml"], source: str) -> RouterConfig:
    """Parse YAML or TOML text into a validated RouterConfig."""
    data = _load_yaml(text, source) if fmt == "yaml" else _load_toml(text, source)
    if data is None or (isinstance(data, Mapping) and not data):
        raise ConfigurationError(
            f"{source}: the file is empty; the top level must be a mapping of sections "
            "(providers, models, tiers, …)"
        )
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"{source}: the top level must be a mapping of sections, not a "
            f"{'list' if isinstance(data, list) else 'single value'}"
        )
    return RouterConfig.from_mapping(data, source=source)


def read_config_text(path: Path) -> str:
    """The text of a config file: UTF-8, a byte-order mark skipped; ConfigurationError naming
    the file and the problem (never its bytes) when it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"{path}: cannot read config: {reason}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # its repr holds the whole file: never chained
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigurationError(
            f"{path}: not UTF-8 text (a byte that is not UTF-8 at line {line}); "
            "save the file as UTF-8"
        ) from None


def load_config(path: str | Path) -> RouterConfig:
    """Load a RouterConfig from a ``.yaml``/``.yml`` or ``.toml`` file (UTF-8)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ConfigurationError(f"{p}: unknown config format {suffix!r} (use .yaml or .toml)")
    text = read_config_text(p)
    return parse_config_text(text, fmt="toml" if suffix == ".toml" else "yaml", source=str(p))
