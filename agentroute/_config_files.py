"""Config files: YAML or TOML text → a validated :class:`~agentroute.config.RouterConfig`.

Kept apart from the schema so the schema module stays about the schema. Duplicate keys in YAML
are an error naming their path (PyYAML would silently keep the last one), and parse errors are
reported by position only: PyYAML's own message quotes the offending line, which may hold a
literal secret.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from agentroute.config import RouterConfig
from agentroute.errors import ConfigurationError

__all__ = ["load_config", "parse_config_text"]


def _find_duplicate_keys(node: yaml.Node, path: str = "") -> list[str]:
    """Every key that appears twice in one mapping, as ``path: …`` lines (PyYAML keeps the last)."""
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            where = f"{path}.{key}" if path else str(key)
            if key is not None and key in seen:
                problems.append(
                    f"{where}: duplicate name {key!r} (again at line "
                    f"{key_node.start_mark.line + 1}); "
                    "each name may appear once"
                )
            seen.add(key)
            problems.extend(_find_duplicate_keys(value_node, where))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems.extend(_find_duplicate_keys(item, f"{path}.{i}" if path else str(i)))
    return problems


def _load_yaml(text: str, source: str) -> Any:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        duplicates = _find_duplicate_keys(node) if node is not None else []
        if duplicates:
            raise ConfigurationError("\n  ".join([f"invalid {source}:", *duplicates]))
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # Not str(exc): PyYAML quotes the offending source line, which may hold a secret.
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigurationError(f"{source}: not valid YAML: {exc.problem}{at}") from None
    except yaml.YAMLError:
        raise ConfigurationError(f"{source}: not valid YAML") from None


def parse_config_text(text: str, *, fmt: Literal["yaml", "toml"], source: str) -> RouterConfig:
    """Parse YAML or TOML text into a validated RouterConfig."""
    if fmt == "yaml":
        data = _load_yaml(text, source)
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:  # its messages name a position, not the text
            raise ConfigurationError(f"{source}: not valid TOML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{source}: the top level must be a mapping of sections")
    return RouterConfig.from_mapping(data, source=source)


def load_config(path: str | Path) -> RouterConfig:
    """Load a RouterConfig from a ``.yaml``/``.yml`` or ``.toml`` file."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ConfigurationError(f"{p}: unknown config format {suffix!r} (use .yaml or .toml)")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{p}: cannot read config: {exc.strerror}") from None
    return parse_config_text(text, fmt="toml" if suffix == ".toml" else "yaml", source=str(p))
