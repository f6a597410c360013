from pathlib import Path

import pytest

from memmoat import config
from memmoat.errors import ConfigError

GOOD = """
[storage]
path = "store/m.duckdb"

[collector]
interval_seconds = 15
timeout_seconds = 5

[[targets]]
name = "node-a"
url = "http://127.0.0.1:9400/metrics"
kind = "dcgm"

[[targets]]
name = "chat"
url = "http://127.0.0.1:8000/metrics"
kind = "vllm"
labels = { namespace = "team-chat", pod = "chat-0" }

[[prices.gpus]]
gpu_model = "NVIDIA H100 80GB HBM3"
usd_per_gpu_hour = 2.49
"""


def test_defaults_when_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.ENV_PATH, raising=False)
    s = config.load()
    assert s.collector.interval_seconds == 15
    assert s.storage.path == "data/memmoat.duckdb"
    assert s.targets == []


def test_good_file_and_paths_relative_to_it(tmp_path: Path) -> None:
    f = tmp_path / "memmoat.toml"
    f.write_text(GOOD)
    s = config.load(f)
    assert [t.name for t in s.targets] == ["node-a", "chat"]
    assert s.targets[1].labels == {"namespace": "team-chat", "pod": "chat-0"}
    assert s.store_path == tmp_path.resolve() / "store" / "m.duckdb"
    assert s.prices.gpus[0].usd_per_gpu_hour == 2.49


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "other.toml"
    f.write_text(GOOD)
    monkeypatch.setenv(config.ENV_PATH, str(f))
    assert len(config.load().targets) == 2


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        config.load(tmp_path / "nope.toml")


def test_unknown_top_level_key_names_key_and_line() -> None:
    text = GOOD + "\n[colector]\ninterval_seconds = 3\n"
    with pytest.raises(ConfigError) as e:
        config.loads(text, path="m.toml")
    msg = str(e.value)
    assert "unknown key 'colector'" in msg
    line = text.splitlines().index("[colector]") + 1
    assert e.value.line == line
    assert f"m.toml:{line}" in msg


def test_unknown_key_inside_second_target_names_its_line() -> None:
    text = GOOD.replace('kind = "vllm"', 'kind = "vllm"\nlabes = { a = "b" }')
    with pytest.raises(ConfigError) as e:
        config.loads(text, path="m.toml")
    assert e.value.key == "targets[1].labes"
    assert e.value.line == text.splitlines().index('labes = { a = "b" }') + 1


def test_bad_value_names_key_and_line() -> None:
    text = GOOD.replace('kind = "vllm"', 'kind = "vlm"')
    with pytest.raises(ConfigError) as e:
        config.loads(text, path="m.toml")
    assert e.value.key == "targets[1].kind"
    assert e.value.line == text.splitlines().index('kind = "vlm"') + 1


def test_timeout_must_be_below_interval() -> None:
    with pytest.raises(ConfigError, match="timeout_seconds"):
        config.loads("[collector]\ninterval_seconds = 5\ntimeout_seconds = 10\n")


def test_toml_syntax_error_has_line() -> None:
    with pytest.raises(ConfigError) as e:
        config.loads("[collector]\ninterval_seconds = = 5\n", path="m.toml")
    assert e.value.line == 2


def test_price_needs_exactly_one_basis() -> None:
    text = '[[prices.gpus]]\ngpu_model = "X"\n'
    with pytest.raises(ConfigError, match="exactly one"):
        config.loads(text)


def test_duplicate_target_names() -> None:
    text = GOOD.replace('name = "chat"', 'name = "node-a"')
    with pytest.raises(ConfigError, match="used twice"):
        config.loads(text)


def test_secret_env_var_must_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    text = GOOD.replace('kind = "dcgm"', 'kind = "dcgm"\nbearer_token_env = "MM_TEST_TOKEN"')
    monkeypatch.delenv("MM_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError) as e:
        config.loads(text, path="m.toml")
    assert "MM_TEST_TOKEN" in str(e.value)
    assert e.value.line == text.splitlines().index('bearer_token_env = "MM_TEST_TOKEN"') + 1
    monkeypatch.setenv("MM_TEST_TOKEN", "s3cret")
    s = config.loads(text)
    assert s.targets[0].bearer_token() == "s3cret"


def test_bad_timezone() -> None:
    with pytest.raises(ConfigError, match="unknown timezone"):
        config.loads('[report]\ntimezone = "Mars/Olympus"\n')
