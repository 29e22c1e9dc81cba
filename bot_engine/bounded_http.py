"""One HTTP POST whose timeout bounds the whole call: connect, headers and body.

urllib's timeout bounds each socket operation only, so a server sending its reply a byte at a
time holds the caller (a bot turn, and with it the chat) as long as it likes. Here a timer
shuts the connection's socket when the time is up: whatever waits on it returns at once, and
the call raises TimeoutError. (Name lookup happens before there is a socket to shut: it is
bounded by the system's resolver, each connect attempt by the timeout.) Proxies come from the
environment (`http_proxy`, `https_proxy`, `no_proxy`), as they did with urllib; redirects are
not followed.
"""

import base64
import contextlib
import http.client
import socket
import ssl
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass

USER_AGENT = "HandoffHub/1"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes  # empty when an error status came with a body that could not be read


def post(url: str, body: bytes, headers: dict, timeout: float, max_bytes: int = -1) -> Reply:
    """POST `body` to `url`; reads at most `max_bytes` of the reply (-1: all of it; 0: none).

    Raises TimeoutError when the whole call takes longer than `timeout` seconds,
    http.client.InvalidURL for a URL that is not http(s) with a valid port,
    http.client.HTTPException when the reply is cut off or is not HTTP, and OSError when the
    server cannot be reached.
    """
    target = _split(url)
    connection, path, proxy_headers = _connection_and_path(target, url, timeout)
    headers = {**_with_defaults(headers), **proxy_headers}
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
        if max_bytes == 0:
            # Headers cut off part-way parse as ended: only a finished call counts.
            if not cutter.finish():
                raise TimeoutError(cutter.message)
            return Reply(response.status, b"")
        try:
            payload = response.read(max_bytes if max_bytes > 0 else None)
        except (OSError, http.client.HTTPException):
            if response.status >= 400:
                return Reply(response.status, b"")  # the status says enough
            cutter.raise_if_cut()
            raise
        # A reply without a length ends quietly where it was cut: only a finished one counts.
        if not cutter.finish():
            raise TimeoutError(cutter.message)
        return Reply(response.status, payload)
    finally:
        cutter.finish()
        connection.close()


def _split(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise http.client.InvalidURL(f"not an http(s) URL: {url!r}")
    try:
        parts.port  # noqa: B018 - checks the port (urlsplit raises only when asked)
    except ValueError as error:
        raise http.client.InvalidURL(f"{error} in {url!r}") from None
    return parts


def _connection_and_path(target, url: str, timeout: float):
    """The connection to open (to the server, or to the proxy the environment names for it),
    the request's target, and the headers a plain proxy is sent with the request."""
    path = target.path or "/"
    if target.query:
        path += "?" + target.query
    proxy = _proxy_for(target)
    if proxy is None:
        return _open(target.scheme, target.hostname, target.port, timeout), path, {}
    proxy_headers = {}
    if proxy.username:
        credentials = f"{urllib.parse.unquote(proxy.username)}:"
        credentials += urllib.parse.unquote(proxy.password or "")
        proxy_headers["Proxy-Authorization"] = "Basic " + base64.b64encode(
            credentials.encode()
        ).decode("ascii")
    if target.scheme == "https":  # through a CONNECT tunnel: the proxy sees no content
        connection = _open("https", proxy.hostname, proxy.port or 8080, timeout)
        connection.set_tunnel(target.hostname, target.port or 443, headers=proxy_headers)
        return connection, path, {}
    connection = _open("http", proxy.hostname, proxy.port or 8080, timeout)
    return connection, url, proxy_headers  # a proxy is asked for the whole URL


def _proxy_for(target) -> urllib.parse.SplitResult | None:
    proxy = urllib.request.getproxies().get(target.scheme)
    if not proxy or urllib.request.proxy_bypass(target.hostname):
        return None
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return parts if parts.hostname else None


def _open(scheme: str, host: str, port: int | None, timeout: float):
    if scheme == "https":
        context = ssl.create_default_context()
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def _with_defaults(headers: dict) -> dict:
    if any(name.lower() == "user-agent" for name in headers):
        return headers
    return {"User-Agent": USER_AGENT, **headers}


class _Cutter:
    """Shuts the connection's socket once `seconds` have passed (from a timer thread), unless
    the call finished first."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float):
        self._connection = connection
        self.message = f"no complete reply within {seconds:g} s"
        self._lock = threading.Lock()
        self._cut = False
        self._finished = False
        self._timer = threading.Timer(seconds, self._cut_now)
        self._timer.daemon = True
        self._timer.start()

    def _cut_now(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._cut = True
            sock = self._connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def raise_if_cut(self) -> None:
        with self._lock:
            if self._cut:
                raise TimeoutError(self.message)

    def finish(self) -> bool:
        """No cut from now on; True if none came before."""
        self._timer.cancel()
        with self._lock:
            self._finished = True
            return not self._cut
