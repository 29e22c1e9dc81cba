"""One hub process: Daphne serving handoff_hub.asgi, with a graceful SIGTERM.

    python -m deploy.hub_worker --port 8001 [--host 127.0.0.1] [--grace 10]

SIGTERM (or SIGINT): stop listening, report unhealthy, let the messages already being stored
finish, close every WebSocket with 1012 ("service restart") so clients reconnect to another
process, then exit. A second signal exits at once.
"""

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "handoff_hub.settings")

logger = logging.getLogger("deploy.hub_worker")
SERVICE_RESTART = 1012


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--grace", type=float, default=float(os.environ.get("HUB_GRACE", 10)))
    parser.add_argument("--app", default="handoff_hub.asgi:application")
    # Twisted listens with a backlog of 50: a burst of new sockets (a reconnect storm after a
    # restart, nginx opening upstream connections) overflowed it, the kernel dropped the SYNs
    # and clients retried after 1, 3, 7, 15 … s — connects crawled at a few per second with
    # the process idle. The kernel caps this at net.core.somaxconn.
    parser.add_argument(
        "--backlog", type=int, default=int(os.environ.get("HUB_LISTEN_BACKLOG", 4096))
    )
    return parser.parse_args(argv)


def load_application(spec: str):
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def close_for_restart(protocol) -> bool:
    """Tell a WebSocket client to reconnect elsewhere (close code 1012, Service Restart).

    autobahn's `sendClose` refuses every code but 1000 and 3000–4999, so the frame goes out
    through its lower-level `sendCloseFrame`; a socket still in its handshake, or a plain
    HTTP request, is left to finish. One socket that cannot be closed must not stop the
    drain of the others.
    """
    from autobahn.websocket.protocol import WebSocketProtocol

    if not isinstance(protocol, WebSocketProtocol) or protocol.state != protocol.STATE_OPEN:
        return False
    try:
        protocol.sendCloseFrame(code=SERVICE_RESTART, isReply=False)
    except Exception:  # noqa: BLE001 - the connection went away meanwhile
        logger.debug("Could not close a socket for restart", exc_info=True)
        return False
    return True


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    # Install the asyncio reactor before anything imports twisted.internet.reactor.
    from daphne.server import Server
    from twisted.internet import reactor

    from handoff_hub import lifecycle

    application = load_application(args.app)
    if args.app.startswith("handoff_hub."):
        # Load (or train) the assistant before listening: the first customer must not wait.
        from handoff_hub import engine_processes
        from handoff_hub.engine import get_assistant

        get_assistant()
        if engine_processes.enabled():
            engine_processes.start_engine_processes(wait=True)
    from handoff_hub.gc_tuning import tune_for_serving

    tune_for_serving()
    ports = []

    class DrainingServer(Server):
        def listen_success(self, port):
            ports.append(port)
            super().listen_success(port)

    server = DrainingServer(
        application=application,
        endpoints=[f"tcp:port={args.port}:interface={args.host}:backlog={args.backlog}"],
        signal_handlers=False,
        proxy_forwarded_address_header="X-Forwarded-For",
        proxy_forwarded_port_header="X-Forwarded-Port",
        proxy_forwarded_proto_header="X-Forwarded-Proto",
    )

    async def drain() -> None:
        lifecycle.start_draining()
        for port in ports:
            port.stopListening()
        finished = await lifecycle.wait_until_idle(args.grace)
        logger.info("Draining: in-flight work %s", "finished" if finished else "timed out")
        closed = sum(close_for_restart(protocol) for protocol in list(server.connections))
        logger.info("Draining: asked %s WebSocket client(s) to reconnect elsewhere", closed)
        await lifecycle.wait_until_idle(args.grace)
        await asyncio.sleep(0.2)  # let the close frames leave
        try:
            # In-flight work finished (or its grace ran out): end the database threads,
            # closing their connections.
            await asyncio.to_thread(lifecycle.stop_worker_threads)
        finally:
            reactor.stop()  # whatever happened above, the process must not hang

    def on_signal(signum, frame) -> None:
        if lifecycle.is_draining():
            os._exit(1)
        logger.info("Signal %s: draining", signum)
        reactor.callFromThread(lambda: asyncio.ensure_future(drain()))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.run()


if __name__ == "__main__":
    import daphne.server  # noqa: F401 - installs the asyncio reactor first

    main(sys.argv[1:])
