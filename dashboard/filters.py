"""Time range, cluster, namespace and model filters, kept in the URL query string.

A link such as ``/kv_cache?range=6h&namespace=chat`` opens the KV page over the last six
hours for the chat namespace. The URL is read once when a session starts; from then on the
sidebar widgets are the truth and every run writes them back to ``st.query_params`` (so
switching pages keeps them, and the address bar is always a shareable link).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import streamlit as st

RANGES: dict[str, tuple[str, int]] = {
    "15m": ("15 min", 15 * 60),
    "1h": ("1 hour", 3600),
    "6h": ("6 hours", 6 * 3600),
    "24h": ("24 hours", 24 * 3600),
    "7d": ("7 days", 7 * 24 * 3600),
}
DEFAULT_RANGE = "1h"
DIMS = ("cluster", "namespace", "model")
URL_KEYS = ("range", *DIMS)
ALL = "All"
DAY = 24 * 3600
# Widths of one point on time charts: the smallest that gives at most ~120 points per chart.
_BUCKETS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
_STATE = "memmoat_filters"


@dataclass(frozen=True)
class Filters:
    range: str = DEFAULT_RANGE
    cluster: str | None = None
    namespace: str | None = None
    model: str | None = None

    @property
    def seconds(self) -> int:
        return RANGES[self.range][1]

    @property
    def label(self) -> str:
        return f"last {RANGES[self.range][0]}"

    def window(self, shift_s: int = 0) -> dict[str, str]:
        """start/end parameters (UTC, relative to now); ``shift_s`` moves the window back."""
        if not shift_s:
            return {"start": f"-{self.range}", "end": "now"}
        return {"start": f"-{self.seconds + shift_s}s", "end": f"-{shift_s}s"}

    def bucket_s(self, interval_s: float = 0.0) -> int:
        """Seconds per point on a time chart: at most ~120 points, never below the scrape interval."""
        want = max(interval_s, self.seconds / 120)
        return next((b for b in _BUCKETS if b >= want), _BUCKETS[-1])

    def chosen(self) -> dict[str, str]:
        """The dimension filters that are set."""
        return {d: v for d in DIMS if (v := getattr(self, d))}

    def as_query(self) -> dict[str, str]:
        """URL query parameters: only what differs from the defaults."""
        out = {"range": self.range} if self.range != DEFAULT_RANGE else {}
        return out | self.chosen()

    def describe(self) -> str:
        parts = [self.label]
        parts += [f"{d} **{v}**" for d, v in self.chosen().items()]
        return " · ".join(parts)


def from_query(qp: Mapping[str, str]) -> Filters:
    """Filters from URL parameters; an unknown range falls back to the default."""
    rng = qp.get("range", DEFAULT_RANGE)
    values = {d: (qp.get(d) or None) for d in DIMS}
    return Filters(range=rng if rng in RANGES else DEFAULT_RANGE, **values)


def current() -> Filters:
    """The filters of this session (set by ``sidebar`` on every full run; fragments read them)."""
    value = st.session_state.get(_STATE)
    return value if isinstance(value, Filters) else Filters()


def _key(name: str) -> str:
    return f"filter_{name}"


def sidebar(options: Mapping[str, Sequence[str]]) -> Filters:
    """Draw the filter widgets in the sidebar and keep the URL in step with them.

    ``options`` lists the known values per dimension (from the store); a value that comes in
    a link but is not (yet) in the store stays selectable, so the link keeps its meaning and
    the pages say that nothing matches.
    """
    state = st.session_state
    if _STATE not in state:  # a new session: the link decides
        start = from_query({k: v for k, v in st.query_params.items() if k in URL_KEYS})
        state[_key("range")] = start.range
        for d in DIMS:
            state[_key(d)] = getattr(start, d) or ALL
    with st.sidebar:
        st.segmented_control(
            "Time range", list(RANGES), key=_key("range"), required=True, format_func=lambda r: r,
            help="The window every page shows, ending now (UTC).",
        )  # fmt: skip
        for d in DIMS:
            known = sorted({str(v) for v in options.get(d, ()) if v})
            chosen = state.get(_key(d), ALL)
            choices = [ALL, *known] + ([chosen] if chosen not in (ALL, *known) else [])
            st.selectbox(d.capitalize(), choices, key=_key(d))
    rng = state.get(_key("range")) or DEFAULT_RANGE
    f = Filters(
        range=rng if rng in RANGES else DEFAULT_RANGE,
        **{d: (None if state.get(_key(d), ALL) == ALL else state.get(_key(d))) for d in DIMS},
    )
    state[_STATE] = f
    write_url(f)
    return f


def write_url(f: Filters) -> None:
    want = f.as_query()
    for k in URL_KEYS:
        have = st.query_params.get(k)
        if want.get(k) == have:
            continue
        if k in want:
            st.query_params[k] = want[k]
        else:
            del st.query_params[k]
