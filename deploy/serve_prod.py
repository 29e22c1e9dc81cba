"""Run the production topology on this machine, on loopback, until Ctrl-C.

    python -m deploy.serve_prod [--workers 2] [--port 8080] [--data-dir DIR] [--demo]
    WORKERS=4 make serve-prod

PostgreSQL (a cluster in --data-dir, or a temporary one) and Redis start on 127.0.0.1, the
database is migrated and static files collected, WORKERS hub processes (Daphne) start, and
nginx proxies HTTP and WebSockets to them and serves the static files. Ctrl-C shuts down in
order: nginx stops taking connections, each hub process drains (finishes in-flight messages,
closes its sockets with 1012 so clients reconnect), then Redis and PostgreSQL stop.
"""

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploy.services import manage  # noqa: E402
from deploy.topology import Topology  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", 2)))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8080)))
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR") or None)
    parser.add_argument("--demo", action="store_true", help="create the demo agent and admin")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    data_dir = os.path.abspath(args.data_dir) if args.data_dir else None
    topology = Topology(workers=args.workers, data_dir=data_dir, nginx_port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        topology.start()
        if args.demo:
            print(manage(topology.env, "setup_demo"))
        print(
            f"\nHandoff Hub is serving on {topology.url}/ with {args.workers} hub processes "
            f"(health: {topology.url}/healthz). Ctrl-C stops everything.",
            flush=True,
        )
        while not stop.wait(1):
            for daphne in topology.daphnes:
                if daphne.process is not None and daphne.process.poll() is not None:
                    print(f"Hub process on {daphne.port} exited; restarting it", flush=True)
                    daphne.start()
    finally:
        print("Shutting down: draining hub processes…", flush=True)
        topology.stop()
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
