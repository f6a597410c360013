"""Rendered pages parse, and match real pages in families, labels, help texts and value formats."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from simulator.exposition import go_float, render_dcgm, render_vllm
from simulator.histogram import ITL, REQUEST_TIME, TTFT, one_two_five
from tests.simulator.helpers import START, new_sim

pytestmark = pytest.mark.timeout(20)
SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)\{(.*)\} (\S+)$")
# dcgm pages written with the exporter's default help texts (pr736 uses a newer, different CSV).
DCGM_REAL = (
    "dcgm-exporter-issue512-h100-mig-k8s-dcp-partial.prom",
    "dcgm-exporter-gpu-operator-issue340-t4-k8s-pod-labels-partial.prom",
    "dcgm-exporter-issue58-titanv-k8s-empty-pod-labels-partial.prom",
    "dcgm-exporter-dra-driver-issue166-a100-mig-dcp-partial.prom",
    "dcgm-exporter-issue68-a30-mig-dcp-k8s-partial.prom",
    "dcgm-exporter-pr432-mps-vgpu-label-vllm-pod-partial.prom",
)
OPTIONAL_PREFIXES = ("python_", "process_", "http_")


def _pages() -> tuple[dict[str, str], dict[str, str]]:
    sim = new_sim()
    sim.advance_to(START + 60)
    nodes = {n.hostname: render_dcgm(sim.node_state(n.hostname)) for n in sim.fleet.nodes}
    engines = {e.name: render_vllm(sim.engine_state(e.name)) for e in sim.fleet.engines}
    return nodes, engines


NODES, ENGINES = _pages()


def _label_keys(label_text: str) -> list[str]:
    return re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="(?:[^"\\]|\\.)*"', label_text)


def _dcgm_lines(text: str) -> list[tuple[str, list[str], str]]:
    out = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            out.append((m.group(1), _label_keys(m.group(2)), m.group(3)))
    return out


def _shape(value: str) -> str:
    return "float6" if re.fullmatch(r"-?\d+\.\d{6}", value) else "int" if value.isdigit() else value


@pytest.mark.parametrize("text", [*NODES.values(), *ENGINES.values()])
def test_pages_parse_with_prometheus_client(text: str) -> None:
    families = list(text_string_to_metric_families(text))
    assert len(families) > 20
    assert all(f.samples for f in families)


def test_go_float_matches_prometheus_client() -> None:
    for v in (
        0.0,
        1.0,
        421.0,
        0.9565217391304348,
        123456.0,
        1234567.0,
        1.7952650084452693e9,
        9.611952584280838e13,
        1e16,
        2.5e-7,
        math.inf,
        3.0e20,
    ):
        assert go_float(v) == floatToGoString(v)


def test_dcgm_label_order_matches_real_pages(real_page: Callable[[str], str]) -> None:
    ours = _dcgm_lines(NODES["gpu-node-a"])
    with_pod = next(keys for _, keys, _ in ours if "pod" in keys)
    assert with_pod == [
        "gpu",
        "UUID",
        "pci_bus_id",
        "device",
        "modelName",
        "Hostname",
        "DCGM_FI_DRIVER_VERSION",
        "container",
        "namespace",
        "pod",
    ]
    for name in (
        "dcgm-exporter-issue512-h100-mig-k8s-dcp-partial.prom",
        "dcgm-exporter-gpu-operator-issue340-t4-k8s-pod-labels-partial.prom",
    ):
        for _, keys, _ in _dcgm_lines(real_page(name)):
            if "pod" in keys:
                assert [k for k in keys if k in with_pod] == [k for k in with_pod if k in keys], name


def test_dcgm_help_texts_and_value_formats_match_real_pages(real_page: Callable[[str], str]) -> None:
    ours = NODES["gpu-node-a"] + NODES["gpu-node-b"]
    our_help = dict(re.findall(r"^# HELP (\S+) (.*)$", ours, re.M))
    our_shapes: dict[str, set[str]] = {}
    for name, _, value in _dcgm_lines(ours):
        our_shapes.setdefault(name, set()).add(_shape(value))
    compared = 0
    for file in DCGM_REAL:
        text = real_page(file)
        for name, help_text in re.findall(r"^# HELP (\S+) (.*)$", text, re.M):
            assert our_help[name] == help_text, (file, name)
        for name, _, value in _dcgm_lines(text):
            assert _shape(value) in our_shapes[name], (file, name, value)
            compared += 1
    assert compared >= 15


def test_dcgm_value_formats() -> None:
    lines = _dcgm_lines(NODES["gpu-node-a"])
    by_name: dict[str, set[str]] = {}
    for name, _, value in lines:
        by_name.setdefault(name, set()).add(_shape(value))
    for name in (
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "DCGM_FI_DEV_POWER_USAGE",
    ):
        assert by_name[name] == {"float6"}, name
    for name in (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_FB_RESERVED",
        "DCGM_FI_DEV_SM_CLOCK",
        "DCGM_FI_DEV_MEM_CLOCK",
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_PROF_PCIE_TX_BYTES",
    ):
        assert by_name[name] == {"int"}, name
    assert len(by_name) == 25


def test_idle_gpu_has_no_pod_labels() -> None:
    for line in NODES["gpu-node-a"].splitlines():
        m = SAMPLE.match(line)
        if m:
            idle = 'gpu="7"' in line
            assert set(_label_keys(m.group(2))).isdisjoint({"pod", "namespace", "container"}) == idle


def _families(text: str) -> dict[str, tuple[str, str, set[frozenset[str]]]]:
    out = {}
    for f in text_string_to_metric_families(text):
        if f.name.startswith(OPTIONAL_PREFIXES):
            continue
        keys = {frozenset(k for k in s.labels if k != "le") for s in f.samples}
        out[f.name] = (f.type, f.documentation, keys)
    return out


def test_vllm_families_match_the_live_capture(test_data_page: Callable[[str], str]) -> None:
    real = _families(test_data_page("vllm-cpu-live.prom"))
    ours = _families(ENGINES["chat-llama70b"])
    assert set(real) == set(ours)
    for name, (kind, doc, keys) in real.items():
        assert ours[name][:2] == (kind, doc), name
        assert ours[name][2] == keys, name


def test_vllm_histogram_buckets_and_info_labels(test_data_page: Callable[[str], str]) -> None:
    real = test_data_page("vllm-cpu-live.prom")
    ours = ENGINES["rag-llama8b"]

    def bounds(text: str, name: str) -> list[str]:
        return re.findall(rf'^{re.escape(name)}_bucket\{{.*le="([^"]+)"', text, re.M)

    for name, expected in (
        ("vllm:time_to_first_token_seconds", TTFT),
        ("vllm:inter_token_latency_seconds", ITL),
        ("vllm:request_prefill_time_seconds", REQUEST_TIME),
    ):
        assert bounds(ours, name) == bounds(real, name) == [*map(go_float, expected), "+Inf"]
    real_tokens = bounds(real, "vllm:request_prompt_tokens")
    our_tokens = bounds(ours, "vllm:request_prompt_tokens")
    assert our_tokens[:-1] == [go_float(b) for b in one_two_five(32768)]
    assert our_tokens[: len(real_tokens) - 1] == real_tokens[:-1]
    info = re.compile(r"^vllm:cache_config_info\{(.*)\} 1\.0$", re.M)
    real_info, our_info = info.search(real), info.search(ours)
    assert real_info and our_info
    assert _label_keys(our_info.group(1)) == _label_keys(real_info.group(1))
    assert 'block_size="16"' in our_info.group(1)


def test_every_vllm_counter_has_a_created_gauge() -> None:
    text = ENGINES["support-mistral7b"]
    counters = re.findall(r"^# TYPE (\S+)_total counter$", text, re.M)
    histograms = re.findall(r"^# TYPE (vllm:\S+) histogram$", text, re.M)
    assert len(counters) == 17 and len(histograms) == 16
    for base in counters + histograms:
        assert re.search(rf"^# TYPE {re.escape(base)}_created gauge$", text, re.M), base
    assert 'engine="0"' in text


def test_pages_are_deterministic() -> None:
    a, b = new_sim(), new_sim()
    a.advance_to(START + 90)
    for t in range(1, 91, 7):  # a different sequence of calls reaches the same state
        b.advance_to(START + t)
    b.advance_to(START + 90)
    for n in a.fleet.nodes:
        assert render_dcgm(a.node_state(n.hostname)) == render_dcgm(b.node_state(n.hostname))
    for e in a.fleet.engines:
        assert render_vllm(a.engine_state(e.name)) == render_vllm(b.engine_state(e.name))
