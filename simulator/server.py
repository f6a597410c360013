"""HTTP front of the simulated fleet: every exporter of every node and engine on one port.

    /nodes/<hostname>/metrics   dcgm-exporter page of one node
    /engines/<name>/metrics     vLLM page of one engine (503 while it restarts)
    /truth                      exact ground truth as JSON
    /targets                    the scrape targets as JSON (see targets())
    /healthz                    "ok"

Each request first advances the simulation to ``clock()``. Faults can be injected per target
to exercise a collector's error handling.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from simulator.exposition import render_dcgm, render_vllm
from simulator.workload import Simulation

Fault = Literal["down", "slow", "html", "truncated", "garbage"]
FAULTS: tuple[str, ...] = ("down", "slow", "html", "truncated", "garbage")
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
HTML_ERROR = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream exporter did not answer.</p></body></html>\n"
)
GARBAGE = bytes(range(0x80, 0x100)) * 4 + b"\xff\xfe\x00vllm:\xc3\x28 1.0\n"


class FleetServer:
    def __init__(
        self,
        sim: Simulation,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sim = sim
        self.clock = clock
        self.host = host
        self.port = port
        self._faults: dict[str, tuple[Fault, float]] = {}
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = {f"/nodes/{n.hostname}/metrics": n.hostname for n in sim.fleet.nodes}
        self._routes |= {f"/engines/{e.name}/metrics": e.name for e in sim.fleet.engines}

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> str:
        """Serve in a daemon thread; returns the base URL."""
        if self._httpd is not None:
            return self.url
        self._stopping.clear()
        self._httpd = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"memmoat-sim:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a "slow" fault
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FleetServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- targets and faults --------------------------------------------------------------

    def targets(self) -> list[dict[str, Any]]:
        """Scrape targets, engines first; label keys match memmoat's Target settings."""
        fleet = self.sim.fleet
        out: list[dict[str, Any]] = [
            {
                "name": e.name,
                "url": f"{self.url}/engines/{e.name}/metrics",
                "kind": "vllm",
                "labels": {
                    "cluster": fleet.cluster,
                    "namespace": e.namespace,
                    "pod": e.pod,
                    "container": e.container,
                    "node": e.node,
                },
                "hostname": e.node,
                "gpu_indices": list(e.gpu_indices),
            }
            for e in fleet.engines
        ]
        out += [
            {
                "name": n.hostname,
                "url": f"{self.url}/nodes/{n.hostname}/metrics",
                "kind": "dcgm",
                "labels": {"cluster": fleet.cluster, "node": n.hostname},
                "hostname": n.hostname,
            }
            for n in fleet.nodes
        ]
        return out

    def set_fault(self, target: str, fault: Fault | None, *, delay_s: float = 5.0) -> None:
        """Make a target (its name or its path) misbehave; None restores it.

        down: HTTP 503. slow: answers after delay_s. html: an HTML error page with status 200.
        truncated: the page cut mid-line. garbage: bytes that are not UTF-8.
        """
        path = target if target in self._routes else self._path_of(target)
        if fault is None:
            self._faults.pop(path, None)
        elif fault in FAULTS:
            self._faults[path] = (fault, delay_s)
        else:
            raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")

    def _path_of(self, name: str) -> str:
        for path, target in self._routes.items():
            if target == name:
                return path
        raise KeyError(f"no target named {name!r}")

    # -- request handling ----------------------------------------------------------------

    def respond(self, path: str) -> tuple[int, str, bytes, float]:
        """(status, content type, body, delay before answering) for one GET."""
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/healthz":
            return 200, "text/plain; charset=utf-8", b"ok\n", 0.0
        if path == "/targets":
            return 200, "application/json", json.dumps(self.targets(), indent=1).encode(), 0.0
        self.sim.advance_to(self.clock())
        if path == "/truth":
            body = json.dumps(self.sim.truth().to_json(), indent=1).encode()
            return 200, "application/json", body, 0.0
        target = self._routes.get(path)
        if target is None:
            return 404, "text/plain; charset=utf-8", b"404 page not found\n", 0.0
        fault, delay = self._faults.get(path, (None, 0.0))
        if fault == "down":
            return 503, "text/plain; charset=utf-8", b"503 Service Unavailable\n", 0.0
        if fault == "html":
            return 200, "text/html; charset=utf-8", HTML_ERROR, 0.0
        if fault == "garbage":
            return 200, TEXT_FORMAT, GARBAGE, 0.0
        if path.startswith("/engines/"):
            if not self.sim.is_up(target):
                return 503, "text/plain; charset=utf-8", b"engine is starting\n", 0.0
            text = render_vllm(self.sim.engine_state(target))
        else:
            text = render_dcgm(self.sim.node_state(target))
        body = text.encode()
        if fault == "truncated":
            cut = len(body) * 2 // 3
            while body[cut - 1 : cut] in (b"\n", b" "):  # end mid-token, not on a boundary
                cut -= 1
            body = body[:cut]
        return 200, TEXT_FORMAT, body, delay if fault == "slow" else 0.0


def _handler_for(server: FleetServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "memmoat-sim/0.1"
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # http.server's naming
            try:
                status, ctype, body, delay = server.respond(self.path)
            except Exception as exc:  # a bug must answer 500, not hang the client
                status, ctype, body, delay = 500, "text/plain", f"{exc!r}\n".encode(), 0.0
            if delay and server._stopping.wait(delay):
                self.close_connection = True  # shutting down: drop the request unanswered
                return
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

    return Handler
