"""Parsed pages -> rows for the store (series registry, sample columns, scrape log).

The ingestor is the collector's memory of which series exist: it assigns a
``series_id`` to each new ``name{labels}`` key of a target, resolves its canonical
meaning once, and from then on a sample costs a dictionary lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from collector import canonical
from collector.exposition import PageIssue, PageParser, ParsedPage, SeriesInfo, family_of
from memmoat.config import Target

SERIES_COLUMNS = (
    "series_id", "target", "series_key", "metric", "family", "labels", "group_key", "canonical",
    "entity", "mtype", "part", "scale", "priority", "le", "cluster", "hostname", "gpu", "uuid",
    "gpu_model", "gpu_instance", "mig_profile", "namespace", "pod", "container", "vgpu", "engine",
    "model", "first_seen",
)  # fmt: skip


@dataclass(slots=True)
class Batch:
    """Everything one scrape of one target adds to the store."""

    target: str
    ts: datetime
    series_ids: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    new_series: list[tuple[object, ...]] = field(default_factory=list)
    duration_s: float = 0.0
    nbytes: int = 0
    issues: list[PageIssue] = field(default_factory=list)
    error: str | None = None
    error_line: int | None = None
    kind: str | None = None
    # The page itself (zlib-compressed text), when it could not be ingested yet because the
    # series registry was unreadable (the store was locked when the collector started).
    page: bytes | None = None

    def scrape_row(self) -> tuple[object, ...]:
        return (
            self.target, self.ts, self.duration_s, self.nbytes, len(self.values),
            len(self.new_series), len(self.issues), self.error, self.error_line,
        )  # fmt: skip


class Ingestor:
    def __init__(self, known: dict[tuple[str, str], int] | None = None, next_id: int = 1) -> None:
        self.known: dict[str, dict[str, int]] = {}
        for (target, key), sid in (known or {}).items():
            self.known.setdefault(target, {})[key] = sid
        self.next_id = next_id
        self.parsers: dict[str, PageParser] = {}
        self.kinds: dict[str, str] = {}

    def kind_of(self, target: Target, page: ParsedPage, parser: PageParser) -> str | None:
        if target.kind != "auto":
            return target.kind
        if target.name not in self.kinds:
            names = {parser.info(k).name for k in page.keys[:2000]}
            detected = canonical.detect_kind(names)
            if detected is None:
                return None
            self.kinds[target.name] = detected
        return self.kinds[target.name]

    def ingest(self, target: Target, ts: datetime, text: str) -> Batch:
        parser = self.parsers.setdefault(target.name, PageParser())
        page = parser.parse(text)
        batch = Batch(target=target.name, ts=ts, issues=page.issues)
        batch.kind = self.kind_of(target, page, parser)
        known = self.known.setdefault(target.name, {})
        # Steady state: every key is known, and one C-level map does the lookups.
        ids: list[int | None] = list(map(known.get, page.keys))
        if None in ids:
            for i, key in enumerate(page.keys):
                if ids[i] is None:
                    sid = known.get(key)  # the same key twice on a page is refused by the parser
                    if sid is None:
                        sid = self._register(target, batch, parser.info(key), key, page.types, ts)
                        known[key] = sid
                    ids[i] = sid
        batch.series_ids = ids  # type: ignore[assignment]
        batch.values = page.values
        return batch

    def _register(
        self, target: Target, batch: Batch, info: SeriesInfo, key: str, types: dict[str, str], ts: datetime
    ) -> int:
        sid = self.next_id
        self.next_id += 1
        batch.new_series.append(series_row(sid, target, batch.kind, info, key, types, ts))
        return sid


def series_row(
    sid: int, target: Target, kind: str | None, info: SeriesInfo, key: str, types: dict[str, str], ts: datetime
) -> tuple[object, ...]:
    labels = info.label_dict
    family, _suffix = family_of(info.name, types)
    group_labels = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "le")
    mapping = canonical.resolve(kind, info.name, labels, help_text=info.help) if kind else None
    attrs = canonical.attributes(labels)
    # Engine pages do not carry pod or namespace: the target's labels (from the config or
    # Prometheus service discovery) say where the engine runs.
    for name in ("namespace", "pod", "container", "model", "hostname"):
        if name not in attrs and target.labels.get(name):
            attrs[name] = target.labels[name]
    if mapping is not None and mapping.entity == "engine" and "hostname" not in attrs and target.hostname:
        attrs["hostname"] = target.hostname
    le: float | None = None
    if "le" in labels:
        try:
            le = float(labels["le"])
        except ValueError:
            le = None
    gpu = attrs.get("gpu")
    return (
        sid, target.name, key, info.name, family, labels, f"{family}|{group_labels}",
        mapping.canonical if mapping else None,
        mapping.entity if mapping else None,
        mapping.type if mapping else types.get(family),
        mapping.part if mapping else None,
        mapping.scale if mapping else None,
        mapping.priority if mapping else None,
        le, target.cluster, attrs.get("hostname"),
        int(gpu) if gpu is not None and gpu.isdigit() else None,
        attrs.get("uuid"), attrs.get("gpu_model"), attrs.get("gpu_instance"), attrs.get("mig_profile"),
        attrs.get("namespace"), attrs.get("pod"), attrs.get("container"), attrs.get("vgpu"),
        attrs.get("engine") if mapping is None or mapping.entity == "engine" else None,
        attrs.get("model") if mapping is None or mapping.entity == "engine" else None,
        ts,
    )  # fmt: skip
