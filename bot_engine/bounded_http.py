"""One HTTP POST whose timeout bounds the whole call: connect, headers and body.

urllib's timeout bounds each socket operation only, so a server sending its reply a byte at a
time holds the caller (a bot turn, and with it the chat) as long as it likes. Here a timer
shuts the connection's socket when the time is up: whatever waits on it returns at once, and
the call raises TimeoutError. Proxies from the environment are not used, as Rasa's own client
does not use them for its action server.
"""

import contextlib
import http.client
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes  # empty when an error status came with a body that could not be read


def post(url: str, body: bytes, headers: dict, timeout: float, max_bytes: int = -1) -> Reply:
    """POST `body` to `url`; reads at most `max_bytes` of the reply (-1: all of it).

    Raises TimeoutError when the whole call takes longer than `timeout` seconds,
    http.client.HTTPException when the reply is cut off or is not HTTP, and OSError when the
    server cannot be reached.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise http.client.InvalidURL(f"not an http(s) URL: {url!r}")
    connection = _connection(parts, timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    cutter = _Cutter(connection, timeout)
    try:
        try:
            connection.connect()
            cutter.raise_if_cut()  # the time ran out before there was a socket to shut
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException):
            cutter.raise_if_cut()
            raise
        try:
            payload = response.read(max_bytes if max_bytes >= 0 else None)
            cutter.raise_if_cut()  # a reply without a length ends quietly where it was cut
        except (OSError, http.client.HTTPException):
            if response.status >= 400:
                return Reply(response.status, b"")  # the status says enough
            cutter.raise_if_cut()
            raise
        return Reply(response.status, payload)
    finally:
        cutter.cancel()
        connection.close()


def _connection(parts: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


class _Cutter:
    """Shuts the connection's socket once `seconds` have passed (from a timer thread)."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float):
        self._connection = connection
        self._seconds = seconds
        self.cut = threading.Event()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        self.cut.set()
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def raise_if_cut(self) -> None:
        if self.cut.is_set():
            raise TimeoutError(f"no complete reply within {self._seconds:g} s")

    def cancel(self) -> None:
        self._timer.cancel()
