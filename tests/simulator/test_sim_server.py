"""The HTTP server: routes, clock-driven advance, faults, clean shutdown, the CLI."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.server import FleetServer
from tests.simulator.helpers import START, new_sim, pick, samples

pytestmark = pytest.mark.timeout(20)


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FleetServer]:
    with FleetServer(new_sim(), clock=clock) as srv:
        yield srv


def get(url: str, timeout: float = 5.0) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_serves_every_target_on_loopback(server: FleetServer) -> None:
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0
    targets = server.targets()
    assert [t["kind"] for t in targets].count("vllm") == 7
    assert [t["kind"] for t in targets].count("dcgm") == 2
    for t in targets:
        assert t["labels"]["cluster"] == "sim"
        status, ctype, body = get(t["url"])
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
        assert list(text_string_to_metric_families(body.decode()))
        if t["kind"] == "vllm":
            e = server.sim.fleet.engine(t["name"])
            assert (t["labels"]["namespace"], t["labels"]["pod"]) == (e.namespace, e.pod)
            assert t["gpu_indices"] == list(e.gpu_indices)
        else:
            assert t["labels"]["node"] == t["name"]
    assert get(server.url + "/healthz")[:2] == (200, "text/plain; charset=utf-8")
    assert json.loads(get(server.url + "/targets")[2]) == targets
    assert get(server.url + "/nope")[0] == 404


def test_requests_advance_the_simulation_to_the_clock(server: FleetServer, clock: FakeClock) -> None:
    url = server.url + "/engines/chat-llama70b/metrics"
    first = pick(samples(get(url)[2].decode()), "vllm:generation_tokens_total")
    assert get(url)[2] == get(url)[2]  # no time passed, nothing moved
    clock.t += 30
    second = pick(samples(get(url)[2].decode()), "vllm:generation_tokens_total")
    assert second > first
    truth = json.loads(get(server.url + "/truth")[2])
    assert truth["t"] == START + 30 and truth["elapsed"] == 30
    assert truth["engines"]["chat-llama70b"]["generation_tokens"] == second - first
    assert set(truth["gpus"]) == {g.uuid for n in server.sim.fleet.nodes for g in n.gpus}


@pytest.mark.parametrize("by_path", [False, True])
def test_faults(server: FleetServer, by_path: bool) -> None:
    path = "/engines/rag-llama8b/metrics"
    url = server.url + path
    key = path if by_path else "rag-llama8b"
    server.set_fault(key, "down")
    assert get(url)[0] == 503
    server.set_fault(key, "html")
    status, ctype, body = get(url)
    assert status == 200 and ctype.startswith("text/html") and body.startswith(b"<!DOCTYPE html")
    server.set_fault(key, "truncated")
    status, _, body = get(url)
    assert status == 200 and not body.endswith(b"\n")
    assert b"\n" in body and not body.rsplit(b"\n", 1)[1].startswith(b"#")  # cut inside a sample line
    server.set_fault(key, "garbage")
    status, _, body = get(url)
    assert status == 200
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    server.set_fault(key, "slow", delay_s=1.0)
    with pytest.raises((TimeoutError, urllib.error.URLError, socket.timeout)):
        get(url, timeout=0.2)
    t = time.monotonic()
    assert get(url, timeout=5)[0] == 200
    assert 0.9 < time.monotonic() - t < 4
    server.set_fault(key, None)
    assert get(url)[0] == 200
    assert get(server.url + "/engines/chat-llama70b/metrics")[0] == 200  # others unaffected
    with pytest.raises(ValueError):
        server.set_fault(key, "weird")  # type: ignore[arg-type]


def test_restarting_engine_answers_503(server: FleetServer, clock: FakeClock) -> None:
    server.sim.trigger_restart("support-mistral7b")
    clock.t += 30
    assert get(server.url + "/engines/support-mistral7b/metrics")[0] == 503
    clock.t += 200
    assert get(server.url + "/engines/support-mistral7b/metrics")[0] == 200


def test_stop_is_prompt_even_with_a_slow_request_in_flight(clock: FakeClock) -> None:
    srv = FleetServer(new_sim(), clock=clock)
    url = srv.start() + "/nodes/gpu-node-a/metrics"
    srv.set_fault("gpu-node-a", "slow", delay_s=30)
    host, port = srv.host, srv.port
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/nodes/gpu-node-a/metrics")
    time.sleep(0.2)  # the handler is now sleeping
    t = time.monotonic()
    srv.stop()
    assert time.monotonic() - t < 3
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.getresponse()
    conn.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=1)


def test_concurrent_scrapes_are_consistent(server: FleetServer, clock: FakeClock) -> None:
    import threading

    urls = [t["url"] for t in server.targets()] * 3
    errors: list[BaseException] = []

    def scrape(u: str) -> None:
        try:
            assert get(u)[0] == 200
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    clock.t += 45
    threads = [threading.Thread(target=scrape, args=(u,)) for u in urls]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=10)
    assert not errors
    assert server.sim.now == START + 45


def test_command_line_serves_and_prints_targets() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", "--time-scale", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        header = proc.stdout.readline()
        assert "memmoat simulator on http://127.0.0.1:" in header, header + (proc.stderr.read() if proc.poll() else "")
        targets = [json.loads(proc.stdout.readline()) for _ in range(9)]
        assert {t["kind"] for t in targets} == {"vllm", "dcgm"}
        status, _, body = get(targets[0]["url"])
        assert status == 200 and b"vllm:kv_cache_usage_perc" in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
