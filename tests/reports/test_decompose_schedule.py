"""The decomposition's arithmetic, and how the collector schedules the report (daily at a local time,
plus a catch-up at start)."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.decompose import DayFactors, decompose, logmean

pos = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


def day(gpu_h: float, util: float, price: float, energy: float, share: float, tokens: float) -> DayFactors:
    cost = price + energy
    return DayFactors(gpu_h, gpu_h * util, price, energy, cost * share, tokens)


def test_logmean() -> None:
    assert logmean(2.0, 2.0) == 2.0
    assert logmean(1.0, math.e) == pytest.approx((math.e - 1) / 1.0)
    with pytest.raises(ValueError):
        logmean(0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(pos, st.floats(0.01, 1.0), pos, st.floats(0, 1e5), st.floats(0.01, 1.0), pos),
    st.tuples(pos, st.floats(0.01, 1.0), pos, st.floats(0, 1e5), st.floats(0.01, 1.0), pos),
)
def test_contributions_add_up_exactly(a: tuple[float, ...], b: tuple[float, ...]) -> None:
    d0, d1 = day(*a), day(*b)
    d = decompose(d0, d1)
    # $/1M = $/GPU-h x share / (utilization x tokens per busy GPU-h) x 1e6, on both days
    for x in (d0, d1):
        assert x.usd_per_gpu_hour * x.share / (x.utilization * x.tokens_per_busy_gpu_hour) * 1e6 == pytest.approx(
            x.usd_per_1m, rel=1e-9
        )
    assert sum(c.log_points for c in d.contributions) == pytest.approx(
        math.log(d1.usd_per_1m / d0.usd_per_1m), rel=1e-7, abs=1e-9
    )
    assert sum(c.usd_per_1m for c in d.contributions) == pytest.approx(
        d.change_usd_per_1m, rel=1e-7, abs=1e-9 * max(d0.usd_per_1m, d1.usd_per_1m)
    )


def test_only_the_factor_that_moved_contributes() -> None:
    base = day(24, 0.5, 48, 2, 0.75, 2.4e6)
    busier = day(24, 0.6, 48, 2, 0.75, 2.4e6)  # same tokens on more busy hours: throughput fell
    d = decompose(base, busier)
    c = {x.factor: x for x in d.contributions}
    assert d.change_usd_per_1m == 0
    assert c["utilization"].log_points == pytest.approx(-math.log(0.6 / 0.5))
    assert c["throughput"].log_points == pytest.approx(math.log(0.6 / 0.5))
    assert c["price"].log_points == c["energy"].log_points == c["token_mix"].log_points == 0
    dearer = decompose(base, day(24, 0.5, 60, 2, 0.75, 2.4e6))
    assert {x.factor for x in dearer.contributions if x.log_points} == {"price"}
    assert dearer.main_driver().factor == "price"  # type: ignore[union-attr]


def test_zero_factors_are_refused_with_a_reason() -> None:
    good = day(24, 0.5, 48, 2, 0.75, 2.4e6)
    with pytest.raises(ValueError, match="previous window: no tokens"):
        decompose(day(24, 0.5, 48, 2, 0.75, 0), good)
    with pytest.raises(ValueError, match="current window: the GPUs were never busy"):
        decompose(good, DayFactors(24, 0, 48, 2, 37.5, 2.4e6))


def test_collector_schedules_the_report_daily_and_catches_up_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memmoat import config as cfg
    from memmoat import service

    called = threading.Event()
    monkeypatch.setattr(service, "report_job", lambda settings: called.set())
    s = cfg.loads(
        '[storage]\npath = "m.duckdb"\nspool_dir = "spool"\n[report]\ntime = "06:30"\ntimezone = "Europe/Berlin"\n',
        base_dir=tmp_path,
    )
    collector, sched = service.start_collector(s)
    try:
        assert called.wait(30), "no catch-up at start"
        job = sched.get_job("daily_report")
        assert job is not None
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert (fields["hour"], fields["minute"]) == ("6", "30")
        assert str(job.trigger.timezone) == "Europe/Berlin"
        nxt = job.next_run_time
        assert (nxt.hour, nxt.minute, str(nxt.tzinfo)) == (6, 30, "Europe/Berlin")
    finally:
        sched.shutdown(wait=True)
        collector.close()


def test_missing_busy_signal_is_named() -> None:
    good = day(24, 0.5, 48, 2, 0.75, 2.4e6)
    with pytest.raises(ValueError, match="no GPU busy signal"):
        decompose(good, DayFactors(24, math.nan, 48, 2, 37.5, 2.4e6))
