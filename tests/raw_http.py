"""HTTP servers that misbehave on purpose, written on a bare socket: what a client must survive
(a reply sent a byte at a time, one cut off, a connection never accepted)."""

import contextlib
import socket
import threading


def misbehaving_server(
    reply: bytes, trickle_seconds: float = 0, received: list | None = None
) -> tuple[str, threading.Event]:
    """A server that answers one request with `reply` (raw HTTP), then sends a space every
    0.1 s for `trickle_seconds`, and hangs up. Returns its URL and an event that stops it;
    the request's head goes into `received`."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            head = _read_request(connection)  # all of it: closing on unread bytes would reset
            if received is not None:
                received.append(head)
            connection.sendall(reply)
            for _ in range(int(trickle_seconds * 10)):
                if stop.wait(0.1):
                    return
                with contextlib.suppress(OSError):
                    connection.sendall(b" ")

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/webhook", stop


@contextlib.contextmanager
def unaccepting_server():
    """The URL of a listener whose backlog is full: a connection to it never completes (the
    kernel drops its SYN), as with a firewalled or overloaded host."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):  # more than a backlog of 0 admits
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def _read_request(connection: socket.socket) -> bytes:
    """The request's head, after reading its body too (a CONNECT has none)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    lengths = [
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ]
    while len(body) < sum(lengths):
        body += connection.recv(65536)
    return head
