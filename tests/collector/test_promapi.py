"""The Prometheus API source without a server: labels, page rendering, covered time ranges.
(tests/integration/test_prometheus_api.py runs it against a real Prometheus.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collector import promstate
from collector.ingest import Ingestor
from collector.promapi import Page, TargetKey, from_epoch, pull_window, selector, split_labels, to_epoch, wanted_names
from memmoat.config import PrometheusSource, Target

SRC = PrometheusSource(name="prom", url="http://127.0.0.1:9090", cluster_label="cluster")


def test_labels_become_a_target_and_exported_labels_are_restored() -> None:
    name, key, labels, restored = split_labels(
        SRC,
        {"__name__": "DCGM_FI_PROF_DRAM_ACTIVE", "job": "dcgm", "instance": "10.0.0.5:9400", "cluster": "eu-1",
         "pod": "dcgm-exporter-x", "exported_pod": "chat-0", "gpu": "0"},
    )  # fmt: skip
    assert name == "DCGM_FI_PROF_DRAM_ACTIVE"
    assert key == TargetKey("eu-1", "dcgm", "10.0.0.5:9400")
    assert key.name(SRC) == "prom:eu-1:dcgm:10.0.0.5:9400"
    assert labels == {"cluster": "eu-1", "pod": "chat-0", "gpu": "0"} and restored == {"pod"}
    assert TargetKey("default", "vllm", "a/b c").name(SRC) == "prom:vllm:a_b_c"  # a valid target name


def test_rendered_page_goes_through_the_same_ingest_path() -> None:
    page = Page()
    page.lines["vllm:prompt_tokens_total"].append(({"engine": "0", "model_name": 'odd "name"\\x'}, "421"))
    page.lines["vllm:kv_cache_usage_perc"].append(({"engine": "0", "model_name": 'odd "name"\\x'}, "0.5"))
    meta = {"vllm:prompt_tokens_total": ("counter", "Number of prefill tokens processed.")}
    text = page.text(meta)
    assert "# TYPE vllm:prompt_tokens_total counter" in text
    target = Target(name="prom:vllm:x", url="http://127.0.0.1:9090", kind="vllm")
    batch = Ingestor().ingest(target, datetime(2026, 1, 1), text)
    assert not batch.issues and sorted(batch.values) == [0.5, 421.0]
    rows = {r[3]: r for r in batch.new_series}
    assert rows["vllm:prompt_tokens_total"][7] == "prompt_tokens"  # canonical column
    assert rows["vllm:prompt_tokens_total"][26] == 'odd "name"\\x'  # model label survives escaping


def test_counters_are_pulled_raw_and_gauges_on_the_grid() -> None:
    gauges, counters = wanted_names()
    assert "vllm:kv_cache_usage_perc" in gauges and "vllm:prompt_tokens_total" in counters
    assert "vllm:prompt_tokens_created" in counters  # restarts are detected from _created
    assert "vllm:request_prefill_time_seconds_sum" in counters and not set(gauges) & set(counters)
    assert selector(("a", "b"), 'namespace="x"') == '{__name__=~"a|b",namespace="x"}'

    class Fake:
        source = SRC

        def raw(self, query: str, start: float, end: float) -> list[dict[str, Any]]:
            assert "vllm:prompt_tokens_total" in query
            return [
                {"metric": {"__name__": "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "job": "d", "instance": "i",
                            "gpu": "0", "pod": "exporter", "exported_pod": "chat-0"}, "values": [[10.5, "7"]]},
                {"metric": {"__name__": "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "job": "d", "instance": "i",
                            "gpu": "1", "pod": "exporter"}, "values": [[10.5, "9"]]},
            ]  # fmt: skip

        def grid(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
            return []

    shadowed: dict[TargetKey, set[str]] = {}
    pulled = pull_window(Fake(), 0, 20, shadowed)  # type: ignore[arg-type]
    (page,) = pulled.pages.values()
    pods = [labels.get("pod") for labels, _ in page.lines["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"]]
    # GPU 1's pod label is the exporter's own (Prometheus attached it): dropped, not misattributed.
    assert pods == ["chat-0", None]


def test_covered_ranges_are_never_pulled_twice() -> None:
    assert promstate.merge([(5, 10), (0, 3), (3, 4), (9, 12)]) == [(0, 4), (5, 12)]
    assert promstate.subtract((0, 20), [(2, 5), (8, 30)]) == [(0, 2), (5, 8)]
    assert promstate.subtract((0, 10), []) == [(0, 10)] and promstate.subtract((3, 4), [(0, 10)]) == []
    assert promstate.split((50, 130), 60) == [(50, 60), (60, 120), (120, 130)]
    state: dict[str, Any] = {}
    promstate.add(state, "prom", (0, 60))
    promstate.add(state, "prom", (60, 90))
    assert promstate.covered(state, "prom") == [(0, 90)]
    t = datetime(2026, 11, 20, 8, 0, 0, 123000)
    assert from_epoch(to_epoch(t)) == t
