"""Prometheus text exposition (version 0.0.4) -> samples.

The steady state is the hot path: the same series appear on every scrape, so the raw
``name{labels}`` text is used as the series key and labels are parsed only the first
time a key is seen. A known line then costs one dict lookup and one ``float()``.

``prometheus_client.parser.text_string_to_metric_families`` is the reference; tests check
that both yield the same samples on every real page and on generated pages. Where this
parser differs, it is on purpose: a bad line is skipped and reported (the reference
rejects the whole page), NaN/Inf and DCGM's "blank" values are dropped, a duplicate
series keeps its first value, and counter names are left as written (the reference
appends ``_total`` to counters that lack it).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

# DCGM prints sentinels for fields it has no value for. Its int64 ones (int64 max minus 0..15)
# all parse to the same double, 2**63; its FP64 ones are 2**47 plus 0..3. Only exact values
# count: a busy counter (vLLM's estimated FLOPs) legitimately passes these magnitudes.
INT64_BLANK = 2.0**63
FP64_BLANKS = frozenset(2.0**47 + i for i in range(4))
# Below this a finite value cannot be a sentinel, so the hot path needs one chained comparison
# (which NaN also fails).
_PLAIN_MAX = 2.0**47
_NEG_INF = -math.inf
_INF = math.inf

# A garbage page (a binary blob, a wrong URL) must not turn into a million issue objects.
MAX_ISSUES = 1000

# Suffixes each TYPE allows on its sample names (``_created`` is prometheus_client's
# creation-time gauge, printed beside counters and histograms).
_TYPE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
}
_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum")


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """One series. ``key`` is its normalised text: raw keys that differ only in spacing,
    escapes or a trailing comma name the same series."""

    name: str
    labels: tuple[tuple[str, str], ...]
    key: str = ""
    help: str = ""  # the HELP text of its family on the page where it was first seen

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
    # TYPE per family as written, plus the OpenMetrics name of ``*_total`` counters
    # (``vllm:prompt_tokens``) so that a family found by ``family_of`` has a type.
    types: dict[str, str] = field(default_factory=dict)
    helps: dict[str, str] = field(default_factory=dict)
    issues: list[PageIssue] = field(default_factory=list)
    blank: int = 0  # DCGM blank sentinels dropped
    truncated_issues: int = 0  # bad lines beyond MAX_ISSUES, not listed

    def __len__(self) -> int:
        return len(self.keys)

    def issue(self, line: int, message: str) -> None:
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(PageIssue(line, message))
        else:
            self.truncated_issues += 1


class LabelSyntaxError(ValueError):
    pass


_UNESCAPE = {"n": "\n", "\\": "\\", '"': '"'}


def parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    """Parse the inside of ``{...}``: ``a="x",b="y\\"z"`` (escapes \\\\, \\", \\n; any other
    backslash is kept, as Prometheus does). One leading and one trailing comma are allowed."""
    out: list[tuple[str, str]] = []
    names: set[str] = set()
    i, n = 0, len(text)
    i = _skip_ws(text, i)
    if i < n and text[i] == ",":
        i += 1
    while True:
        i = _skip_ws(text, i)
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise LabelSyntaxError(f"label without '=' near {text[i : i + 20]!r}")
        name = text[i:eq].strip()
        if not _is_label_name(name):
            raise LabelSyntaxError(f"bad label name {name[:40]!r}")
        if name in names:
            raise LabelSyntaxError(f"label {name!r} appears twice")
        names.add(name)
        i = _skip_ws(text, eq + 1)
        if i >= n or text[i] != '"':
            raise LabelSyntaxError(f"label {name!r} value is not quoted")
        i += 1
        buf: list[str] = []
        while True:
            # Copy runs without quote or backslash in one slice: most values have neither.
            q = text.find('"', i)
            b = text.find("\\", i, q if q >= 0 else n)
            if q < 0 and b < 0:
                raise LabelSyntaxError(f"label {name!r} value is not closed")
            if b < 0:
                buf.append(text[i:q])
                i = q + 1
                break
            buf.append(text[i:b])
            if b + 1 >= n:
                raise LabelSyntaxError(f"label {name!r} ends in a lone backslash")
            nxt = text[b + 1]
            buf.append(_UNESCAPE.get(nxt, "\\" + nxt))
            i = b + 2
        out.append((name, "".join(buf)))
        i = _skip_ws(text, i)
        if i >= n:
            break
        if text[i] != ",":
            raise LabelSyntaxError(f"expected ',' after label {name!r}")
        i = _skip_ws(text, i + 1)
        if i < n and text[i] == ",":
            raise LabelSyntaxError("two commas in a row between labels")
    return tuple(out)


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    return i


def _is_label_name(name: str) -> bool:
    # ASCII only, as the classic text format (and the reference parser) require.
    return (
        bool(name) and name.isascii() and (name[0].isalpha() or name[0] == "_")
        and all(c.isalnum() or c == "_" for c in name)
    )  # fmt: skip


def _is_metric_name(name: str) -> bool:
    return (
        bool(name) and name.isascii() and (name[0].isalpha() or name[0] in "_:")
        and all(c.isalnum() or c in "_:" for c in name)
    )  # fmt: skip


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_key(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    """The normalised text of a series, in the form exporters print it."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def parse_value(text: str) -> float:
    # float() takes NaN, +Inf, -Inf as Prometheus writes them, and also "infinity"/"nan" in any
    # case (harmless); it also takes "1_000", which Prometheus does not.
    if "_" in text:
        raise ValueError(text)
    return float(text)


class PageParser:
    """Parses pages of one target; remembers each series key it has seen."""

    def __init__(self, max_cached_series: int = 1_000_000) -> None:
        self.series: dict[str, SeriesInfo] = {}
        self._max = max_cached_series

    def parse(self, text: str) -> ParsedPage:
        # Steady state first: a page whose every sample line is a known series in the common
        # shape. Anything else (a new series, a bad line, a duplicate) parses line by line below.
        known = self._parse_known(text)
        if known is not None:
            return known
        page = ParsedPage()
        keys, values, series = page.keys, page.values, self.series
        seen: set[str] = set()
        helps = page.helps
        neg_inf, plain_max = _NEG_INF, _PLAIN_MAX
        for lineno, line in enumerate(text.split("\n"), 1):
            if not line:
                continue
            if line[0] <= " ":  # indented, blank or "\r" only: rare, so stripped only here
                line = line.strip()
                if not line:
                    continue
            if line[0] == "#":
                # HELP lines are a third of a vLLM page: slice them rather than split.
                if line.startswith("# HELP "):
                    sp = line.find(" ", 7)
                    if sp > 7:
                        helps[line[7:sp]] = line[sp + 1 :].rstrip()
                        continue
                _comment(page, line, lineno)
                continue
            # "\r" before "\n" needs nothing: split() drops it and it is never inside a key.
            brace = line.find("{")
            if brace >= 0:
                end = line.rfind("}")  # the last one: "}" may sit inside a label value
                if end < brace:
                    page.issue(lineno, f"'{{' is never closed: {line[:80]!r}")
                    continue
                key = line[: end + 1]
                rest = line[end + 1 :].split()
            else:
                rest = line.split()
                if not rest:  # only non-ASCII whitespace
                    continue
                key = rest.pop(0)
            if len(rest) != 1 and not _timestamp_ok(rest):
                page.issue(lineno, _bad_line(line))
                continue
            text_value = rest[0]
            if "_" in text_value:
                page.issue(lineno, f"value {text_value[:40]!r} is not a number")
                continue
            try:
                value = float(text_value)
            except ValueError:
                page.issue(lineno, f"value {text_value[:40]!r} is not a number")
                continue
            info = series.get(key)
            if info is None:
                try:
                    info = self._new_series(key, brace, page)
                except LabelSyntaxError as exc:
                    page.issue(lineno, _bad_line(line) if line[0] == "<" else f"{exc}: {line[:80]!r}")
                    continue
            norm = info.key
            if norm in seen:
                page.issue(lineno, f"duplicate series {norm[:120]}; kept the first")
                continue
            seen.add(norm)
            if not neg_inf < value < plain_max:
                if math.isnan(value) or math.isinf(value):
                    page.issue(lineno, f"value {text_value} of {norm[:120]} is not a finite number; dropped")
                    continue
                if value == INT64_BLANK or value in FP64_BLANKS:
                    page.blank += 1
                    continue
            keys.append(norm)
            values.append(value)
        return page

    def _parse_known(self, text: str) -> ParsedPage | None:
        """The whole page if every sample line is ``<known key> <value>`` with a finite,
        non-sentinel value and no series repeats; None (nothing half-done) otherwise.

        ``line.rpartition(" ")`` yields a cached key only for exactly that shape: cached keys
        end in ``}`` or hold no space, so a line with a timestamp, other spacing or an unknown
        key misses the cache and the page goes the careful way. Same output as that way."""
        page = ParsedPage()
        keys, values, helps = page.keys, page.values, page.helps
        get = self.series.get
        neg_inf, plain_max = _NEG_INF, _PLAIN_MAX
        for line in text.split("\n"):
            if not line:
                continue
            if line[0] == "#":
                if line.startswith("# HELP "):
                    sp = line.find(" ", 7)
                    if sp > 7:
                        helps[line[7:sp]] = line[sp + 1 :].rstrip()
                        continue
                _comment(page, line, 0)
                if page.issues:
                    return None
                continue
            key, _, text_value = line.rpartition(" ")
            info = get(key)
            if info is None or "_" in text_value:
                return None
            try:
                value = float(text_value)
            except ValueError:
                return None
            if not neg_inf < value < plain_max and (
                value != value or abs(value) == _INF or value == INT64_BLANK or value in FP64_BLANKS
            ):
                return None  # NaN, +Inf or a DCGM blank: dropped and counted the careful way
            keys.append(info.key)
            values.append(value)
        if len(set(keys)) != len(keys):
            return None
        return page

    def _new_series(self, key: str, brace: int, page: ParsedPage | None = None) -> SeriesInfo:
        if brace >= 0:
            name = key[:brace].strip()
            labels = parse_labels(key[brace + 1 : -1])
        else:
            name, labels = key, ()
        if not _is_metric_name(name):
            raise LabelSyntaxError(f"bad metric name {name[:60]!r}")
        help_text = ""
        if page is not None and page.helps:
            family, _ = family_of(name, page.types)
            help_text = page.helps.get(name) or page.helps.get(family) or page.helps.get(family + "_total", "")
        # Long-running collectors hold every series they have seen: label names and values
        # repeat across series (hostname, model, pod, le, ...), so keep one copy of each, and
        # share the key text when the normalised key is the raw one (the usual case).
        labels = tuple((sys.intern(k), sys.intern(v)) for k, v in labels)
        norm = series_key(name, labels)
        info = SeriesInfo(sys.intern(name), labels, key if norm == key else norm, help_text)
        if len(self.series) < self._max:
            self.series[key] = info
            self.series.setdefault(info.key, info)
        return info

    def info(self, key: str) -> SeriesInfo:
        cached = self.series.get(key)
        if cached is not None:
            return cached
        brace = key.find("{")
        return self._new_series(key, brace)


def _comment(page: ParsedPage, line: str, lineno: int) -> None:
    # Any comment other than "# TYPE" and "# HELP" ("# EOF" included) carries nothing for us.
    parts = line.split(None, 3)
    if len(parts) < 3 or parts[0] != "#":
        if len(parts) == 2 and parts[1] == "TYPE":
            page.issue(lineno, f"TYPE line without a name: {line[:80]!r}")
        return
    if parts[1] == "TYPE":
        if len(parts) < 4:
            page.issue(lineno, f"TYPE line without a type: {line[:80]!r}")
            return
        name, typ = parts[2], parts[3].split()[0]
        page.types[name] = typ
        if typ == "counter" and name.endswith("_total"):
            page.types.setdefault(name[:-6], typ)
    elif parts[1] == "HELP":
        page.helps[parts[2]] = parts[3].rstrip() if len(parts) == 4 else ""


def _timestamp_ok(rest: list[str]) -> bool:
    if len(rest) != 2 or "_" in rest[1]:
        return False
    try:
        float(rest[1])
    except ValueError:
        return False
    return True


def _bad_line(line: str) -> str:
    if line.lstrip().startswith("<"):
        return f"looks like HTML, not Prometheus text: {line[:80]!r}"
    return f"expected 'name value [timestamp]', got {line[:80]!r}"


def family_of(name: str, types: dict[str, str]) -> tuple[str, str]:
    """Split a sample name into (family, suffix), with the family named as OpenMetrics does:
    ``vllm:prompt_tokens_total`` and ``vllm:prompt_tokens_created`` are both family
    ``vllm:prompt_tokens``; a histogram's buckets, sum, count and created share its name.
    The page's TYPE lines decide where they exist; without them the suffix is a guess."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            typ = types.get(base)
            if typ is not None and suffix in _TYPE_SUFFIXES.get(typ, ()):
                return base, suffix
    if name in types:
        return name, ""
    for suffix in ("_total", "_created", "_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, ""
