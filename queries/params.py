"""Parameter values from text (CLI ``--param K=V``, URL query strings, defaults in .sql files).

Times are UTC. Besides ISO dates and times, TIMESTAMP accepts ``now``, ``today``,
``yesterday`` and offsets from now such as ``-15m``, ``-6h``, ``-7d``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from memmoat.errors import QueryParameterError
from queries.loader import NamedQuery, Param

_REL = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_timestamp(text: str, now: datetime | None = None) -> datetime:
    now = now or utcnow()
    t = text.strip().lower()
    if t == "now":
        return now
    if t == "today":
        return datetime.combine(now.date(), datetime.min.time())
    if t == "yesterday":
        return datetime.combine(now.date() - timedelta(days=1), datetime.min.time())
    m = _REL.match(t)
    if m:
        delta = timedelta(**{_UNITS[m.group(3)]: float(m.group(2))})
        return now - delta if m.group(1) == "-" else now + delta
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; use ISO (2026-11-21 or 2026-11-21T14:00), now, today, yesterday or -6h"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def convert(param: Param, text: str, now: datetime | None = None) -> object:
    t = param.type
    if t == "TIMESTAMP":
        return parse_timestamp(text, now)
    if t == "DATE":
        low = text.strip().lower()
        if low in ("today", "yesterday"):
            return parse_timestamp(low, now).date()
        return date.fromisoformat(text.strip())
    if t == "INTEGER":
        return int(text)
    if t == "DOUBLE":
        return float(text)
    if t == "BOOLEAN":
        low = text.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{text!r} is not true/false")
    return text


def bind(query: NamedQuery, given: dict[str, str], now: datetime | None = None) -> dict[str, object]:
    """Text parameters -> typed values, defaults filled in. Unknown or missing ones are errors."""
    unknown = set(given) - {p.name for p in query.params}
    if unknown:
        names = ", ".join(p.name for p in query.params) or "none"
        raise QueryParameterError(
            f"query {query.name!r} has no parameter {', '.join(sorted(unknown))}",
            hint=f"its parameters: {names}",
        )
    now = now or utcnow()
    out: dict[str, object] = {}
    for p in query.params:
        text = given.get(p.name, p.default)
        if text is None:
            raise QueryParameterError(f"query {query.name!r} needs --param {p.name}=<{p.type}>", hint=p.help or None)
        try:
            out[p.name] = None if text.upper() == "NULL" else convert(p, text, now)
        except ValueError as exc:
            raise QueryParameterError(f"parameter {p.name} ({p.type}): {exc}") from None
    return out
