"""Fetch one target's page over HTTP: plain-text format, a total timeout, size cap, clear errors."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from memmoat.config import Target
from memmoat.errors import PageError, TargetUnreachableError

# Ask for the classic text format: prometheus_client's OpenMetrics output renames vllm: names.
ACCEPT = "text/plain;version=0.0.4;q=1.0, */*;q=0.1"


@dataclass(frozen=True, slots=True)
class Fetched:
    text: str
    nbytes: int
    seconds: float


def fetch(client: httpx.Client, target: Target, *, timeout: float, max_bytes: int) -> Fetched:
    headers = {"Accept": ACCEPT}
    token = target.bearer_token()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    start = time.perf_counter()
    try:
        with client.stream("GET", target.url, headers=headers, timeout=timeout) as resp:
            if resp.status_code != 200:
                raise TargetUnreachableError(
                    target.name,
                    f"HTTP {resp.status_code} from {target.url}",
                    hint="check the URL and that the exporter is running",
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                # httpx's timeout bounds each read; a target trickling bytes must not hold a
                # scrape thread past its whole budget.
                if time.perf_counter() - start > timeout:
                    raise httpx.ReadTimeout("page not complete within the timeout")
                size += len(chunk)
                if size > max_bytes:
                    raise PageError(
                        target.name,
                        f"page is larger than collector.max_page_bytes ({max_bytes} bytes); nothing was stored",
                    )
                chunks.append(chunk)
    except httpx.TimeoutException:
        raise TargetUnreachableError(
            target.name,
            f"no answer from {target.url} within {timeout:g} s",
            hint="raise collector.timeout_seconds or check the target's load",
        ) from None
    except httpx.HTTPError as exc:
        raise TargetUnreachableError(
            target.name,
            f"cannot reach {target.url}: {exc}",
            hint="check the URL, that the service is up and that this host can reach it",
        ) from None
    body = b"".join(chunks)
    return Fetched(decode(target.name, body), size, time.perf_counter() - start)


def decode(target: str, body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise PageError(target, f"page is not UTF-8 (byte {exc.start})", line=line) from None
    head = text.lstrip()[:200].lower()
    if head.startswith("<!doctype html") or head.startswith("<html") or "<html" in head:
        raise PageError(target, "got an HTML page, not Prometheus text: is the URL the /metrics path?", line=1)
    return text
