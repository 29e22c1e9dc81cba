"""TCP writes that go out at once when nothing is queued before them.

Twisted's `write()` always buffers: it registers the socket for writability (an epoll_ctl),
sends on the reactor's next turn (a send) and unregisters (another epoll_ctl). On a hub
process every one of those system calls hands the interpreter lock to the group-commit
writer or the engine threads and waits to get it back, for each of the two or three frames
a customer message produces. When Twisted's buffers are empty, sending right away writes the
same bytes in the same order, one system call instead of three and a loop turn sooner;
whatever the socket does not take goes through Twisted's buffer as before. A pull producer,
or a streaming one Twisted paused, keeps the buffered path: Twisted resumes those from its
write callback. (Twisted's HTTP channel stays registered as a streaming producer on an
upgraded WebSocket.)
"""

from twisted.internet import tcp

_buffered_write = tcp.Connection.write


def _write(self, data) -> None:
    if (
        self.TLS
        or (self.producer is not None and (self.producerPaused or not self.streamingProducer))
        or not self.connected
        or self.disconnecting
        or self._writeDisconnected
        or self._tempDataBuffer
        or len(self.dataBuffer) > self.offset
        or not isinstance(data, bytes)
        or not data
    ):
        _buffered_write(self, data)
        return
    sent = self.writeSomeData(data)
    if not isinstance(sent, int):  # the connection is lost: Twisted's own path notices it
        _buffered_write(self, data)
    elif sent < len(data):
        _buffered_write(self, data[sent:])


def install() -> None:
    """Send at once from now on, for every TCP connection of this process (idempotent)."""
    tcp.Connection.write = _write
