"""deploy/immediate_writes.py on a real Twisted reactor (the asyncio one, as Daphne runs it)
and real TCP sockets, in a subprocess of its own (a reactor runs once per process)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = r"""
import json, socket, sys, threading, time
from twisted.internet import asyncioreactor
asyncioreactor.install()
from twisted.internet import protocol, reactor

if sys.argv[1] == "on":
    from deploy import immediate_writes
    immediate_writes.install()

registrations = []
real_add_writer = reactor.addWriter
reactor.addWriter = lambda writer: (registrations.append(1), real_add_writer(writer))[1]
BIG = bytes(range(256)) * 32768  # 8 MiB: far more than a socket buffer takes at once
report = {}


class Sender(protocol.Protocol):
    def connectionMade(self):
        sender.append(self)
        for number in range(100):  # small frames on an idle connection
            self.transport.write(b"%05d" % number)

    def connectionLost(self, reason):
        report["lost"] = True
        reactor.stop()


def big_then_tail():
    report["small_registrations"] = len(registrations)
    sender[0].transport.write(BIG)
    sender[0].transport.write(b"tail")  # queued behind the rest of BIG


def after_close():
    for _ in range(3):
        sender[0].transport.write(b"late")


def client(port):
    sock = socket.create_connection(("127.0.0.1", port))
    small = b""
    while len(small) < 500:
        small += sock.recv(500 - len(small))
    report["small_in_order"] = small == b"".join(b"%05d" % n for n in range(100))
    reactor.callFromThread(big_then_tail)
    time.sleep(0.3)  # let the sender's socket buffer fill up
    wanted, got = len(BIG) + 4, bytearray()
    while len(got) < wanted:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        got += chunk
    report["big_in_order"] = bytes(got) == BIG + b"tail"
    report["registrations"] = len(registrations)
    sock.close()
    time.sleep(0.1)
    reactor.callFromThread(after_close)


sender = []
factory = protocol.Factory.forProtocol(Sender)
port = reactor.listenTCP(0, factory, interface="127.0.0.1")
threading.Thread(target=client, args=(port.getHost().port,), daemon=True).start()
reactor.callLater(30, reactor.stop)
reactor.run()
print(json.dumps(report))
"""


def run(mode: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["on", "off"])
def test_bytes_arrive_whole_and_in_order_and_a_lost_peer_is_noticed(mode):
    report = run(mode)
    assert report["small_in_order"] and report["big_in_order"]
    assert report.get("lost") is True


def test_small_writes_on_an_idle_connection_skip_the_reactor():
    on, off = run("on"), run("off")
    # Twisted alone registers the socket for every burst; with immediate writes the 100 small
    # frames went straight out, and only the 8 MiB write (which the socket could not take at
    # once) used the reactor's buffered path.
    assert off["small_registrations"] >= 1
    assert on["small_registrations"] == 0
    assert on["registrations"] >= 1
