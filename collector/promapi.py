"""A Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics) as a source.

At fleet scale the cluster's Prometheus already scrapes every exporter through service
discovery; memmoat pulls the metrics it maps from there instead of scraping thousands of pods.

What is pulled, and why that way:

- Only the names ``metric_map.csv`` maps (plus histogram parts and ``_created``): the rest
  would be stored without meaning.
- Counters as their raw samples (``/api/v1/query`` with a range selector ``{...}[window]``),
  never ``rate()``: memmoat's ``counter_increments`` view then sees every value Prometheus
  scraped, and restarts are detected by memmoat exactly as for a direct scrape.
- Gauges with ``/api/v1/query_range`` at the source's ``step_seconds``, on a grid aligned to
  the epoch, so consecutive windows (live rounds or backfill chunks) never repeat a point.

Each distinct (cluster, job, instance) becomes a memmoat target whose kind is detected from
its metric names. The samples of one target at one timestamp are rendered back into
exposition text (with HELP/TYPE lines from ``/api/v1/metadata``) and go through
``Ingestor.ingest``: the same series registry and canonical mapping as a direct scrape, so
every view and query works unchanged.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from collector import canonical
from collector.ingest import Batch, Ingestor
from memmoat.config import PrometheusSource, Target
from memmoat.errors import ConfigError, SourceError, TargetUnreachableError

EPOCH = datetime(1970, 1, 1)
# Prometheus target labels that say where a series was scraped; they become the memmoat target.
TARGET_LABELS = ("job", "instance")
# Prometheus renames an exporter's own label X to exported_X when the scrape target carries X
# too (honor_labels: false). The exporter's value is the one that describes the workload.
EXPORTED = "exported_"


def to_epoch(ts: datetime) -> float:
    """Naive UTC datetime (the store's convention) -> unix seconds."""
    return (ts - EPOCH).total_seconds()


def from_epoch(t: float) -> datetime:
    """Unix seconds -> naive UTC datetime, rounded to the millisecond Prometheus keeps."""
    return EPOCH + timedelta(milliseconds=round(t * 1000))


# -- which names to pull ---------------------------------------------------------------------
def _created(source: str) -> str:
    return (source[: -len("_total")] if source.endswith("_total") else source) + "_created"


def wanted_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(gauge names, counter names) that memmoat maps, counters with their parts and _created."""
    gauges: set[str] = set()
    counters: set[str] = set()
    for row in canonical.metric_map():
        if row.type == "counter":
            counters.update((row.source, _created(row.source)))
        elif row.type == "histogram":
            counters.update(row.source + s for s in ("_bucket", "_sum", "_count", "_created"))
        else:
            gauges.add(row.source)
    return tuple(sorted(gauges - counters)), tuple(sorted(counters))


def selector(names: tuple[str, ...], match: str) -> str:
    # Metric names are [A-Za-z0-9_:], nothing a regex would read specially.
    extra = f",{match.strip().strip(',')}" if match.strip() else ""
    return '{__name__=~"' + "|".join(names) + '"' + extra + "}"


# -- the HTTP API ----------------------------------------------------------------------------
class PromClient:
    """The three API calls memmoat needs. Every failure is a SourceError naming the source."""

    def __init__(self, source: PrometheusSource, client: httpx.Client) -> None:
        self.source = source
        self.client = client
        self.headers: dict[str, str] = {}
        if source.bearer_token_env:
            token = source.bearer_token()
            if token is None:
                raise ConfigError(
                    f"environment variable {source.bearer_token_env!r} is not set",
                    key=f"prometheus.{source.name}.bearer_token_env",
                    hint=f"export {source.bearer_token_env}=... before starting memmoat",
                )
            self.headers["Authorization"] = f"Bearer {token}"

    def call(self, path: str, params: dict[str, str]) -> Any:
        url = self.source.url.rstrip("/") + path
        try:
            # POST with a form body: the name regex makes queries too long for some proxies' URLs.
            resp = self.client.post(url, data=params, headers=self.headers, timeout=self.source.timeout_seconds)
        except httpx.TimeoutException:
            raise TargetUnreachableError(
                self.source.name,
                f"no answer from {url} within {self.source.timeout_seconds:g} s",
                hint="raise timeout_seconds of this [[prometheus]] source, or pull smaller chunks",
            ) from None
        except httpx.HTTPError as exc:
            raise TargetUnreachableError(
                self.source.name, f"cannot reach {url}: {exc}", hint="check the [[prometheus]] url"
            ) from None
        try:
            body = resp.json()
        except ValueError:
            raise SourceError(
                self.source.name, f"HTTP {resp.status_code} from {url} is not a Prometheus API answer"
            ) from None
        if resp.status_code != 200 or body.get("status") != "success":
            raise SourceError(
                self.source.name,
                f"HTTP {resp.status_code} from {url}: {body.get('errorType', '')} {body.get('error', '')}".strip(),
                hint="a query over too many series or samples can be refused: pull smaller chunks",
            )
        return body["data"]

    def metadata(self) -> dict[str, tuple[str, str]]:
        """Family name -> (type, help). Optional in the API (Thanos/VictoriaMetrics may answer {})."""
        try:
            data = self.call("/api/v1/metadata", {})
        except SourceError:
            return {}
        out: dict[str, tuple[str, str]] = {}
        for name, entries in (data or {}).items():
            if entries:
                out[name] = (str(entries[0].get("type", "")), str(entries[0].get("help", "")))
        return out

    def raw(self, query: str, start: float, end: float) -> list[dict[str, Any]]:
        """Raw samples of ``query`` with start < t <= end (a range selector evaluated at ``end``)."""
        ms = max(1, round((end - start) * 1000))
        data = self.call("/api/v1/query", {"query": f"{query}[{ms}ms]", "time": f"{end:.3f}"})
        for series in data.get("result", []):
            series["values"] = [v for v in series.get("values", []) if start < float(v[0]) <= end]
        return list(data.get("result", []))

    def grid(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """``query`` evaluated at the multiples of ``step`` with start < t <= end."""
        first = (start // step + 1) * step
        last = end // step * step
        if first > last:
            return []
        params = {"query": query, "start": f"{first:.3f}", "end": f"{last:.3f}", "step": f"{step:g}"}
        return list(self.call("/api/v1/query_range", params).get("result", []))


# -- samples -> pages ------------------------------------------------------------------------
@dataclass
class Page:
    """The samples of one target at one timestamp: name -> [(labels, value text)]."""

    lines: dict[str, list[tuple[dict[str, str], str]]] = field(default_factory=lambda: defaultdict(list))

    def text(self, meta: dict[str, tuple[str, str]]) -> str:
        out: list[str] = []
        described: set[str] = set()
        for name in sorted(self.lines):
            family = _family(name, meta)
            if family is not None and family not in described:
                described.add(family)
                mtype, help_text = meta[family]
                out.append(f"# HELP {family} {_escape_help(help_text)}")
                out.append(f"# TYPE {family} {mtype}")
            for labels, value in self.lines[name]:
                inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
                out.append(f"{name}{{{inner}}} {value}" if inner else f"{name} {value}")
        return "\n".join(out) + "\n"


def _family(name: str, meta: dict[str, tuple[str, str]]) -> str | None:
    if name in meta:
        return name
    for suffix in ("_bucket", "_sum", "_count", "_total"):
        if name.endswith(suffix) and name[: -len(suffix)] in meta:
            return name[: -len(suffix)]
    return None


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


@dataclass(frozen=True, slots=True)
class TargetKey:
    cluster: str
    job: str
    instance: str

    def name(self, source: PrometheusSource) -> str:
        parts = [source.name, self.job, self.instance]
        if self.cluster != source.cluster:
            parts.insert(1, self.cluster)
        return _UNSAFE.sub("_", ":".join(parts))


def split_labels(source: PrometheusSource, metric: dict[str, str]) -> tuple[str, TargetKey, dict[str, str], set[str]]:
    """A series' labels from the API -> (name, its target, the labels its page showed, labels restored
    from ``exported_*``)."""
    labels = dict(metric)
    name = labels.pop("__name__", "")
    job, instance = labels.pop("job", ""), labels.pop("instance", "")
    restored = {k[len(EXPORTED) :] for k in labels if k.startswith(EXPORTED)}
    for key in restored:
        labels[key] = labels.pop(EXPORTED + key)
    cluster = labels.get(source.cluster_label, "") if source.cluster_label else ""
    return name, TargetKey(cluster or source.cluster, job, instance), labels, restored


@dataclass
class Pulled:
    """One window of one source, grouped into pages per (target, timestamp)."""

    pages: dict[tuple[TargetKey, float], Page] = field(default_factory=dict)
    names: dict[TargetKey, set[str]] = field(default_factory=lambda: defaultdict(set))
    samples: int = 0


def pull_window(client: PromClient, start: float, end: float, shadowed: dict[TargetKey, set[str]]) -> Pulled:
    """Counters raw, gauges on the step grid, for start < t <= end.

    ``shadowed`` remembers, per target, the labels Prometheus had to rename to ``exported_*``:
    the target itself carries them (dcgm-exporter's own pod, say). On that target's other series
    (a GPU no pod uses) the same label is the target's, not the page's, and is dropped.
    """
    source = client.source
    gauges, counters = wanted_names()
    out = Pulled()
    series_list = []
    for series in client.raw(selector(counters, source.match), start, end) + client.grid(
        selector(gauges, source.match), start, end, source.step_seconds
    ):
        name, key, labels, restored = split_labels(source, series.get("metric", {}))
        if name:
            shadowed.setdefault(key, set()).update(restored)
            series_list.append((name, key, labels, restored, series.get("values", [])))
    for name, key, labels, restored, values in series_list:
        for label in shadowed[key] - restored:
            labels.pop(label, None)
        out.names[key].add(name)
        for t, value in values:
            stamp = round(float(t), 3)
            page = out.pages.get((key, stamp))
            if page is None:
                page = out.pages[(key, stamp)] = Page()
            page.lines[name].append((labels, str(value)))
            out.samples += 1
    return out


class SourceReader:
    """Turns pulled windows of one source into Batches through the collector's Ingestor."""

    def __init__(self, source: PrometheusSource, client: httpx.Client, ingestor: Ingestor) -> None:
        self.source = source
        self.api = PromClient(source, client)
        self.ingestor = ingestor
        self.targets: dict[TargetKey, Target] = {}
        self.meta: dict[str, tuple[str, str]] = {}
        self._meta_at = 0.0
        self.shadowed: dict[TargetKey, set[str]] = {}

    def target(self, key: TargetKey, names: set[str]) -> Target:
        t = self.targets.get(key)
        if t is None:
            kind = canonical.detect_kind(names)
            t = Target(
                name=key.name(self.source), url=self.source.url, kind=kind or "auto", cluster=key.cluster,  # type: ignore[arg-type]
                labels={"prometheus": self.source.name, "job": key.job, "instance": key.instance},
            )  # fmt: skip
            if kind is not None:  # an undetected kind is tried again with the next window's names
                self.targets[key] = t
        return t

    def batches(self, start: float, end: float) -> tuple[list[Batch], Pulled, float]:
        """Pull start < t <= end; returns (batches in time order, what was pulled, seconds taken)."""
        began = time.perf_counter()
        if not self.meta or time.monotonic() - self._meta_at > 3600:
            self.meta = self.api.metadata()
            self._meta_at = time.monotonic()
        pulled = pull_window(self.api, start, end, self.shadowed)
        seconds = time.perf_counter() - began
        out: list[Batch] = []
        for (key, stamp), page in sorted(pulled.pages.items(), key=lambda kv: (kv[0][1], kv[0][0].name(self.source))):
            text = page.text(self.meta)
            batch = self.ingestor.ingest(self.target(key, pulled.names[key]), from_epoch(stamp), text)
            batch.nbytes = len(text)
            out.append(batch)
        return out, pulled, seconds

    def health_batch(self, ts: datetime, seconds: float, nbytes: int, error: str | None = None) -> Batch:
        """One scrape-log row for the source itself, so `memmoat targets` shows it up or down."""
        ts = ts.replace(microsecond=ts.microsecond // 1000 * 1000)
        return Batch(target=self.source.name, ts=ts, duration_s=seconds, nbytes=nbytes, error=error)

    def source_target(self) -> Target:
        return Target(name=self.source.name, url=self.source.url, cluster=self.source.cluster)


def utc(dt: datetime) -> datetime:
    """Aware or naive (taken as UTC) -> naive UTC, the store's convention."""
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt
