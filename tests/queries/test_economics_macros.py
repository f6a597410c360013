"""The windowed macros of queries/economics.sql agree with the store's canonical views.

engine_increments_between(t0, t1) must give the rows of engine_increments with ts in (t0, t1],
restarts included; the GPU energy of gpu_intervals_between must match gpu_energy_increments.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from collector.ingest import Ingestor
from memmoat.config import Target
from queries.runner import prepare, run_sql
from store.writer import commit_batches, ensure_schema
from tests.queries import econ_fixture as fx

T = [fx.T0 + timedelta(seconds=60 * i) for i in range(5)]
C0, C1, C2 = 1_773_100_000.0, 1_773_150_000.0, 1_773_160_000.0

# prompt counter and _created per scrape: +300, a restart that drops (50: counts 50), a restart
# that does not drop but has a new _created and process start (700: counts 700), then +200.
PROMPT = [(100, C0), (400, C0), (50, C1), (700, C2), (900, C2)]
# energy in mJ: +3,000 J, a driver reload (counter back to 500 J: counts 500 J), +2,000 J.
ENERGY_MJ = [1_000_000, 4_000_000, 500_000, 2_500_000, 2_500_000]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("macros") / "memmoat.duckdb"
    ensure_schema(path)
    eng = Target(name="e", url="http://127.0.0.1:9/m", kind="vllm")
    dcgm = Target(name="n", url="http://127.0.0.1:9/m", kind="dcgm")
    ing = Ingestor()
    lab = 'gpu="0",UUID="GPU-1",modelName="NVIDIA L4",Hostname="n"'
    for at, (prompt, created), mj in zip(T, PROMPT, ENERGY_MJ, strict=True):
        dcgm_page = (f"# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n"
                     f"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{lab}}} {mj}\n"
                     f"# TYPE DCGM_FI_DEV_POWER_USAGE gauge\nDCGM_FI_DEV_POWER_USAGE{{{lab}}} 50.0\n")  # fmt: skip
        page = fx.vllm_page("m", prompt=prompt, gen=prompt / 2, prefill_s=prompt / 100, decode_s=prompt / 10,
                            created=created)  # fmt: skip
        commit_batches(path, [ing.ingest(eng, at, page), ing.ingest(dcgm, at, dcgm_page)])
    return path


def test_engine_increments_between_matches_the_view(store: Path) -> None:
    con = duckdb.connect(str(store), read_only=True)
    try:
        prepare(con, fx.settings())
        cols = "prompt_tokens, generation_tokens, prefill_seconds, decode_seconds, reset"
        for lo, hi in ((T[0], T[4]), (T[1], T[3]), (T[2], T[4])):
            view = con.execute(
                f"SELECT ts, prev_ts, {cols} FROM engine_increments WHERE ts > ? AND ts <= ? ORDER BY ts", [lo, hi]
            ).fetchall()
            macro = con.execute(f"SELECT ts, prev_ts, {cols} FROM engine_increments_between(?, ?) ORDER BY ts",
                                [lo, hi]).fetchall()  # fmt: skip
            assert macro == view
        total = con.execute(
            "SELECT sum(prompt_tokens), bool_or(reset) FROM engine_increments_between(?, ?)", [T[0], T[4]]
        ).fetchone()
    finally:
        con.close()
    # By hand: +300, restart to 50 -> 50, restart (new _created) at 700 -> 700, +200 = 1,250.
    assert total == (1_250, True)


def test_gpu_energy_matches_the_view(store: Path) -> None:
    res = run_sql(store, f"""
        SELECT (SELECT sum(energy_j) FROM gpu_energy_increments WHERE ts > '{T[0]}' AND ts <= '{T[4]}') AS view_j,
               (SELECT sum(energy_counter_j) FROM gpu_intervals_between('{T[0]}'::TIMESTAMP, '{T[4]}'::TIMESTAMP))
                   AS macro_j
    """, settings=fx.settings())  # fmt: skip
    # By hand: +3,000 J, reload to 500 J -> 500 J, +2,000 J, +0 = 5,500 J.
    assert res.rows == [(5_500.0, 5_500.0)]


def test_sql_users_see_the_reference_relations(store: Path) -> None:
    res = run_sql(store, "SELECT gpu_model, spec_model, price_basis FROM gpu_models ORDER BY 1", settings=fx.settings())
    assert res.rows == [("", None, "default rate"), ("NVIDIA L4", "NVIDIA L4", "default rate")]
    res = run_sql(store, "SELECT kv_usage_high, bandwidth_high FROM diagnosis_thresholds", settings=fx.settings())
    assert res.rows == [(0.9, 0.5)]
