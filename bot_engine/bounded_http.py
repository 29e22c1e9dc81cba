"""One HTTP POST whose timeout bounds the whole call: connect, headers and body.

urllib's timeout bounds each socket operation only, so a server sending its reply a byte at a
time holds the caller (a bot turn, and with it the chat) as long as it likes. Here a timer
shuts the connection's socket when the time is up: whatever waits on it returns at once, and
the call fails as timed out. Before there is a socket to shut, the timeout bounds each
connect attempt (one per address the name has) and the system's resolver bounds the name's
lookup. Proxies come from the environment (`http_proxy`, `https_proxy`, `no_proxy`), as
with urllib (http and https proxies only); redirects are not followed.
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


# How a call failed (CallFailed.kind), worded to follow "the server …".
TIMED_OUT = "timed out"
INVALID_URL = "has an invalid URL"
BROKEN_REPLY = "sent a broken reply"
UNREACHABLE = "unreachable"


class CallFailed(Exception):
    """The call got no reply to read: `kind` is one of the four above, `detail` says more."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def post(url: str, body: bytes, headers: dict, timeout: float, max_bytes: int = -1) -> Reply:
    """POST `body` to `url`; reads at most `max_bytes` of the reply (-1: all of it; 0: none).
    Any status is a Reply; CallFailed when there is none: the whole call took longer than
    `timeout` seconds, the URL is not http(s) with a valid port, the reply was cut off or not
    HTTP, or the server (or the proxy) could not be reached."""
    try:
        return _post(url, body, headers, timeout, max_bytes)
    except TimeoutError as error:  # before OSError, which it is
        raise CallFailed(TIMED_OUT, str(error) or "no reply in time") from None
    except http.client.InvalidURL as error:  # before HTTPException, which it is
        raise CallFailed(INVALID_URL, str(error)) from None
    except http.client.HTTPException as error:
        raise CallFailed(BROKEN_REPLY, repr(error)) from error
    except OSError as error:
        raise CallFailed(UNREACHABLE, str(error) or type(error).__name__) from None


def _post(url: str, body: bytes, headers: dict, timeout: float, max_bytes: int) -> Reply:
    target = _split(url)
    route = _route(target, timeout)
    headers = {**_with_defaults(headers), **route.headers}
    connection = route.connection
    cutter = _Cutter(connection, timeout)
    try:
        try:
            connection.connect()
            cutter.raise_if_cut()  # the time ran out before there was a socket to shut
            connection.request("POST", route.path, body=body, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException):
            cutter.raise_if_cut()
            raise
        # Headers cut off part-way parse as if they had ended: they count only if the call
        # finished before the cut.
        if max_bytes == 0:
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
        if not cutter.finish() and not _read_to_its_end(response):
            raise TimeoutError(cutter.message)  # what was read ended where the cut was
        return Reply(response.status, payload)
    finally:
        cutter.finish()
        connection.close()


def _read_to_its_end(response: http.client.HTTPResponse) -> bool:
    """Was the body read to the end its reply marked (not merely to where the socket closed)?"""
    if response.length is not None:
        return response.length == 0
    return bool(response.chunked) and response.isclosed()


def _split(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise http.client.InvalidURL(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port  # urlsplit checks the port only when asked
    except ValueError as error:
        raise http.client.InvalidURL(f"{error} in {url!r}") from None
    if port == 0:
        raise http.client.InvalidURL(f"port 0 in {url!r}")
    return parts


@dataclass(frozen=True)
class _Route:
    connection: http.client.HTTPConnection  # to the server, or to the proxy for it
    path: str  # the request's target
    headers: dict  # what a plain proxy is sent with the request


def _route(target: urllib.parse.SplitResult, timeout: float) -> _Route:
    path = target.path or "/"
    if target.query:
        path += "?" + target.query
    port = target.port or _DEFAULT_PORTS[target.scheme]
    proxy = _proxy_for(target, port)
    if proxy is None:
        return _Route(_open(target.scheme, target.hostname, port, timeout), path, {})
    via = _open(proxy.scheme, proxy.hostname, proxy.port or _DEFAULT_PORTS[proxy.scheme], timeout)
    credentials = _proxy_credentials(proxy)
    if target.scheme == "https":  # through a CONNECT tunnel: the proxy sees no content
        via.set_tunnel(_bracketed(target.hostname), port, headers=credentials)
        return _Route(via, path, {})
    # A plain proxy is asked for the whole URL (without credentials or fragment).
    netloc = _bracketed(target.hostname) + (f":{target.port}" if target.port else "")
    whole = f"http://{netloc}{path}"
    return _Route(via, whole, credentials)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _proxy_for(target: urllib.parse.SplitResult, port: int) -> urllib.parse.SplitResult | None:
    """The proxy the environment names for `target`, as urllib would pick it."""
    proxy = urllib.request.getproxies().get(target.scheme)
    if not proxy:
        return None
    if urllib.request.proxy_bypass(f"{_bracketed(target.hostname)}:{port}"):
        return None
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        # Going around a proxy the environment asks for could break a network's rules.
        raise http.client.InvalidURL(f"cannot use the {target.scheme}_proxy {proxy!r}")
    return parts


def _proxy_credentials(proxy: urllib.parse.SplitResult) -> dict:
    if not proxy.username:
        return {}
    pair = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host  # an IPv6 address


def _open(scheme: str, host: str, port: int, timeout: float) -> http.client.HTTPConnection:
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
