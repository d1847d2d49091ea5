"""Config patches: a base config file plus files holding only the keys to change.

``agentroute calibrate --write PATCH.yaml`` writes such a patch (only the keys it changed,
e.g. ``models.<name>.typical_steps``). A patch is merged into the base's *data* before it is
validated, so the result is checked like any config and every error names its field:

* mappings merge key by key, at any depth (a patch's ``models.small.typical_steps`` leaves
  the rest of ``models.small`` as the base wrote it);
* any other value (a number, a string, a list) in the patch replaces the base's;
* a key whose patch value is ``null`` is set to ``null`` (the field's default where it has
  one), not removed;
* a mapping whose field has a default mapping (``policy.weights``) merges into that default
  when the base does not write the field: a patch holding ``policy.weights.step`` over a
  base that keeps the default weights changes that one weight and keeps the others (merged
  into nothing, it would replace every weight).

Use it as ``Router(load_patched_config("agentroute.yaml", "calibrated.yaml"))``; several
patches apply in order, the last one winning. Both files are read by the same reader as
:func:`agentroute.load_config` (YAML or TOML by extension, the same checks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentroute.config._files import _load_toml, _load_yaml, read_config_text
from agentroute.config._policy import PolicyConfig
from agentroute.config._root import RouterConfig
from agentroute.errors import ConfigurationError

__all__ = ["load_patched_config", "merge_patch", "read_mapping"]

DEFAULT_MAPPINGS: dict[tuple[str, ...], Callable[[], dict[str, Any]]] = {
    ("policy", "weights"): lambda: dict(PolicyConfig().weights),
}
"""Fields whose default is a mapping a patch merges into when the base omits the field."""


def merge_patch(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in (rules in the module docstring); neither is changed."""
    return _merge(_with_defaults(base, patch), patch)


def _with_defaults(base: Mapping[str, Any], patch: Mapping[str, Any]) -> Mapping[str, Any]:
    """``base`` with the default of every :data:`DEFAULT_MAPPINGS` field that ``patch``
    holds a mapping for and ``base`` does not write."""
    for path, default in DEFAULT_MAPPINGS.items():
        held: Any = patch
        for key in path:
            held = held.get(key) if isinstance(held, Mapping) else None
        if not isinstance(held, Mapping):
            continue
        section: Any = base
        for key in path[:-1]:
            section = section.get(key, {}) if isinstance(section, Mapping) else None
        if isinstance(section, Mapping) and path[-1] not in section:
            nested: dict[str, Any] = {path[-1]: default()}
            for key in reversed(path[:-1]):
                nested = {key: nested}
            base = _merge(base, nested)
    return base


def _merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def read_mapping(path: str | Path) -> dict[str, Any]:
    """A config or patch file's top-level mapping, unvalidated (empty file: ``{}``)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ConfigurationError(f"{p}: unknown config format {suffix!r} (use .yaml or .toml)")
    text = read_config_text(p)
    data = _load_toml(text, str(p)) if suffix == ".toml" else _load_yaml(text, str(p))
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{p}: the top level must be a mapping of sections")
    return dict(data)


def load_patched_config(base: str | Path, *patches: str | Path) -> RouterConfig:
    """The config of file ``base`` with each patch file merged in, in order, then validated."""
    data = read_mapping(base)
    for patch in patches:
        data = merge_patch(data, read_mapping(patch))
    names = " + ".join(str(p) for p in (base, *patches))
    return RouterConfig.from_mapping(data, source=names)
