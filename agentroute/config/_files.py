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

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from agentroute.config._root import RouterConfig
from agentroute.errors import ConfigurationError

__all__ = ["MAX_ALIAS_EXPANSION", "load_config", "parse_config_text", "read_config_text"]

MAX_ALIAS_EXPANSION = 100_000
"""The most YAML nodes (values, keys, items) that aliases may copy in one file, in all. A large
hand-written config has a few thousand nodes, and reusing a big block (a JSON schema in
``kwargs``) in every deployment stays far below this."""


def _load_yaml(text: str, source: str) -> Any:
    # PyYAML is imported only here, once a YAML file is read (agentroute.config._yaml)
    from agentroute.config._yaml import load_yaml

    return load_yaml(text, source, max_alias_expansion=MAX_ALIAS_EXPANSION)


def _load_toml(text: str, source: str) -> Any:
    import tomllib  # only once a TOML file is read, not by ``import agentroute``

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
