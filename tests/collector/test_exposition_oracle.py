"""PageParser against the reference parser, prometheus_client, on real and generated pages.

The reference's known differences are undone before comparing: it appends ``_total`` to the
samples of a counter whose TYPE name lacks it, returns ints, keeps duplicates, NaN/Inf and
DCGM blank sentinels (all of which PageParser drops, reporting the first three as issues), and
rejects a whole page for one bad line (PageParser skips that line only).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from collector.exposition import FP64_BLANKS, INT64_BLANK, PageParser

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

REAL_PAGES = [
    "dcgm-exporter-dra-driver-issue166-a100-mig-dcp-partial.prom",
    "dcgm-exporter-gpu-operator-issue340-t4-k8s-pod-labels-partial.prom",
    "dcgm-exporter-issue512-h100-mig-k8s-dcp-partial.prom",
    "dcgm-exporter-issue58-titanv-k8s-empty-pod-labels-partial.prom",
    "dcgm-exporter-issue68-a30-mig-dcp-k8s-partial.prom",
    "dcgm-exporter-pr432-mps-vgpu-label-vllm-pod-partial.prom",
    "dcgm-exporter-pr736-lowercase-hostname-mixed-gpus-mig-k8s-partial.prom",
    "nim-llm-datadog-fixture.prom",
    "sglang-docs-production-metrics.prom",
    "tgi-datadog-fixture-partial.prom",
    "vllm-v0-aibrix-runtime-docs-partial.prom",
    "vllm-v0-datadog-fixture-2024-06.prom",
    "vllm-v1-0.10.0-production-stack-issue617-partial.prom",
    "vllm-v1-0.8-production-stack-issue318-partial.prom",
]
LIVE_PAGES = ["vllm-cpu-live.prom", "vllm-cpu-live-midflight.prom", "vllm-cpu-live-kvpressure.prom"]


def oracle(text: str) -> Samples:
    untotalled = set()  # counters whose TYPE name lacks _total: the reference renames their samples
    for line in text.split("\n"):
        parts = line.split()
        if len(parts) >= 4 and parts[:2] == ["#", "TYPE"] and parts[3] == "counter" and not parts[2].endswith("_total"):
            untotalled.add(parts[2])
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name = s.name
            if family.type == "counter" and family.name in untotalled and name == family.name + "_total":
                name = family.name
            out.setdefault((name, tuple(sorted(s.labels.items()))), float(s.value))  # first one wins
    return {k: v for k, v in out.items() if math.isfinite(v) and v != INT64_BLANK and v not in FP64_BLANKS}


def ours(text: str, parser: PageParser | None = None) -> tuple[Samples, int]:
    parser = parser or PageParser()
    page = parser.parse(text)
    got: Samples = {}
    for key, value in zip(page.keys, page.values):
        info = parser.info(key)
        got[(info.name, tuple(sorted(info.labels)))] = value
    assert len(got) == len(page.keys), "two keys of one page parsed to the same series"
    return got, len(page.issues)


@pytest.mark.parametrize("name", REAL_PAGES)
def test_real_page_matches_the_reference(real_page: Callable[[str], str], name: str) -> None:
    text = real_page(name)
    got, issues = ours(text)
    assert issues == 0
    assert got == oracle(text)


@pytest.mark.parametrize("name", LIVE_PAGES)
def test_live_vllm_page_matches_the_reference(test_data_page: Callable[[str], str], name: str) -> None:
    text = test_data_page(name)
    parser = PageParser()
    got, issues = ours(text, parser)
    assert issues == 0 and got == oracle(text)
    assert ours(text, parser) == (got, 0)  # the cached steady-state path agrees with the first parse


# --- generated pages --------------------------------------------------------------------------

metric_base = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,10}", fullmatch=True)
label_name = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,8}", fullmatch=True).filter(lambda n: n not in ("le", "quantile"))
label_value = st.text(st.characters(exclude_categories=["Cs"]), max_size=12) | st.sampled_from(
    ['a"b', "c\\d", "e\nf", "}", "{", ",", "=", " x ", "", 'say \\"hi\\"', "GPU-2c2f45e8", "1g.10gb"]
)
label_set = st.dictionaries(label_name, label_value, max_size=3)
number = st.one_of(
    st.integers(-(10**12), 10**15).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(min_value=0, max_value=1).map(lambda f: f"{f:.6f}"),
    st.sampled_from(["0", "1.0", "1e3", "+5", "-0.0", ".5", "6.634254336e+09", "9223372036854775794",
                     "140737488355328.000000", "NaN", "+Inf", "-Inf"]),
)  # fmt: skip


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@st.composite
def sample_line(draw: st.DrawFn, name: str, labels: dict[str, str]) -> str:
    value = draw(number)
    if labels:
        inner = ",".join(
            draw(st.sampled_from(["", " "])) + f'{k}{draw(st.sampled_from(["=", " = "]))}"{_escape(v)}"'
            for k, v in labels.items()
        ) + draw(st.sampled_from(["", ",", " "]))
        head = f"{name}{draw(st.sampled_from(['', ' ']))}{{{inner}}}"
    else:
        head = name + draw(st.sampled_from(["", "{}"]))
    sep = draw(st.sampled_from([" ", "\t", "  "]))
    stamp = draw(st.sampled_from(["", " 1700000000000", " -1"]))
    indent = draw(st.sampled_from(["", "", "", " ", "\t"]))
    return f"{indent}{head}{sep}{value}{stamp}"


@st.composite
def family(draw: st.DrawFn, index: int) -> list[str]:
    base = f"{draw(metric_base)}_f{index}"  # the index keeps families apart
    kind = draw(st.sampled_from(["gauge", "counter", "counter_no_total", "untyped", "histogram", "none"]))
    sets = draw(st.lists(label_set, min_size=1, max_size=3, unique_by=lambda d: frozenset(d.items())))
    lines: list[str] = []
    type_name = {"counter": base + "_total"}.get(kind, base)
    if draw(st.booleans()):
        lines.append(f"# HELP {type_name} Some help, with (punctuation).")
    if kind != "none":
        lines.append(f"# TYPE {type_name} {'counter' if kind.startswith('counter') else kind}")
    for labels in sets:
        if kind == "histogram":
            for le in ("0.1", "1.0", "+Inf"):
                lines.append(draw(sample_line(base + "_bucket", {**labels, "le": le})))
            lines.append(draw(sample_line(base + "_sum", labels)))
            lines.append(draw(sample_line(base + "_count", labels)))
        else:
            lines.append(draw(sample_line(type_name, labels)))
        if kind in ("counter", "histogram") and draw(st.booleans()):
            lines.append(draw(sample_line(base + "_created", labels)))
    return lines


@st.composite
def page(draw: st.DrawFn) -> str:
    n = draw(st.integers(1, 5))
    lines: list[str] = []
    for i in range(n):
        lines.extend(draw(family(i)))
        lines.extend(
            draw(st.lists(st.sampled_from(["", "   ", "\t", "# EOF", "# a comment", "#no space"]), max_size=2))
        )
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return eol.join(lines) + draw(st.sampled_from(["", eol]))


BAD_LINES = [
    'broken{a="1" 5',
    "broken{a=1} 5",
    "broken 1_000",
    "broken abc",
    "<html><body>Bad Gateway</body></html>",
    'broken{a="1",,b="2"} 5',
    'broken{a="1",a="2"} 5',
]


def _non_finite_count(text: str) -> int:
    """Lines PageParser reports although the reference accepts them: NaN/Inf values."""
    n = 0
    for line in text.split("\n"):
        parts = line.strip().split()
        if len(parts) >= 2 and parts[0][:1] != "#":
            value = parts[1] if "}" not in line else line[line.rfind("}") + 1 :].split()[0]
            try:
                n += not math.isfinite(float(value))
            except ValueError:
                pass
    return n


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page())
def test_generated_page_matches_the_reference(text: str) -> None:
    parser = PageParser()
    got, issues = ours(text, parser)
    assert got == oracle(text)
    assert issues == _non_finite_count(text)
    assert ours(text, parser) == (got, issues)  # steady state: every key cached, same answer


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page(), st.sampled_from(BAD_LINES), st.integers(0, 10_000))
def test_a_bad_line_costs_only_that_line(text: str, bad: str, where: int) -> None:
    lines = text.split("\n")
    at = where % (len(lines) + 1)
    broken = "\n".join([*lines[:at], bad, *lines[at:]])
    with pytest.raises(ValueError):
        list(text_string_to_metric_families(broken))  # the reference gives up on the whole page
    parser = PageParser()
    page_ = parser.parse(broken)
    assert at + 1 in {i.line for i in page_.issues}
    got, _ = ours(broken)
    assert got == oracle(text)
