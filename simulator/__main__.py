"""Serve the simulated fleet standalone: ``python -m simulator --port 9400 --time-scale 60``."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time

from simulator.fleet import default_fleet, generate_fleet
from simulator.server import FleetServer
from simulator.workload import Simulation


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9400)
    ap.add_argument(
        "--time-scale", type=float, default=1.0, help="simulated seconds per real second (60 plays a day in 24 minutes)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nodes", type=int, help="generate a fleet of this many 8-GPU nodes")
    ap.add_argument("--engines", type=int, help="engines in a generated fleet (default: nodes)")
    args = ap.parse_args(argv)

    fleet = default_fleet(args.seed)
    if args.nodes:
        fleet = generate_fleet(args.nodes, args.engines or args.nodes, args.seed)
    sim = Simulation(fleet, time.time(), seed=args.seed, time_scale=args.time_scale)
    server = FleetServer(sim, host=args.host, port=args.port)
    url = server.start()
    print(f"# memmoat simulator on {url} (truth: {url}/truth); targets, one JSON object a line:", flush=True)
    for target in server.targets():
        print(json.dumps(target), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
