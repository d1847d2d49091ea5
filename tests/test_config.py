"""RouterConfig validation and loading: YAML/TOML equivalence, invalid configs, secrets."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentroute import RouterConfig, load_config
from agentroute._secrets import Secret, redact
from agentroute.errors import ConfigurationError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# --------------------------------------------------------------------------------------------
# 1. A YAML file and the equivalent TOML file load to the same RouterConfig.

PAIR_YAML = """\
providers:
  openrouter: {kind: openai, base_url: "https://openrouter.ai/api/v1",
               api_key: "env:OPENROUTER_API_KEY"}
  anthropic: {kind: anthropic, api_key: "env:ANTHROPIC_API_KEY", cache_ttl_s: 600}
models:
  small:
    context_window: 128000
    price: {input: 0.2, output: 1.1}
    deployments: [{provider: openrouter, name: vendor/small}]
  sonnet:
    context_window: 200000
    price: {input: 3, output: 15, cache_read: 0.3, cache_write: 3.75}
    deployments:
      - {provider: anthropic, name: claude-sonnet}
      - {provider: openrouter, name: anthropic/claude-sonnet, weight: 0.5}
tiers:
  simple: [small]
  medium: [small, sonnet]
  complex: [sonnet]
  reasoning: [sonnet]
policy:
  thresholds: {complex: 0.5}
"""

PAIR_TOML = """\
[providers.openrouter]
kind = "openai"
base_url = "https://openrouter.ai/api/v1"
api_key = "env:OPENROUTER_API_KEY"

[providers.anthropic]
kind = "anthropic"
api_key = "env:ANTHROPIC_API_KEY"
cache_ttl_s = 600

[models.small]
context_window = 128000
price = { input = 0.2, output = 1.1 }
deployments = [{ provider = "openrouter", name = "vendor/small" }]

[models.sonnet]
context_window = 200000
price = { input = 3, output = 15, cache_read = 0.3, cache_write = 3.75 }

[[models.sonnet.deployments]]
provider = "anthropic"
name = "claude-sonnet"

[[models.sonnet.deployments]]
provider = "openrouter"
name = "anthropic/claude-sonnet"
weight = 0.5

[tiers]
simple = ["small"]
medium = ["small", "sonnet"]
complex = ["sonnet"]
reasoning = ["sonnet"]

[policy.thresholds]
complex = 0.5
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_and_toml_load_to_equal_configs(tmp_path: Path) -> None:
    from_yaml = load_config(_write(tmp_path, "router.yaml", PAIR_YAML))
    from_toml = load_config(_write(tmp_path, "router.toml", PAIR_TOML))

    assert from_yaml == from_toml
    assert from_yaml.model_dump() == from_toml.model_dump()
    # Tier order is the file's order (not sorted), and so is deployment order.
    assert from_yaml.tier_names == ("simple", "medium", "complex", "reasoning")
    assert list(from_toml.tiers) == ["simple", "medium", "complex", "reasoning"]
    assert [d.provider for d in from_toml.models["sonnet"].deployments] == [
        "anthropic",
        "openrouter",
    ]
    # Defaults filled in.
    assert from_yaml.start_tier == "simple"
    assert from_yaml.thresholds == {"medium": 0.3, "complex": 0.5, "reasoning": 0.9}
    assert from_yaml.providers["openrouter"].cache_ttl_s == 300
    assert from_yaml.models["small"].price.cache_read_or_input == 0.2
    assert from_yaml.models["small"].deployments[0].weight == 1.0
    assert from_yaml.resilience.deadline_s >= from_yaml.resilience.attempt_timeout_s
    assert from_yaml.state.kind == "memory"
    assert from_yaml.providers["anthropic"].api_key == Secret(env="ANTHROPIC_API_KEY")


def test_yml_suffix_and_python_mapping_give_the_same_config(tmp_path: Path) -> None:
    from_yml = load_config(_write(tmp_path, "router.YML", PAIR_YAML))
    from_mapping = RouterConfig.from_mapping(yaml.safe_load(PAIR_YAML))
    assert from_yml == from_mapping


def test_default_thresholds_are_evenly_spaced_when_policy_is_omitted(tmp_path: Path) -> None:
    text = PAIR_YAML.replace("policy:\n  thresholds: {complex: 0.5}\n", "")
    config = load_config(_write(tmp_path, "router.yaml", text))
    assert config.policy.thresholds == {}
    assert config.thresholds == {"medium": 0.3, "complex": 0.6, "reasoning": 0.9}


def test_example_files_load_and_are_equal() -> None:
    from_yaml = load_config(EXAMPLES / "agentroute.yaml")
    from_toml = load_config(EXAMPLES / "agentroute.toml")
    assert from_yaml == from_toml
    assert from_yaml.tier_names == ("simple", "medium", "complex", "reasoning")
    assert [d.provider for d in from_yaml.models["sonnet"].deployments] == [
        "anthropic",
        "openrouter",
    ]
    assert set(from_yaml.providers) == {"openrouter", "anthropic", "deepseek"}
    assert all(p.api_key is not None and p.api_key.env for p in from_yaml.providers.values())


# --------------------------------------------------------------------------------------------
# 2. Invalid configs: each rejected with a message naming the field path and the reason.


@dataclass(frozen=True)
class Replace:
    """In a patch: set this value as is instead of merging into the base."""

    value: Any


DELETE = object()


def _base() -> dict[str, Any]:
    return {
        "providers": {
            "openrouter": {
                "kind": "openai",
                "base_url": "https://openrouter.ai/api/v1",
                "api_key": "env:OPENROUTER_API_KEY",
            },
            "anthropic": {"kind": "anthropic", "api_key": "env:ANTHROPIC_API_KEY"},
        },
        "models": {
            "small": {
                "context_window": 128000,
                "price": {"input": 0.2, "output": 1.1},
                "deployments": [{"provider": "openrouter", "name": "vendor/small"}],
            },
            "sonnet": {
                "context_window": 200000,
                "price": {"input": 3, "output": 15, "cache_read": 0.3},
                "deployments": [
                    {"provider": "anthropic", "name": "claude-sonnet"},
                    {"provider": "openrouter", "name": "anthropic/claude-sonnet"},
                ],
            },
        },
        "tiers": {"simple": ["small"], "medium": ["small"], "complex": ["sonnet"]},
    }


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, Replace):
            out[key] = value.value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def test_base_config_is_valid(tmp_path: Path) -> None:
    path = _write(tmp_path, "router.yaml", yaml.safe_dump(_base(), sort_keys=False))
    assert load_config(path).tier_names == ("simple", "medium", "complex")


# (id, patch on _base(), field path, reason) — the error must contain "<path>: <reason>".
INVALID_PATCHES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "unknown-model-in-tier",
        {"tiers": {"complex": ["sonnet", "opus"]}},
        "tiers.complex",
        "unknown model 'opus'",
    ),
    (
        "model-without-deployment",
        {"models": {"sonnet": {"deployments": []}}},
        "models.sonnet.deployments",
        "at least 1 item",
    ),
    (
        "unknown-provider-in-deployment",
        {"models": {"sonnet": {"deployments": [{"provider": "nowhere", "name": "claude"}]}}},
        "models.sonnet.deployments.0.provider",
        "unknown provider 'nowhere'",
    ),
    (
        "thresholds-not-increasing",
        {"policy": {"thresholds": {"medium": 0.6, "complex": 0.5}}},
        "policy.thresholds",
        "must increase in tier order",
    ),
    (
        "threshold-below-default-of-next-tier",
        {"policy": {"thresholds": {"medium": 0.7}}},
        "policy.thresholds",
        "must increase in tier order, but complex (0.6) <= medium (0.7)",
    ),
    (
        "negative-price",
        {"models": {"sonnet": {"price": {"input": -3}}}},
        "models.sonnet.price.input",
        "greater than or equal to 0",
    ),
    (
        "price-missing-output",
        {"models": {"small": {"price": Replace({"input": 0.2})}}},
        "models.small.price.output",
        "Field required",
    ),
    (
        "duplicate-deployment",
        {
            "models": {
                "sonnet": {
                    "deployments": [
                        {"provider": "anthropic", "name": "claude-sonnet"},
                        {"provider": "anthropic", "name": "claude-sonnet"},
                    ]
                }
            }
        },
        "models.sonnet.deployments.1",
        "duplicate deployment anthropic/claude-sonnet",
    ),
    (
        "model-twice-in-tier",
        {"tiers": {"complex": ["sonnet", "small", "sonnet"]}},
        "tiers.complex",
        "a model is listed twice",
    ),
    (
        "empty-tier",
        {"tiers": {"medium": []}},
        "tiers.medium",
        "a tier needs at least one model",
    ),
    (
        "start-tier-not-a-tier",
        {"policy": {"start_tier": "expert"}},
        "policy.start_tier",
        "unknown tier 'expert'",
    ),
    (
        "threshold-for-unknown-tier",
        {"policy": {"thresholds": {"expert": 0.95}}},
        "policy.thresholds.expert",
        "unknown tier",
    ),
    (
        "threshold-for-first-tier",
        {"policy": {"thresholds": {"simple": 0.1}}},
        "policy.thresholds.simple",
        "the first tier has no threshold",
    ),
    (
        "unknown-signal-in-weights",
        {"policy": {"weights": {"mood": 0.5}}},
        "policy.weights.mood",
        "unknown signal",
    ),
    (
        "context-window-zero",
        {"models": {"small": {"context_window": 0}}},
        "models.small.context_window",
        "greater than 0",
    ),
    (
        "misspelled-field",
        {"policy": {"dwel_steps": 3}},
        "policy.dwel_steps",
        "unknown field",
    ),
    (
        "unknown-section",
        {"routing": {"mode": "fast"}},
        "routing",
        "unknown field",
    ),
    (
        "deadline-below-attempt-timeout",
        {"resilience": {"attempt_timeout_s": 60, "deadline_s": 30}},
        "resilience.deadline_s",
        "must be >= resilience.attempt_timeout_s",
    ),
    (
        "negative-max-retries",
        {"resilience": {"max_retries": -1}},
        "resilience.max_retries",
        "greater than or equal to 0",
    ),
    (
        "provider-kind-not-supported",
        {"providers": {"openrouter": {"kind": "gemini"}}},
        "providers.openrouter.kind",
        "Input should be 'openai' or 'anthropic'",
    ),
    (
        "env-reference-without-name",
        {"providers": {"anthropic": {"api_key": "env:"}}},
        "providers.anthropic.api_key",
        "'env:' needs a variable name",
    ),
    (
        "env-reference-blank-name",
        {"providers": {"anthropic": {"api_key": "env:   "}}},
        "providers.anthropic.api_key",
        "'env:' needs a variable name",
    ),
    (
        "redis-state-without-url",
        {"state": {"kind": "redis"}},
        "state.url",
        "Field required",
    ),
    (
        "empty-tiers",
        {"tiers": Replace({})},
        "tiers",
        "at least 1 item",
    ),
    (
        "no-providers-section",
        {"providers": DELETE},
        "providers",
        "Field required",
    ),
]


@pytest.mark.parametrize(
    ("patch", "path", "reason"),
    [pytest.param(p, path, reason, id=case) for case, p, path, reason in INVALID_PATCHES],
)
def test_invalid_config_names_field_and_reason(
    tmp_path: Path, patch: dict[str, Any], path: str, reason: str
) -> None:
    file = _write(tmp_path, "router.yaml", yaml.safe_dump(_merge(_base(), patch), sort_keys=False))
    with pytest.raises(ConfigurationError) as info:
        load_config(file)
    message = str(info.value)
    assert f"{path}: " in message
    line = next(ln for ln in message.splitlines() if f"{path}: " in ln)
    assert reason in line
    assert str(file) in message  # the source is named too


# Raw files: (id, file name, text, substrings the message must contain).
INVALID_FILES: list[tuple[str, str, str, tuple[str, ...]]] = [
    (
        "duplicate-top-level-section-yaml",
        "router.yaml",
        yaml.safe_dump(_base(), sort_keys=False)
        + "models:\n  small: {context_window: 1, price: {input: 1, output: 1}}\n",
        ("duplicate name 'models'",),
    ),
    (
        "duplicate-model-key-yaml",
        "router.yaml",
        """\
providers:
  anthropic: {kind: anthropic}
models:
  sonnet: {context_window: 200000, price: {input: 3, output: 15},
           deployments: [{provider: anthropic, name: claude-sonnet}]}
  sonnet: {context_window: 100000, price: {input: 1, output: 5},
           deployments: [{provider: anthropic, name: claude-haiku}]}
tiers: {simple: [sonnet]}
""",
        ("models.sonnet: duplicate name 'sonnet'", "line 6", "each name may appear once"),
    ),
    (
        "duplicate-table-toml",
        "router.toml",
        '[tiers]\nsimple = ["a"]\n[tiers]\ncomplex = ["b"]\n',
        ("not valid TOML",),
    ),
    (
        "top-level-list",
        "router.yaml",
        "- providers\n- models\n",
        ("the top level must be a mapping",),
    ),
    (
        "top-level-scalar",
        "router.yml",
        "just some text\n",
        ("the top level must be a mapping",),
    ),
    (
        "empty-yaml-file",
        "router.yaml",
        "",
        ("the top level must be a mapping",),
    ),
    (
        "unknown-suffix",
        "router.json",
        "{}",
        ("unknown config format '.json'", "use .yaml or .toml"),
    ),
    (
        "invalid-yaml-syntax",
        "router.yaml",
        "providers: {anthropic: {kind: anthropic}\ntiers: [\n",
        ("not valid YAML",),
    ),
    (
        "invalid-toml-syntax",
        "router.toml",
        "[providers.anthropic\nkind = anthropic\n",
        ("not valid TOML", "line 1"),
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [pytest.param(name, text, exp, id=case) for case, name, text, exp in INVALID_FILES],
)
def test_invalid_file_is_rejected(
    tmp_path: Path, name: str, text: str, expected: tuple[str, ...]
) -> None:
    file = _write(tmp_path, name, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(file)
    message = str(info.value)
    for part in expected:
        assert part in message
    assert str(file) in message


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigurationError, match="cannot read config"):
        load_config(missing)


def test_duplicate_yaml_key_names_field_path(tmp_path: Path) -> None:
    text = INVALID_FILES[1][2]
    with pytest.raises(ConfigurationError, match=r"models\.sonnet"):
        load_config(_write(tmp_path, "router.yaml", text))


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"kind": "redis"}, "state.url: Field required"),
        ({"kind": "memory", "url": "redis://localhost"}, "state.url: unknown field"),
    ],
)
def test_state_errors_name_the_real_path(state: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RouterConfig.from_mapping(_merge(_base(), {"state": state}))
    assert expected in str(info.value)


# --------------------------------------------------------------------------------------------
# 3. Secrets never shown.

SECRET_ENV = "sk-very-secret-value-123"
SECRET_LITERAL = "sk-literal-secret-456"
SECRETS = (SECRET_ENV, SECRET_LITERAL)


def _secret_config(**provider_extra: Any) -> dict[str, Any]:
    provider = {
        "kind": "openai",
        "api_key": "env:AR_TEST_KEY",
        "kwargs": {"api_key": SECRET_LITERAL, "organization": "env:AR_ORG"},
        **provider_extra,
    }
    return {
        "providers": {"p": provider},
        "models": {
            "m": {
                "context_window": 1000,
                "price": {"input": 1, "output": 2},
                "deployments": [{"provider": "p", "name": "m-1"}],
            }
        },
        "tiers": {"simple": ["m"]},
    }


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AR_TEST_KEY", SECRET_ENV)
    monkeypatch.delenv("AR_ORG", raising=False)


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.usefixtures("secret_env")
def test_secrets_are_not_in_repr_str_or_dump(tmp_path: Path) -> None:
    path = _write(tmp_path, "router.yaml", yaml.safe_dump(_secret_config(), sort_keys=False))
    config = load_config(path)
    provider = config.providers["p"]
    assert provider.api_key is not None
    provider.api_key.resolve()  # resolving does not make the value show up later
    provider.kwargs["api_key"].resolve()

    _assert_no_secret(repr(config))
    _assert_no_secret(str(config))
    _assert_no_secret(repr(config.model_dump()))
    _assert_no_secret(repr(provider))
    _assert_no_secret(repr(provider.kwargs))
    assert "AR_TEST_KEY" in repr(config)  # the variable's name is fine to show


@pytest.mark.usefixtures("secret_env")
def test_secrets_are_not_in_json_dump_without_kwargs() -> None:
    data = _secret_config(headers={"Authorization": f"Bearer {SECRET_LITERAL}"})
    del data["providers"]["p"]["kwargs"]
    data["state"] = {"kind": "redis", "url": f"redis://:{SECRET_LITERAL}@localhost:6379/0"}
    config = RouterConfig.from_mapping(data)
    dumped = config.model_dump_json()
    _assert_no_secret(dumped)
    assert "AR_TEST_KEY" in dumped


@pytest.mark.usefixtures("secret_env")
def test_secrets_are_not_in_json_dump_with_kwargs() -> None:
    config = RouterConfig.from_mapping(_secret_config())
    dumped = config.model_dump_json()
    _assert_no_secret(dumped)
    _assert_no_secret(repr(config.model_dump(mode="json")))
    assert "env:AR_ORG" in dumped


@pytest.mark.usefixtures("secret_env")
def test_secrets_resolve_to_their_values() -> None:
    config = RouterConfig.from_mapping(_secret_config())
    provider = config.providers["p"]
    assert provider.api_key is not None
    assert provider.api_key.resolve(where="providers.p.api_key") == SECRET_ENV
    assert provider.kwargs["api_key"].resolve() == SECRET_LITERAL
    assert isinstance(provider.kwargs["organization"], Secret)
    assert provider.kwargs["organization"].env == "AR_ORG"


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_unset_variable_raises_naming_variable_and_place(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    monkeypatch.setenv("AR_TEST_KEY", SECRET_ENV)
    config = RouterConfig.from_mapping(_secret_config())
    api_key = config.providers["p"].api_key
    assert api_key is not None
    assert api_key.is_available()
    if value is None:
        monkeypatch.delenv("AR_TEST_KEY")
    else:
        monkeypatch.setenv("AR_TEST_KEY", value)
    assert not api_key.is_available()
    with pytest.raises(ConfigurationError) as info:
        api_key.resolve(where="providers.p.api_key")
    message = str(info.value)
    assert "AR_TEST_KEY" in message
    assert "providers.p.api_key" in message
    _assert_no_secret(message)


@pytest.mark.usefixtures("secret_env")
def test_unset_kwargs_reference_raises() -> None:
    config = RouterConfig.from_mapping(_secret_config())
    with pytest.raises(ConfigurationError, match=r"AR_ORG is not set.*providers\.p\.kwargs"):
        config.providers["p"].kwargs["organization"].resolve(where="providers.p.kwargs")


def test_redact_masks_values_once_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    value = f"sk-{uuid.uuid4().hex}"  # unique: the set of seen values is process-wide
    monkeypatch.setenv("AR_REDACT_KEY", value)
    text = f"401 from provider: invalid key {value} (key={value})"
    assert redact(text) == text  # not resolved yet: nothing known to mask
    assert Secret.parse("env:AR_REDACT_KEY").resolve() == value
    masked = redact(text)
    assert value not in masked
    assert masked.count("*" * 10) == 2

    literal = f"lit-{uuid.uuid4().hex}"
    Secret.parse(literal).resolve()
    assert literal not in redact(f"echo {literal}")


# Invalid configs containing the secrets: the error text must not contain them.
LEAK_CASES: list[tuple[str, dict[str, Any]]] = [
    ("field-error", {"models": {"m": {"context_window": 0}}}),
    ("cross-check-error", {"tiers": {"simple": ["missing"]}}),
    ("unknown-field-next-to-secret", {"providers": {"p": {"api_kye": SECRET_LITERAL}}}),
    ("secret-in-numeric-field", {"providers": {"p": {"cache_ttl_s": SECRET_LITERAL}}}),
    ("secret-in-kind", {"providers": {"p": {"kind": SECRET_LITERAL}}}),
    (
        "secret-header-and-bad-header",
        {"providers": {"p": {"headers": {"X": SECRET_LITERAL, "Y": 5}}}},
    ),
    ("several-errors", {"tiers": Replace({}), "resilience": {"max_retries": -1}}),
]


@pytest.mark.parametrize("patch", [pytest.param(p, id=case) for case, p in LEAK_CASES])
@pytest.mark.usefixtures("secret_env")
def test_configuration_error_never_contains_secrets(tmp_path: Path, patch: dict[str, Any]) -> None:
    Secret.parse("env:AR_TEST_KEY").resolve()
    file = _write(
        tmp_path, "router.yaml", yaml.safe_dump(_merge(_secret_config(), patch), sort_keys=False)
    )
    assert SECRET_LITERAL in file.read_text()
    with pytest.raises(ConfigurationError) as info:
        load_config(file)
    _assert_no_secret(str(info.value))
    _assert_no_secret(repr(info.value))


def test_yaml_syntax_error_does_not_echo_secret_line(tmp_path: Path) -> None:
    text = f'providers:\n  p: {{kind: openai, api_key: "{SECRET_LITERAL}}}\n'
    with pytest.raises(ConfigurationError) as info:
        load_config(_write(tmp_path, "router.yaml", text))
    assert "not valid YAML" in str(info.value)
    _assert_no_secret(str(info.value))


def test_state_kind_error_does_not_echo_value() -> None:
    data = _merge(_secret_config(), {"state": {"kind": f"redis://:{SECRET_LITERAL}@host"}})
    with pytest.raises(ConfigurationError) as info:
        RouterConfig.from_mapping(data)
    assert "state" in str(info.value)
    _assert_no_secret(str(info.value))


@pytest.mark.usefixtures("secret_env")
def test_nested_kwargs_secrets_are_protected() -> None:
    data = _merge(
        _secret_config(),
        {
            "providers": {
                "p": {
                    "kwargs": Replace(
                        {
                            "default_headers": {
                                "Authorization": f"Bearer {SECRET_LITERAL}",
                                "X-Org": "env:AR_ORG",
                            }
                        }
                    )
                }
            }
        },
    )
    config = RouterConfig.from_mapping(data)
    _assert_no_secret(repr(config))
    assert isinstance(config.providers["p"].kwargs["default_headers"]["X-Org"], Secret)


@pytest.mark.usefixtures("secret_env")
def test_model_dump_round_trips_env_references() -> None:
    data = _secret_config()
    data["providers"]["p"]["kwargs"] = {"organization": "env:AR_ORG"}
    config = RouterConfig.from_mapping(data)
    again = RouterConfig.model_validate(config.model_dump())
    assert again == config


# --------------------------------------------------------------------------------------------
# 4. Errors are aggregated: every independent problem is reported at once.


def test_independent_field_errors_are_all_reported(tmp_path: Path) -> None:
    patch = {
        "models": {"small": {"context_window": 0}, "sonnet": {"price": {"output": -1}}},
        "policy": {"dwel_steps": 2},
    }
    file = _write(tmp_path, "router.yaml", yaml.safe_dump(_merge(_base(), patch)))
    with pytest.raises(ConfigurationError) as info:
        load_config(file)
    lines = str(info.value).splitlines()
    assert "3 problems" in lines[0]
    assert any(ln.strip().startswith("models.small.context_window: ") for ln in lines)
    assert any(ln.strip().startswith("models.sonnet.price.output: ") for ln in lines)
    assert any(ln.strip().startswith("policy.dwel_steps: unknown field") for ln in lines)
    assert len(lines) == 4


def test_independent_cross_check_errors_are_all_reported() -> None:
    patch = {
        "tiers": {"complex": ["opus"]},
        "policy": {"start_tier": "expert", "weights": {"mood": 1.0}},
        "resilience": {"attempt_timeout_s": 90, "deadline_s": 10},
    }
    with pytest.raises(ConfigurationError) as info:
        RouterConfig.from_mapping(_merge(_base(), patch))
    message = str(info.value)
    assert message.startswith("invalid config: 4 problems")
    for part in (
        "tiers.complex: unknown model 'opus'",
        "policy.start_tier: unknown tier 'expert'",
        "policy.weights.mood: unknown signal",
        "resilience.deadline_s: must be >= resilience.attempt_timeout_s",
    ):
        assert part in message
