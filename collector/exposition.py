"""Prometheus text exposition (version 0.0.4) -> samples.

The steady state is the hot path: the same series appear on every scrape, so the raw
``name{labels}`` text is used as the series key and labels are parsed only the first
time a key is seen. ``prometheus_client``'s parser is the reference; tests check that
both produce identical samples on every real page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# dcgm-exporter prints int64-max minus small offsets for "blank" (unavailable) fields.
BLANK_SENTINEL = 9.2e18

SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info")


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    name: str
    labels: tuple[tuple[str, str], ...]

    def label(self, key: str) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return None

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, slots=True)
class PageIssue:
    line: int
    message: str


@dataclass(slots=True)
class ParsedPage:
    keys: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    issues: list[PageIssue] = field(default_factory=list)
    blank: int = 0

    def __len__(self) -> int:
        return len(self.keys)


class LabelSyntaxError(ValueError):
    pass


def parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    """Parse the inside of ``{...}``: ``a="x",b="y\\"z"`` (escapes \\\\, \\", \\n)."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise LabelSyntaxError(f"label without '=' near {text[i:i + 20]!r}")
        name = text[i:eq].strip()
        if not name or not _is_label_name(name):
            raise LabelSyntaxError(f"bad label name {name!r}")
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != '"':
            raise LabelSyntaxError(f"label {name!r} value is not quoted")
        i += 1
        buf: list[str] = []
        while True:
            if i >= n:
                raise LabelSyntaxError(f"label {name!r} value is not closed")
            c = text[i]
            if c == "\\":
                if i + 1 >= n:
                    raise LabelSyntaxError(f"label {name!r} ends in a lone backslash")
                nxt = text[i + 1]
                buf.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
                i += 2
                continue
            if c == '"':
                i += 1
                break
            buf.append(c)
            i += 1
        out.append((name, "".join(buf)))
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] != ",":
            raise LabelSyntaxError(f"expected ',' after label {name!r}")
    return tuple(out)


def _is_label_name(name: str) -> bool:
    return (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c == "_" for c in name)


def _is_metric_name(name: str) -> bool:
    return bool(name) and (name[0].isalpha() or name[0] in "_:") and all(
        c.isalnum() or c in "_:" for c in name
    )


def parse_value(text: str) -> float:
    # float() accepts NaN, +Inf, -Inf, and (wrongly for Prometheus) "infinity"/"nan" in any case;
    # those spellings are harmless, so accept what float() accepts except underscores.
    if "_" in text:
        raise ValueError(text)
    return float(text)


class PageParser:
    """Parses pages of one target; remembers each series key it has seen."""

    def __init__(self, max_cached_series: int = 1_000_000) -> None:
        self.series: dict[str, SeriesInfo] = {}
        self._max = max_cached_series

    def parse(self, text: str) -> ParsedPage:
        page = ParsedPage()
        keys, values, series = page.keys, page.values, self.series
        seen: set[str] = set()
        for lineno, line in enumerate(text.split("\n"), 1):
            if not line or line[0] == "#":
                if line.startswith("# TYPE "):
                    parts = line.split()
                    if len(parts) >= 4:
                        page.types[parts[2]] = parts[3]
                continue
            brace = line.find("{")
            if brace >= 0:
                end = line.rfind("}")
                if end < brace:
                    page.issues.append(PageIssue(lineno, "unclosed '{' in sample line"))
                    continue
                key = line[: end + 1]
                rest = line[end + 1 :].split()
            else:
                parts = line.split()
                if not parts:
                    continue
                key, rest = parts[0], parts[1:]
            if not rest or len(rest) > 2:
                page.issues.append(PageIssue(lineno, f"expected 'name value [timestamp]', got {line[:80]!r}"))
                continue
            try:
                value = parse_value(rest[0])
            except ValueError:
                page.issues.append(PageIssue(lineno, f"value {rest[0][:40]!r} is not a number"))
                continue
            info = series.get(key)
            if info is None:
                try:
                    info = self._new_series(key, brace)
                except LabelSyntaxError as exc:
                    page.issues.append(PageIssue(lineno, str(exc)))
                    continue
            if key in seen:
                page.issues.append(PageIssue(lineno, f"duplicate series {key[:120]}; kept the first"))
                continue
            seen.add(key)
            if value >= BLANK_SENTINEL and not math.isinf(value):
                page.blank += 1
                continue
            keys.append(key)
            values.append(value)
        return page

    def _new_series(self, key: str, brace: int) -> SeriesInfo:
        if brace >= 0:
            name = key[:brace].strip()
            labels = parse_labels(key[brace + 1 : -1])
        else:
            name, labels = key, ()
        if not _is_metric_name(name):
            raise LabelSyntaxError(f"bad metric name {name[:60]!r}")
        info = SeriesInfo(name, labels)
        if len(self.series) < self._max:
            self.series[key] = info
        return info

    def info(self, key: str) -> SeriesInfo:
        cached = self.series.get(key)
        if cached is not None:
            return cached
        brace = key.find("{")
        return self._new_series(key, brace)


def family_of(name: str, types: dict[str, str]) -> tuple[str, str]:
    """Split a sample name into (family, suffix) using the page's TYPE lines where possible."""
    if name in types:
        return name, ""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if base in types:
                return base, suffix
    for suffix in ("_total", "_created", "_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, ""
