"""Hostile and broken config files: each is one ConfigurationError naming the file and the
problem (and line), fast, never quoting what might be a key; ``config check`` prints it.

Alias bombs, recursive aliases, nesting too deep, non-UTF-8 bytes, YAML values its
constructors cannot read, and YAML parse errors whose own message quotes file text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from agentroute import RouterConfig, load_config
from agentroute.cli import main
from agentroute.config._files import MAX_ALIAS_EXPANSION
from agentroute.errors import ConfigurationError
from agentroute.sim.config import load_sim_config

KEY = "sk-live-config-file-key-4711"

VALID = """\
providers:
  p:
    kind: openai
    api_key: {key}
    kwargs:
{kwargs}
models:
  m:
    context_window: 1000
    price: {{input: 1, output: 2}}
    deployments: [{{provider: p, name: m-1}}]
tiers: {{simple: [m]}}
"""


def _config_text(kwargs: str, key: str = KEY) -> str:
    """A valid config whose provider's ``kwargs`` block is ``kwargs`` (indented 6)."""
    block = "\n".join("      " + line for line in kwargs.splitlines())
    return VALID.format(key=key, kwargs=block)


def _bomb(levels: int, width: int = 9) -> str:
    """Billion laughs: each level a list of ``width`` aliases of the level below."""
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines)


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _refused(path: Path) -> str:
    with pytest.raises(ConfigurationError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert KEY not in message
    assert KEY not in repr(info.value)
    assert info.value.__cause__ is None  # nothing chained that might quote the file
    return message


# --------------------------------------------------------------------------------------------
# Aliases: a bounded expansion only, never a recursive one.


@pytest.mark.parametrize(
    "levels",
    [
        pytest.param(9, id="billion-laughs"),  # hung load_config for minutes
        pytest.param(6, id="half-a-million"),  # loaded, slowly, expanding 531,441 strings
    ],
)
def test_alias_bomb_is_refused(tmp_path: Path, levels: int) -> None:
    message = _refused(_write(tmp_path, "router.yaml", _config_text(_bomb(levels))))
    assert "aliases expand to more than" in message
    assert f"{MAX_ALIAS_EXPANSION:,}" in message
    assert "at line" in message


def test_aliases_within_the_bound_load(tmp_path: Path) -> None:
    """Anchors, aliases and merge keys are ordinary YAML: a config written with them loads as
    the same config written out."""
    text = """\
providers:
  p: &openai {kind: openai, api_key: env:AR_ALIAS_KEY, kwargs: {extra: [1, 2, 3]}}
  q:
    <<: *openai
    base_url: https://example.invalid/v1
models:
  m: {context_window: 1000, price: &price {input: 1, output: 2},
      deployments: [{provider: p, name: m-1}]}
  n: {context_window: 2000, price: *price, deployments: [{provider: q, name: n-1}]}
tiers: {simple: [m], complex: [n]}
"""
    openai = {"kind": "openai", "api_key": "env:AR_ALIAS_KEY", "kwargs": {"extra": [1, 2, 3]}}
    price = {"input": 1, "output": 2}
    written_out = {
        "providers": {"p": openai, "q": {**openai, "base_url": "https://example.invalid/v1"}},
        "models": {
            "m": {
                "context_window": 1000,
                "price": price,
                "deployments": [{"provider": "p", "name": "m-1"}],
            },
            "n": {
                "context_window": 2000,
                "price": price,
                "deployments": [{"provider": "q", "name": "n-1"}],
            },
        },
        "tiers": {"simple": ["m"], "complex": ["n"]},
    }
    config = load_config(_write(tmp_path, "router.yaml", text))
    assert config == RouterConfig.from_mapping(written_out)
    assert config.providers["q"].base_url == "https://example.invalid/v1"


@pytest.mark.parametrize(
    ("kwargs", "line"),
    [
        pytest.param("loop: &loop [1, *loop]", 6, id="list"),
        pytest.param("loop: &loop {again: *loop}", 6, id="mapping"),
        pytest.param("a: 1\nb:\n  deep: &d [x, {y: [*d]}]", 8, id="nested"),
    ],
)
def test_recursive_alias_is_refused_naming_its_line(tmp_path: Path, kwargs: str, line: int) -> None:
    message = _refused(_write(tmp_path, "router.yaml", _config_text(kwargs)))
    assert "recursive alias" in message
    assert f"line {line}" in message


@pytest.mark.parametrize("suffix", ["yaml", "toml"])
def test_nesting_too_deep_is_refused(tmp_path: Path, suffix: str) -> None:
    deep = "[" * 5000 + "]" * 5000
    text = f"x: {deep}\n" if suffix == "yaml" else f"x = {deep}\n"
    message = _refused(_write(tmp_path, f"router.{suffix}", text))
    assert "nested too deeply" in message


# --------------------------------------------------------------------------------------------
# Unreadable bytes and values.


def test_non_utf8_file_names_file_and_line_not_content(tmp_path: Path) -> None:
    text = _config_text("organization: org-1").replace(KEY, KEY + "\udcff")
    raw = text.encode("utf-8", errors="surrogateescape")  # a lone 0xff byte after the key
    message = _refused(_write(tmp_path, "router.yaml", raw))
    assert "not UTF-8" in message
    assert "line 4" in message


@pytest.mark.parametrize("suffix", ["yaml", "toml"])
def test_utf8_byte_order_mark_is_accepted(tmp_path: Path, suffix: str) -> None:
    """Some editors start UTF-8 files with a byte-order mark; it is not part of the config."""
    text = (
        'providers = {p = {kind = "openai"}}\n'
        "[models.m]\ncontext_window = 1000\nprice = {input = 1, output = 2}\n"
        'deployments = [{provider = "p", name = "m-1"}]\n'
        '[tiers]\nsimple = ["m"]\n'
        if suffix == "toml"
        else _config_text("organization: org-1")
    )
    config = load_config(_write(tmp_path, f"router.{suffix}", b"\xef\xbb\xbf" + text.encode()))
    assert list(config.tiers) == ["simple"]


@pytest.mark.parametrize(
    ("value", "line"),
    [
        pytest.param(f"!!int {KEY}", 6, id="int-tag"),
        pytest.param(f"!!float {KEY}", 6, id="float-tag"),
        pytest.param("2001-02-30", 6, id="impossible-date"),
        pytest.param("1" * 5000, 6, id="int-too-long"),
        pytest.param(f"!!binary {KEY}", 6, id="binary-tag"),
    ],
)
def test_unreadable_yaml_value_names_its_line(tmp_path: Path, value: str, line: int) -> None:
    message = _refused(_write(tmp_path, "router.yaml", _config_text(f"x: {value}")))
    assert "not valid YAML" in message
    assert f"line {line}" in message


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param(f"x: *{KEY}", id="undefined-alias"),
        pytest.param(f"x: !{KEY}!y 1", id="undefined-tag-handle"),
        pytest.param(f"x: !{KEY} 1", id="unknown-tag"),
    ],
)
def test_yaml_errors_do_not_quote_file_text(tmp_path: Path, kwargs: str) -> None:
    """PyYAML's ``problem`` quotes an alias, tag or handle as written: it is not repeated."""
    message = _refused(_write(tmp_path, "router.yaml", _config_text(kwargs)))
    assert "not valid YAML" in message
    assert "line 6" in message


# --------------------------------------------------------------------------------------------
# Not a config at all.

NOT_CONFIGS: list[tuple[str, str, str | bytes | None, str]] = [
    ("empty-yaml", "router.yaml", "", "is empty"),
    ("comments-only-yaml", "router.yaml", "# nothing yet\n", "is empty"),
    ("empty-toml", "router.toml", "", "is empty"),
    ("top-level-list", "router.yaml", f"- {KEY}\n", "top level must be a mapping"),
    ("top-level-string", "router.yaml", f"{KEY}\n", "top level must be a mapping"),
    ("yaml-syntax", "router.yaml", f"providers: {{p: {{api_key: {KEY}\n", "not valid YAML"),
    ("toml-syntax", "router.toml", f'[providers.p]\napi_key = "{KEY}\n', "not valid TOML"),
    ("missing", "absent.yaml", None, "cannot read config"),
    ("directory", "folder.yaml", "dir", "cannot read config"),
    ("nul-byte", "router.yaml", f"providers: {KEY}\x00\n", "not valid YAML"),
    ("toml-int-too-long", "router.toml", "x = " + "1" * 5000, "not valid TOML"),
]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [pytest.param(name, content, problem, id=case) for case, name, content, problem in NOT_CONFIGS],
)
def test_not_a_config_is_one_configuration_error(
    tmp_path: Path, name: str, content: str | bytes | None, problem: str
) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        _write(tmp_path, name, content)
    assert problem in _refused(path)


BAD_FILES: list[tuple[str, str, str | bytes]] = [
    ("alias-bomb", "router.yaml", _config_text(_bomb(9))),
    ("recursive-alias", "router.yaml", _config_text("loop: &loop [*loop]")),
    ("non-utf8", "router.yaml", _config_text("x: 1").encode() + b"\xff\xfe"),
    ("deep", "router.toml", "x = " + "[" * 5000 + "]" * 5000),
    ("unreadable-value", "router.yaml", _config_text(f"x: !!int {KEY}")),
    ("empty", "router.toml", ""),
    ("directory", "folder.yml", "dir"),
]


@pytest.mark.parametrize(
    ("name", "content"),
    [pytest.param(name, content, id=case) for case, name, content in BAD_FILES],
)
def test_config_check_prints_the_problem_and_exits_1(
    tmp_path: Path, name: str, content: str | bytes
) -> None:
    path = tmp_path / "[bold]odd name" / name  # rich markup in a path is printed as it is
    path.parent.mkdir()
    if content == "dir":
        path.mkdir()
    else:
        _write(path.parent, name, content)
    result = CliRunner().invoke(main, ["config", "check", str(path)], env={"COLUMNS": "300"})
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    assert "✗" in result.output
    assert str(path) in result.output
    assert "Traceback" not in result.output
    assert KEY not in result.output


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(b"instances: {a: {kind: openai}}\n# \xff\n", "not UTF-8", id="non-utf8"),
        pytest.param(_bomb(9).encode(), "aliases expand to more than", id="alias-bomb"),
    ],
)
def test_simulator_config_files_get_the_same_checks(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = _write(tmp_path, "sim.yaml", content)
    with pytest.raises(ConfigurationError, match=problem):
        load_sim_config(path)
