"""A real Prometheus server on 127.0.0.1 for tests (Debian's `prometheus` binary), and pages to feed it."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import DATA, free_port


def binary() -> str | None:
    return shutil.which("prometheus")


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def query(self, promql: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        r.raise_for_status()
        return list(r.json()["data"]["result"])

    def wait_for(self, promql: str, expect: dict[str, float], timeout: float = 30) -> None:
        """Wait until ``promql`` gives, per instance, the expected value (the state has been scraped)."""
        deadline = time.monotonic() + timeout
        got: dict[str, float] = {}
        while time.monotonic() < deadline:
            got = {r["metric"].get("instance", ""): float(r["value"][1]) for r in self.query(promql)}
            if all(got.get(k) == v for k, v in expect.items()):
                return
            time.sleep(0.2)
        raise AssertionError(f"Prometheus did not scrape {promql} = {expect} within {timeout} s (got {got})")


@contextmanager
def prometheus(
    tmp: Path, jobs: dict[str, list[tuple[str, dict[str, str]]]], interval: str = "1s", config_text: str | None = None
) -> Iterator[Prometheus]:
    """Run Prometheus scraping ``jobs``: name -> [(host:port, target labels)] (or the given config);
    stopped on exit."""
    exe = binary()
    assert exe, "prometheus is not installed"
    lines = ["global:", f"  scrape_interval: {interval}", "  scrape_timeout: 900ms", "scrape_configs:"]
    for job, targets in jobs.items():
        lines += [f"  - job_name: {job}", "    static_configs:"]
        for addr, labels in targets:
            lines += [f"      - targets: ['{addr}']"]
            if labels:
                lines += ["        labels:"] + [f"          {k}: '{v}'" for k, v in labels.items()]
    config = tmp / "prometheus.yml"
    config.write_text(config_text if config_text is not None else "\n".join(lines) + "\n")
    port = free_port()
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Prometheus did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield Prometheus(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- evolving pages --------------------------------------------------------------------------
VLLM_BASE = (DATA / "vllm-cpu-live.prom").read_text()


def vllm_page(prompt: float, generation: float, kv: float, waiting: float, preemptions: float, created: float) -> str:
    """The real vLLM 0.32 page with the values that matter replaced; ``created`` marks a restart."""
    values = {
        "vllm:prompt_tokens_total{": prompt, "vllm:generation_tokens_total{": generation,
        "vllm:kv_cache_usage_perc{": kv, "vllm:num_requests_waiting{": waiting,
        "vllm:num_preemptions_total{": preemptions,
    }  # fmt: skip
    out = []
    for line in VLLM_BASE.splitlines():
        for prefix, value in values.items():
            if line.startswith(prefix):
                line = line.rsplit(" ", 1)[0] + f" {value!r}"
        if re.match(r"^vllm:\w+_created\{", line):
            line = line.rsplit(" ", 1)[0] + f" {created!r}"
        out.append(line)
    return "\n".join(out) + "\n"


GPUS = (
    ("0", "GPU-5f0a9c1e-0000-4000-8000-000000000000", 'container="vllm",namespace="llm",pod="chat-0"'),
    ("1", "GPU-5f0a9c1e-0000-4000-8000-000000000001", ""),
)


def dcgm_page(dram: tuple[float, float], energy_mj: tuple[int, int], util: tuple[int, int]) -> str:
    """A dcgm-exporter 4.x page for two H100s; GPU 0 is used by pod chat-0 (labels as the exporter prints)."""
    fields = (
        ("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "Ratio of cycles the device memory interface is active.", dram),
        ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", util),
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ).", energy_mj),
        ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", (61234, 1024)),
    )
    lines = []
    for name, mtype, help_text, vals in fields:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {mtype}"]
        for (gpu, uuid, pod), v in zip(GPUS, vals, strict=True):
            labels = (
                f'gpu="{gpu}",UUID="{uuid}",pci_bus_id="00000000:1{gpu}:00.0",device="nvidia{gpu}",'
                f'modelName="NVIDIA H100 80GB HBM3",Hostname="node-a",DCGM_FI_DRIVER_VERSION="570.86.15"'
            )
            if pod:
                labels += "," + pod
            value = f"{v:.6f}" if isinstance(v, float) else str(v)
            lines.append(f"{name}{{{labels}}} {value}")
    return "\n".join(lines) + "\n"
