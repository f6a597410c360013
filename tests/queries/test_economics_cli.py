"""`memmoat query`: the economics queries are listed with their parameters and run as table, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from memmoat.cli import main
from queries import loader
from tests.queries import econ_fixture as fx

ECONOMICS = ("fleet_overview", "cost_per_token", "chargeback", "cost_timeseries", "gpu_hour_cost", "idle_cost",
             "gpu_attribution", "api_comparison", "api_prices", "gpu_specs", "gpu_models", "gpu_prices",
             "diagnosis", "roofline", "tokens_per_second", "sample_count")  # fmt: skip


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    fx.build(folder / "m.duckdb")
    path = folder / "memmoat.toml"
    path.write_text('[storage]\npath = "m.duckdb"\n' + fx.SETTINGS_TOML)
    return path


def invoke(cfg: Path, *args: str) -> str:
    # The settings file through MEMMOAT_CONFIG: the CLI reads it, and so does the query runner
    # (prices, thresholds) when the caller passes no Settings.
    res = CliRunner().invoke(main, list(args), env={"MEMMOAT_CONFIG": str(cfg)}, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


def test_query_lists_economics_with_parameters(cfg: Path) -> None:
    out = invoke(cfg, "query")
    for name in ECONOMICS:
        assert f"\n{name}\n" in f"\n{out}", name
    assert "--param by=<VARCHAR> = engine  engine | model | namespace | cluster | fleet" in out
    assert "--param bucket_minutes=<INTEGER> = 0" in out
    assert set(ECONOMICS) <= set(loader.catalog())


@pytest.mark.parametrize("name", ECONOMICS)
def test_each_query_runs_in_every_format(cfg: Path, name: str) -> None:
    q = loader.get(name)
    params = []
    for p in q.params:
        if p.name == "start":
            params += ["-p", f"start={fx.T0.isoformat()}"]
        elif p.name == "end":
            params += ["-p", f"end={fx.T1.isoformat()}"]
    table = invoke(cfg, "query", name, *params)
    assert table.splitlines()[1].startswith("-")
    rows = list(csv.DictReader(io.StringIO(invoke(cfg, "query", name, *params, "--format", "csv"))))
    data = json.loads(invoke(cfg, "query", name, *params, "--format", "json"))
    assert len(rows) == len(data) >= 1, name
    assert list(data[0]) == list(rows[0])


def test_cli_prices_come_from_the_settings_file(cfg: Path) -> None:
    out = invoke(cfg, "query", "cost_per_token", "-p", f"start={fx.T0.isoformat()}", "-p", f"end={fx.T1.isoformat()}",
                 "-p", "by=fleet", "--format", "json")  # fmt: skip
    (fleet,) = json.loads(out)
    # The fixture's prices ($3.60/h H100, on-prem A100), not the $2/h default: see test_economics.py.
    assert fleet["cost_usd"] == pytest.approx(0.12 + 3 / 7 * (1 / 60 + 0.0007))
