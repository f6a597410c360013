"""Checks behind ``memmoat check-config``: does every target answer with a page we understand?"""

from __future__ import annotations

import httpx

from collector import canonical
from collector.exposition import PageParser
from collector.scrape import fetch
from memmoat.config import Settings
from memmoat.errors import MemmoatError


def probe_targets(settings: Settings) -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []
    cfg = settings.collector
    with httpx.Client(follow_redirects=True) as client:
        for t in settings.targets:
            try:
                got = fetch(client, t, timeout=cfg.timeout_seconds, max_bytes=cfg.max_page_bytes)
            except MemmoatError as exc:
                out.append((t.name, False, exc.message))
                continue
            parser = PageParser()
            page = parser.parse(got.text)
            names = {parser.info(k).name for k in page.keys}
            kind = t.kind if t.kind != "auto" else canonical.detect_kind(names)
            if not page.keys:
                out.append((t.name, False, f"{t.url} answered but the page has no samples"))
            elif kind is None:
                out.append((t.name, False, "page has samples but no known exporter's names; set kind"))
            else:
                issues = f", {len(page.issues)} bad line(s)" if page.issues else ""
                out.append((t.name, True, f"{kind}, {len(page.keys)} samples{issues}"))
    return out
