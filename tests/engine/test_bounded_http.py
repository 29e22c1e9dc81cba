"""bot_engine.bounded_http against real local servers: the timeout bounds the whole call."""

import time

import pytest

from bot_engine import bounded_http
from tests.raw_http import misbehaving_server, unaccepting_server
from tests.services import free_port

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


def _fails(kind: str):
    return pytest.raises(bounded_http.CallFailed, check=lambda failure: failure.kind == kind)


def _post(url: str, timeout: float = 5.0, **options) -> bounded_http.Reply:
    return bounded_http.post(url, b"{}", {"Content-Type": "application/json"}, timeout, **options)


def test_a_reply_is_read_whole_with_or_without_a_length():
    url, _ = misbehaving_server(OK + b'Content-Length: 11\r\n\r\n{"a": true}')
    assert _post(url) == bounded_http.Reply(200, b'{"a": true}')
    # No length: the body ends where the server closes, which is not mistaken for a cut.
    url, _ = misbehaving_server(OK + b"Connection: close\r\n\r\n[1, 2]")
    assert _post(url) == bounded_http.Reply(200, b"[1, 2]")


def test_a_body_trickled_past_the_timeout_is_cut_at_the_timeout_not_after_one_more_read():
    # A byte every 0.1 s: each read is quick, the body never ends.
    url, stop = misbehaving_server(OK + b"Content-Length: 1000\r\n\r\n{", 20)
    started = time.monotonic()
    try:
        with _fails(bounded_http.TIMED_OUT):
            _post(url, timeout=1.0)
    finally:
        stop.set()
    assert time.monotonic() - started < 1.8


@pytest.mark.parametrize("max_bytes", [-1, 0])
def test_headers_trickled_past_the_timeout_are_cut_too(max_bytes):
    # Cut part-way, they parse as if they had ended: the cut must still count.
    url, stop = misbehaving_server(b"HTTP/1.1 200 OK\r\nX-Slow: ", 20)
    started = time.monotonic()
    try:
        with _fails(bounded_http.TIMED_OUT):
            _post(url, timeout=1.0, max_bytes=max_bytes)
    finally:
        stop.set()
    assert time.monotonic() - started < 1.8


def test_a_connection_never_accepted_is_a_timeout_and_a_refused_one_is_not():
    with unaccepting_server() as url, _fails(bounded_http.TIMED_OUT):
        _post(url, timeout=0.5)
    with _fails(bounded_http.UNREACHABLE):
        _post(f"http://127.0.0.1:{free_port()}/webhook")


def test_a_cut_off_body_is_an_error_but_an_error_status_keeps_its_status():
    url, _ = misbehaving_server(OK + b'Content-Length: 100\r\n\r\n{"events"')
    with _fails(bounded_http.BROKEN_REPLY) as failure:
        _post(url)
    assert "IncompleteRead" in failure.value.detail
    head = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 100\r\n\r\n<html>"
    url, _ = misbehaving_server(head)
    assert _post(url) == bounded_http.Reply(502, b"")


def test_no_more_than_max_bytes_are_read():
    url, _ = misbehaving_server(OK + b"Content-Length: 10\r\n\r\n0123456789")
    assert _post(url, max_bytes=4).body == b"0123"


def test_only_http_urls_are_posted_to():
    with _fails(bounded_http.INVALID_URL):
        _post("file:///etc/passwd")


def test_a_bad_port_is_an_invalid_url_not_a_crash():
    for url in ("http://127.0.0.1:99999/hook", "http://127.0.0.1:abc/hook", "http://h:0/"):
        with _fails(bounded_http.INVALID_URL):
            _post(url)


def test_a_user_agent_is_sent_unless_the_caller_names_its_own():
    received = []
    url, _ = misbehaving_server(OK + b"Content-Length: 2\r\n\r\n{}", received=received)
    _post(url)
    assert b"\r\nUser-Agent: HandoffHub/1" in received[0]
    url, _ = misbehaving_server(OK + b"Content-Length: 2\r\n\r\n{}", received=received)
    bounded_http.post(url, b"{}", {"user-agent": "Mine/2"}, 5.0)
    assert b"\r\nuser-agent: Mine/2" in received[1] and b"HandoffHub" not in received[1]


def test_with_max_bytes_zero_the_body_is_not_waited_for():
    # A chunked reply whose first chunk never comes: the status is all the caller wanted.
    head = OK + b"Transfer-Encoding: chunked\r\n\r\n"
    url, stop = misbehaving_server(head, 20)
    try:
        assert _post(url, timeout=2.0, max_bytes=0) == bounded_http.Reply(200, b"")
    finally:
        stop.set()


def test_the_environments_http_proxy_is_asked_for_the_whole_url(monkeypatch):
    received = []
    proxy, _ = misbehaving_server(OK + b"Content-Length: 2\r\n\r\n{}", received=received)
    host_and_port = proxy.removeprefix("http://").removesuffix("/webhook")
    monkeypatch.setenv("http_proxy", f"http://user:pa%20ss@{host_and_port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)

    assert _post("http://me:secret@hooks.example.invalid/hook?x=1#part").status == 200

    request_line, *headers = received[0].split(b"\r\n")
    assert request_line == b"POST http://hooks.example.invalid/hook?x=1 HTTP/1.1"
    assert b"Host: hooks.example.invalid" in headers
    assert b"Proxy-Authorization: Basic dXNlcjpwYSBzcw==" in headers  # user:pa ss
    assert b"secret" not in received[0]  # the target's own credentials are not the proxy's


def test_https_goes_through_the_proxys_tunnel(monkeypatch):
    received = []
    proxy, _ = misbehaving_server(b"HTTP/1.1 200 Connection established\r\n\r\n", received=received)
    address = proxy.removeprefix("http://").removesuffix("/webhook")
    monkeypatch.setenv("https_proxy", f"http://user:pw@{address}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)

    with _fails(bounded_http.UNREACHABLE):  # the "proxy" hangs up instead of relaying TLS
        _post("https://hooks.example.invalid/hook")

    request_line, *headers = received[0].split(b"\r\n")
    assert request_line == b"CONNECT hooks.example.invalid:443 HTTP/1.0"
    assert b"Proxy-Authorization: Basic dXNlcjpwdw==" in headers  # user:pw


@pytest.mark.parametrize("entry", ["127.0.0.1", "127.0.0.1:{port}"], ids=["host", "host:port"])
def test_no_proxy_hosts_are_reached_directly(monkeypatch, entry):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")  # nobody there
    url, _ = misbehaving_server(OK + b"Content-Length: 2\r\n\r\n{}")
    port = url.split(":")[2].split("/")[0]
    monkeypatch.setenv("no_proxy", entry.format(port=port))
    assert _post(url).status == 200


def test_a_proxy_the_environment_names_but_cannot_be_used_is_not_gone_around(monkeypatch):
    monkeypatch.setenv("http_proxy", "socks5://127.0.0.1:1080")
    with _fails(bounded_http.INVALID_URL):
        _post("http://hooks.example.invalid/hook")


@pytest.mark.parametrize(
    ("reply", "read_whole"),
    [(b"Content-Length: 2\r\n\r\n{}", True), (b"Connection: close\r\n\r\n{}", False)],
    ids=["with a length", "ended by closing"],
)
def test_when_the_timer_fires_as_the_read_ends_only_a_delimited_body_counts(
    monkeypatch, reply, read_whole
):
    # As if the cut came between the last read and the end of the call.
    monkeypatch.setattr(bounded_http._Cutter, "finish", lambda cutter: False)
    url, _ = misbehaving_server(OK + reply)
    if read_whole:
        assert _post(url) == bounded_http.Reply(200, b"{}")
    else:
        with _fails(bounded_http.TIMED_OUT):
            _post(url)
