"""Garbage collection for a long-running hub or engine process.

A loaded assistant, Django and the libraries are a few hundred thousand long-lived objects.
A full (generation 2) collection walks all of them: about 150 ms with the demo assistant
loaded, while every message in flight waits — it was the tail of the reply latency at
moderate load. Once the process is ready, what exists is frozen out of the collector's way;
objects made later are collected as usual.

What a message makes on its way (frames, futures, jobs, events) lives for the tens of
milliseconds it is in flight. With CPython's default of 700 allocations between young
collections, much of it is still alive at one, is promoted, and every few seconds the
promoted objects trigger a full collection: 15–30 ms with every thread of the process
stopped (measured at 500 messages/s on PostgreSQL, in the hub and in its engine process),
most of the reply latency's p99. A young generation of YOUNG_THRESHOLD allocations lets
in-flight objects die young, so full collections become rare; a young collection stays
short (it walks at most that many objects).
"""

import gc

YOUNG_THRESHOLD = 20_000


def tune_for_serving() -> None:
    """Freeze what exists now (call once the process is ready) and widen the young
    generation."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
