"""The collector's steady-state ingest path gives exactly what the first, careful pass gives.

A page's second scrape takes the fast path (every line a known series key); anything unusual
falls back to the line-by-line parser. Both must agree on every page, and the series ids the
ingestor hands out must not depend on which path ran.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from collector.exposition import PageParser
from collector.ingest import Ingestor
from memmoat.config import Target
from tests.conftest import real_fixtures_dir
from tests.support.servers import DATA

T0 = datetime(2026, 3, 1, 12)
REAL = real_fixtures_dir()  # read in place when present (see tests/conftest.py)


def pages() -> list[tuple[str, str]]:
    out = [(p.name, p.read_text()) for p in sorted(DATA.glob("*.prom"))]
    if REAL.is_dir():
        out += [(p.name, p.read_text()) for p in sorted(REAL.glob("*.prom"))]
    from simulator.exposition import render_dcgm, render_vllm
    from simulator.fleet import default_fleet
    from simulator.workload import Simulation

    sim = Simulation(default_fleet(), T0.timestamp(), seed=1)
    out.append(("sim-vllm", render_vllm(sim.engine_state(sim.fleet.engines[0].name))))
    out.append(("sim-dcgm", render_dcgm(sim.node_state(sim.fleet.nodes[0].hostname))))
    return out


ODD_LINES = [
    "m_with_ts 1 1700000000000",  # a timestamp
    'm_spaced{a="x"}   2',  # other spacing
    'm_dup{a="x"} 1\nm_dup{a="x"} 2',  # a duplicate series
    "m_nan NaN\nm_inf +Inf\nm_ninf -Inf",  # dropped, reported
    "m_blank 9223372036854775807",  # a DCGM blank: counted, dropped
    "m_big 5.091050763964598e+16",  # big but real (vLLM's estimated FLOPs)
    "m_underscore 1_000",  # not a number for Prometheus
    'm_trailing{a="x",} 3',  # same series as m_trailing{a="x"}
    'm_brace{a="}"} 4',  # a brace inside a label value
]


@pytest.mark.parametrize("name,text", pages(), ids=lambda v: v if isinstance(v, str) and len(v) < 80 else "")
def test_second_parse_equals_the_first(name: str, text: str) -> None:
    parser = PageParser()
    first = parser.parse(text)
    assert parser.parse(text) == first
    assert parser.parse(text) == PageParser().parse(text)


@pytest.mark.parametrize("odd", ODD_LINES)
def test_odd_lines_give_the_same_page_on_every_scrape(odd: str) -> None:
    text = "# TYPE ok gauge\nok 1\n" + odd + "\n"
    parser = PageParser()
    first = parser.parse(text)
    for _ in range(3):
        assert parser.parse(text) == first


def test_values_change_keys_stay() -> None:
    parser = PageParser()
    parser.parse('a{x="1"} 1\nb 2\n')
    page = parser.parse('a{x="1"} 10\nb 20\n')
    assert (page.keys, page.values, page.issues) == (['a{x="1"}', "b"], [10.0, 20.0], [])


def test_ingestor_ids_are_stable_across_scrapes_and_new_series() -> None:
    text = (DATA / "vllm-cpu-live.prom").read_text()
    target = Target(name="e", url="http://127.0.0.1/metrics", kind="vllm")
    ing = Ingestor()
    first = ing.ingest(target, T0, text)
    second = ing.ingest(target, T0 + timedelta(seconds=15), text)
    assert len(first.new_series) == len(first.values) == 415 and not second.new_series
    assert second.series_ids == first.series_ids and second.values == first.values
    third = ing.ingest(target, T0 + timedelta(seconds=30), text + 'vllm:extra{engine="0"} 1\n')
    assert third.series_ids[:-1] == first.series_ids
    assert [r[0] for r in third.new_series] == [third.series_ids[-1]] == [max(first.series_ids) + 1]
