"""The golden report of the fixture day (tests/reports/fixture.py), every figure worked out by hand.

Day D = 2026-01-02 (UTC), previous day D-1 = 2026-01-01; no data before that.

GPU price (H100 on-prem): capex 52,560 / (4 x 8,760 h) = $1.50/h, overhead 4,380 / 8,760 h =
$0.50/h: $2.00 per GPU-hour before power. Power: $0.16/kWh x PUE 1.25 = $0.20 per kWh.

Engine chat (GPU 0, 24 GPU-hours a day):
  D-1: 400 W x 24 h = 9.6 kWh -> $1.92 energy; cost 48.00 + 1.92 = $49.92
       prompt 4 x 2.5M = 10M, generation 4 x 0.5M = 2M
       prefill 4 x 80 s = 320 s, decode 4 x 320 s = 1,280 s -> input share 320 / 1,600 = 0.20
       input  cost 49.92 x 0.20 =  9.984 -> $/1M input  =  9.984 / 10  = 0.9984
       output cost 49.92 x 0.80 = 39.936 -> $/1M output = 39.936 / 2   = 19.968
  D:   500 W x 24 h = 12 kWh -> $2.40 energy; cost 48.00 + 2.40 = $50.40
       prompt 4 x 2M = 8M (the restart at 12:00 loses nothing: the increment after it is the
       new value, 2M), generation 4 x 0.6M = 2.4M
       prefill 4 x 100 = 400 s, decode 4 x 300 = 1,200 s -> input share 400 / 1,600 = 0.25
       input  cost 50.40 x 0.25 = 12.60 -> $/1M input  = 12.60 / 8   = 1.575
       output cost 50.40 x 0.75 = 37.80 -> $/1M output = 37.80 / 2.4 = 15.75
Idle GPU 1 (no pod), both days: 24 h x $2.00 + 100 W x 24 h = 2.4 kWh x $0.20 = $0.48 -> $48.48
Fleet on D: 50.40 + 48.48 = $98.88 over 48 GPU-hours; idle share 48.48 / 98.88 = 0.49029...

The 7-day mean is the mean of the daily figures of D-7 .. D-1 that had tokens: only D-1, so
it equals D-1's: input 0.9984, output 19.968.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from memmoat.cli import main
from tests.reports import fixture
from tests.reports.fixture import Built


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return fixture.shared(tmp_path_factory)


def approx(v: float) -> object:
    return pytest.approx(v, rel=1e-9, abs=1e-9)


def summary(built: Built) -> dict:  # type: ignore[type-arg]
    return json.loads((built.report_dir / "summary.json").read_text())  # type: ignore[no-any-return]


def test_folder_holds_html_csv_and_json(built: Built) -> None:
    names = {p.name for p in built.report_dir.iterdir()}
    assert {"report.html", "summary.json", "fleet_overview.csv", "decomposition.csv", "cost_by_namespace.csv",
            "cost_by_model.csv", "idle_gpus.csv", "bottlenecks.csv", "kv_incidents.csv", "targets.csv", "gaps.csv",
            "counter_resets.csv", "hourly.csv", "trend.csv"} <= names  # fmt: skip
    assert not [n for n in names if n.endswith(".tmp")]
    s = summary(built)
    assert s["schema"] == "memmoat.daily_report/1" and s["day"] == "2026-01-02" and s["timezone"] == "UTC"
    assert set(s["files"]) == names
    assert "$1.575 $/1M input" not in built.cli_output  # the CLI prints plain numbers
    assert "1.575 $/1M input, 15.75 $/1M output" in built.cli_output


def test_headline_figures(built: Built) -> None:
    h = summary(built)["headline"]
    assert h["usd_per_1m_input"]["day"] == approx(1.575)
    assert h["usd_per_1m_output"]["day"] == approx(15.75)
    assert h["usd_per_1m_input"]["previous_day"] == approx(0.9984)
    assert h["usd_per_1m_output"]["previous_day"] == approx(19.968)
    # 7-day mean: only D-1 had tokens among D-7 .. D-1
    assert h["usd_per_1m_input"]["mean_7d"] == approx(0.9984)
    assert h["usd_per_1m_input"]["days_in_mean"] == 1
    assert h["usd_per_1m_output"]["mean_7d"] == approx(19.968)
    # changes: 1.575 / 0.9984 - 1 = 0.577524...; 15.75 / 19.968 - 1 = -0.211238...
    assert h["usd_per_1m_input"]["change_vs_previous_day"] == approx(1.575 / 0.9984 - 1)
    assert h["usd_per_1m_output"]["change_vs_previous_day"] == approx(15.75 / 19.968 - 1)
    assert h["usd_per_1m_output"]["change_vs_mean_7d"] == approx(15.75 / 19.968 - 1)
    assert h["cost_usd"] == approx(98.88)
    assert h["engine_cost_usd"] == approx(50.40)
    assert h["idle_cost_usd"] == approx(48.48)
    assert h["idle_share"] == approx(48.48 / 98.88)
    assert h["gpu_hours"] == approx(48.0)
    assert h["prompt_tokens"] == approx(8e6) and h["generation_tokens"] == approx(2.4e6)
    # energy: 12 kWh (GPU 0) + 2.4 kWh (GPU 1) = 14.4 kWh; per token 14.4 x 3.6e6 J / 10.4M tokens
    assert h["energy_kwh"] == approx(14.4)
    assert h["joules_per_token"] == approx(14.4 * 3.6e6 / 10.4e6)


def test_decomposition_worked_by_hand(built: Built) -> None:
    """Output tokens, D-1 -> D. $/1M = ($/GPU-h x share) / (utilization x tokens per busy GPU-h) x 1e6.

    D-1: $/GPU-h = 49.92 / 24 = 2.08 (price 2.00 + energy 0.08); share 0.80; utilization 0.60;
         tokens per busy GPU-h = 2M / (0.60 x 24) = 138,888.9;  2.08 x 0.8 / (0.6 x 138,888.9) x 1e6 = 19.968
    D:   $/GPU-h = 50.40 / 24 = 2.10 (price 2.00 + energy 0.10); share 0.75; utilization 0.50;
         tokens per busy GPU-h = 2.4M / (0.50 x 24) = 200,000;   2.10 x 0.75 / (0.5 x 200,000) x 1e6 = 15.75
    Log points (they add up to ln(15.75 / 19.968) = -0.237291):
         price        (2.00 - 2.00) / L(2.10, 2.08)                 =  0
         energy       (0.10 - 0.08) / L(2.10, 2.08) = ln(2.10/2.08) =  0.009569  (L = 2.08999)
         utilization  -ln(0.50 / 0.60)                              =  0.182322
         token mix     ln(0.75 / 0.80)                              = -0.064539
         throughput   -ln(200,000 / 138,888.9) = -ln(1.44)          = -0.364643
    Dollars: each log term x L(15.75, 19.968) = -4.218 / -0.237291 = 17.7757 $ per log point:
         energy +0.1701, utilization +3.2409, token mix -1.1472, throughput -6.4818; sum -4.218.
    """
    d = summary(built)["decomposition"]["output"]
    assert d["baseline_day"] == "2026-01-01"
    assert d["before_usd_per_1m"] == approx(19.968) and d["after_usd_per_1m"] == approx(15.75)
    c = {x["factor"]: x for x in d["contributions"]}
    expected = {
        "price": 0.0,
        "energy": math.log(2.10 / 2.08),
        "utilization": -math.log(0.50 / 0.60),
        "token_mix": math.log(0.75 / 0.80),
        "throughput": -math.log(1.44),
    }
    for factor, lp in expected.items():
        assert c[factor]["log_points"] == pytest.approx(lp, abs=1e-9), factor
    assert sum(expected.values()) == pytest.approx(math.log(15.75 / 19.968))
    weight = (15.75 - 19.968) / math.log(15.75 / 19.968)
    assert weight == pytest.approx(17.7757, rel=1e-5)
    for factor, lp in expected.items():
        assert c[factor]["usd_per_1m"] == pytest.approx(weight * lp, abs=1e-9), factor
    assert [round(c[f]["usd_per_1m"], 4) for f in expected] == [0.0, 0.1701, 3.2409, -1.1472, -6.4818]
    assert sum(x["usd_per_1m"] for x in c.values()) == pytest.approx(15.75 - 19.968)
    assert c["utilization"]["before"] == approx(0.60) and c["utilization"]["after"] == approx(0.50)
    assert c["throughput"]["after"] == approx(200_000.0)
    assert c["energy"]["before"] == approx(0.08) and c["energy"]["after"] == approx(0.10)

    # Input tokens: share 0.20 -> 0.25; tokens per busy GPU-h 10M / 14.4 = 694,444.4 -> 8M / 12 = 666,666.7
    i = {x["factor"]: x for x in summary(built)["decomposition"]["input"]["contributions"]}
    assert i["token_mix"]["log_points"] == pytest.approx(math.log(0.25 / 0.20), abs=1e-9)
    assert i["throughput"]["log_points"] == pytest.approx(-math.log((8e6 / 12) / (10e6 / 14.4)), abs=1e-9)
    assert sum(x["log_points"] for x in i.values()) == pytest.approx(math.log(1.575 / 0.9984))


def test_decomposition_csv_matches_json(built: Built) -> None:
    rows = list(csv.DictReader((built.report_dir / "decomposition.csv").open()))
    total = next(r for r in rows if r["tokens"] == "output" and r["factor"] == "total")
    assert float(total["before"]) == approx(19.968) and float(total["after"]) == approx(15.75)
    parts = [float(r["usd_per_1m"]) for r in rows if r["tokens"] == "output" and r["factor"] != "total"]
    assert sum(parts) == pytest.approx(float(total["usd_per_1m"]))


def test_cost_drivers_idle_bottlenecks_incidents_quality(built: Built) -> None:
    s = summary(built)
    ns = {r["namespace"]: r for r in s["cost_by_namespace"]}
    assert ns["chat"]["cost_usd"] == approx(50.40)
    assert ns["(idle GPUs: no pod)"]["cost_usd"] == approx(48.48)
    assert sum(r["cost_usd"] for r in s["cost_by_namespace"]) == approx(98.88)  # rows add up to the bill
    assert [r["group"] for r in s["cost_by_model"]] == ["llama"]
    assert [(r["gpu"], r["cost_usd"]) for r in s["idle_gpus"]] == [(1, approx(48.48))]
    # DRAM active 0.62 >= 0.50 and tensor 0.20 < 0.40: bandwidth-bound (queries/named/diagnosis.sql)
    assert s["bottlenecks"]["counts"] == {"memory-bandwidth-bound": 1}
    assert s["bottlenecks"]["engines"][0]["recommendation"]
    # KV 95 % full with 3 waiting at 12:00, gone at 18:00: one incident of 360 minutes
    (kv,) = s["kv_incidents"]
    assert (kv["target"], kv["started"], kv["ended"], kv["minutes"]) == (
        "chat", "2026-01-02T12:00:00", "2026-01-02T18:00:00", approx(360.0)
    )  # fmt: skip
    assert kv["peak_kv_usage"] == approx(0.95) and kv["max_waiting"] == approx(3.0)
    q = s["data_quality"]
    assert q["counts"] == {
        "targets_down": 1,  # node-a's scrape at 18:00 failed (HTTP 503)
        "gaps": 0,  # a 12 h hole is within 3 x the 6 h interval... of the scrapes that succeeded
        "counter_resets": 1,  # chat restarted between 06:00 and 12:00
        "unattributed_gpus": 1,  # GPU 1: no pod, no engine
        "busy_unattributed_gpus": 0,  # ... and it is not busy (0 %), so it is idle, not unattributed work
    }
    kinds = [i["kind"] for i in q["issues"]]
    assert kinds == ["target down", "counter reset"]
    assert "1 of 4 scrapes failed" in q["issues"][0]["detail"] and "18:00 to 24:00" in q["issues"][0]["detail"]


def test_headline_equals_memmoat_query_for_the_same_day(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """Done-when: the report's figures equal `memmoat query fleet_overview` for the same window."""
    monkeypatch.setenv("MEMMOAT_CONFIG", str(built.config))  # the query path prices with the same file
    res = CliRunner().invoke(
        main,
        ["--config", str(built.config), "query", "fleet_overview", "--format", "json",
         "--param", "start=2026-01-02T00:00:00", "--param", "end=2026-01-03T00:00:00"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    (q,) = json.loads(res.stdout)
    h = summary(built)["headline"]
    same = lambda v: pytest.approx(v, rel=1e-12)  # noqa: E731 (DuckDB may sum in another order)
    assert h["usd_per_1m_input"]["day"] == same(q["usd_per_1m_input"])
    assert h["usd_per_1m_output"]["day"] == same(q["usd_per_1m_output"])
    for key in ("cost_usd", "idle_cost_usd", "gpu_hours", "prompt_tokens", "generation_tokens", "energy_kwh"):
        assert h[key] == same(q[key]), key
    with (built.report_dir / "fleet_overview.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["usd_per_1m_output"]) == same(q["usd_per_1m_output"])


URL_ATTR = re.compile(r"""(?:src|href|action|background|poster)\s*=\s*["']?\s*(?!data:)[a-z][a-z0-9+.-]*:""", re.I)


def test_html_is_self_contained(built: Built) -> None:
    html = (built.report_dir / "report.html").read_text()
    assert "http://" not in html and "https://" not in html  # none at all, not even in text
    assert "<script" not in html.lower()
    assert "<link" not in html.lower() and "@import" not in html
    assert not URL_ATTR.search(html), URL_ATTR.search(html)
    assert not re.search(r"url\(\s*['\"]?(?!data:)", html)
    imgs = re.findall(r'<img src="([^"]+)"', html)
    assert len(imgs) >= 4 and all(src.startswith("data:image/svg+xml;base64,") for src in imgs)
    # the figures are in the text, not only in the charts (mail clients may block images)
    for figure in ("$1.575", "$15.75", "$0.9984", "$19.97", "$98.88", "$48.48", "memory-bandwidth-bound", "12:00"):
        assert figure in html, figure
    assert "127.0.0.1:9/metrics" in html  # the target's error is shown, without its scheme


def test_catch_up_makes_only_days_with_data_and_records_them(built: Built, tmp_path: Path) -> None:
    from datetime import datetime

    from reports import daily

    settings = built.settings.model_copy(
        update={"report": built.settings.report.model_copy(update={"output_dir": str(tmp_path / "out")})}
    )
    now = datetime(2026, 1, 3, 7, 0)  # the morning after D: the last 4 days are Dec 30 .. Jan 2
    made = daily.catch_up(settings, days_back=4, send=False, now=now)
    assert [p.name for p in made] == ["2026-01-01", "2026-01-02"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["2026-01-01", "2026-01-02", "ledger.json"]
    ledger = daily.read_ledger(tmp_path / "out")
    assert set(ledger["made"]) == {"2026-01-01", "2026-01-02"}
    assert ledger["made"]["2026-01-02"]["trigger"] == "catch-up"
    assert set(ledger["skipped"]) == {"2025-12-30", "2025-12-31"}
    assert all(v["reason"] == "no data" for v in ledger["skipped"].values())
    # run again: nothing is missing any more
    assert daily.catch_up(settings, days_back=4, send=False, now=now) == []
    # the first day's report has no earlier day to compare with, and says so
    first = json.loads((tmp_path / "out" / "2026-01-01" / "summary.json").read_text())
    assert "no earlier day with tokens" in first["decomposition"]["output"]["unavailable"]
    assert first["headline"]["usd_per_1m_output"]["previous_day"] is None


def test_report_job_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from memmoat import config as cfg
    from memmoat.service import report_job

    (tmp_path / "m.duckdb").write_text("not a database")
    settings = cfg.loads('[storage]\npath = "m.duckdb"\n[report]\noutput_dir = "out"\n', base_dir=tmp_path)
    report_job(settings)  # a broken store: logged, not raised
    assert "daily report" in caplog.text or "not made" in caplog.text


def test_day_bounds_follow_the_timezone_and_dst() -> None:
    from datetime import date, datetime

    from memmoat import config as cfg
    from reports.daily import day_bounds, default_day

    berlin = cfg.loads('[report]\ntimezone = "Europe/Berlin"\n')
    assert day_bounds(berlin, date(2026, 1, 2)) == (datetime(2026, 1, 1, 23), datetime(2026, 1, 2, 23))
    # spring forward: 23 hours
    start, end = day_bounds(berlin, date(2026, 3, 29))
    assert (end - start).total_seconds() == 23 * 3600
    assert default_day(berlin, datetime(2026, 1, 2, 23, 30)) == date(2026, 1, 2)  # 00:30 on Jan 3 in Berlin


def test_a_day_without_data_is_made_on_demand_but_says_so(built: Built, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main, ["--config", str(built.config), "report", "--date", "2025-12-20", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "no data was collected on 2025-12-20" in res.stderr
    s = json.loads((tmp_path / "2025-12-20" / "summary.json").read_text())
    assert s["has_data"] is False and s["headline"]["usd_per_1m_output"]["day"] is None
    assert "No data was collected on this day" in (tmp_path / "2025-12-20" / "report.html").read_text()
