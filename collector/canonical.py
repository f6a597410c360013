"""Source names -> canonical meaning, driven by the data tables beside this file.

``metric_map.csv`` says which source metric (per engine kind and version) means which
canonical column, in which unit; ``label_map.csv`` says which label variants carry the
same attribute. No metric or label name appears in code: renames are new rows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from collector.exposition import family_of

KINDS = ("dcgm", "vllm", "sglang", "tgi", "nim")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True, slots=True)
class Match:
    """A row's extra condition: a label value (``label=value``) or a word in the family's
    HELP text (``help~word``: the only sign of a unit change under an unchanged name)."""

    on: str  # "label" | "help"
    key: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Match | None:
        if not text:
            return None
        if text.startswith("help~"):
            return cls("help", "", text[len("help~") :].lower())
        key, sep, value = text.partition("=")
        if not sep:
            raise ValueError(f"metric_map.csv: match {text!r} is neither label=value nor help~word")
        return cls("label", key, value)

    def ok(self, labels: dict[str, str], help_text: str | None) -> bool:
        if self.on == "label":
            return labels.get(self.key) == self.value
        return help_text is not None and self.value in help_text.lower()


@dataclass(frozen=True, slots=True)
class MapRow:
    kind: str
    source: str
    canonical: str
    entity: str
    type: str
    scale: float
    priority: int
    match: Match | None
    note: str


@dataclass(frozen=True, slots=True)
class Mapping:
    """What one sample series means. ``part`` is '', 'bucket', 'sum', 'count' or 'created'."""

    canonical: str
    entity: str
    type: str
    scale: float
    priority: int
    part: str


def _rows(name: str) -> Iterable[dict[str, str]]:
    text = resources.files("collector").joinpath(name).read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return csv.DictReader(lines)


@cache
def metric_map() -> tuple[MapRow, ...]:
    return tuple(
        MapRow(
            kind=r["kind"], source=r["source"], canonical=r["canonical"], entity=r["entity"],
            type=r["type"], scale=float(r["scale"]), priority=int(r["priority"]),
            match=Match.parse(r["match"]), note=r["note"],
        )
        for r in _rows("metric_map.csv")
    )  # fmt: skip


@cache
def label_map() -> tuple[tuple[str, str], ...]:
    return tuple((r["attribute"], r["source_label"]) for r in _rows("label_map.csv"))


@cache
def _index() -> dict[tuple[str, str], tuple[MapRow, ...]]:
    idx: dict[tuple[str, str], list[MapRow]] = {}
    for row in metric_map():
        idx.setdefault((row.kind, row.source), []).append(row)
    return {k: tuple(v) for k, v in idx.items()}


def resolve(kind: str, name: str, labels: dict[str, str], help_text: str | None = None) -> Mapping | None:
    """The canonical meaning of sample ``name`` on a page of ``kind``, or None.

    Rows are tried in file order, so a conditional row (a label or HELP match) placed before
    an unconditional one for the same source overrides it. ``help_text`` is the family's HELP
    text; when the caller does not know it, HELP conditions do not match.
    """
    idx = _index()
    candidates: list[tuple[str, str]] = [(name, "")]
    for suffix in (*HISTOGRAM_SUFFIXES, "_created"):
        if name.endswith(suffix):
            candidates.append((name[: -len(suffix)], suffix[1:]))
    if name.endswith("_created"):
        # A counter's creation time: vllm:prompt_tokens_created belongs to vllm:prompt_tokens_total.
        candidates.append((name[: -len("_created")] + "_total", "created"))
    for source, part in candidates:
        for row in idx.get((kind, source), ()):
            if row.match and not row.match.ok(labels, help_text):
                continue
            if part in ("bucket", "sum", "count") and row.type != "histogram":
                continue
            if part == "" and row.type == "histogram":
                continue
            if part == "created" and row.type not in ("counter", "histogram"):
                continue
            return Mapping(row.canonical, row.entity, row.type, row.scale, row.priority, part)
    return None


def attributes(labels: dict[str, str]) -> dict[str, str]:
    """Attributes (hostname, uuid, pod, ...) from whichever label variant the page used."""
    out: dict[str, str] = {}
    for attr, source in label_map():
        if attr in out:
            continue
        value = labels.get(source)
        if value:  # dcgm prints pod="" when no pod is mapped: treat as absent
            out[attr] = value
    return out


# Name prefixes that identify a page's kind when the config says "auto".
_KIND_HINTS = (
    ("DCGM_FI_", "dcgm"),
    ("dcgm_", "dcgm"),
    ("vllm:", "vllm"),
    ("sglang:", "sglang"),
    ("tgi_", "tgi"),
)


def detect_kind(names: Iterable[str]) -> str | None:
    """Guess a page's kind from its metric names; None when nothing matches."""
    counts = dict.fromkeys(KINDS, 0)
    # NIM names have no prefix: count only those no other kind uses (not process_*).
    others = {row.source for row in metric_map() if row.kind != "nim"}
    nim_rows = {row.source for row in metric_map() if row.kind == "nim"} - others
    for name in names:
        for prefix, kind in _KIND_HINTS:
            if name.startswith(prefix):
                counts[kind] += 1
                break
        else:
            base, _ = family_of(name, {})
            if name in nim_rows or base in nim_rows:
                counts["nim"] += 1
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else None
