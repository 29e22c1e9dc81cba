"""Garbage collection for a long-running hub or engine process.

A loaded assistant, Django and the libraries are a few hundred thousand long-lived objects.
A full (generation 2) collection walks all of them: about 150 ms with the demo assistant
loaded, while every message in flight waits — it was the tail of the reply latency at
moderate load. Once the process is ready, what exists is frozen out of the collector's way;
objects made later are collected as usual.

What a message makes on its way (frames, futures, jobs, events) lives for the tens of
milliseconds it is in flight. With CPython's default young generation (700 net allocations of
tracked objects), much of it is still alive at a young collection, is promoted, and the
promoted objects soon trigger a full collection: at 500 messages/s on PostgreSQL, five in
20 s of 16–60 ms each, with every thread of the process stopped (hub and engine process
alike). A young generation of YOUNG_THRESHOLD lets in-flight objects die young: in the same
run no full collection came, young ones took 2–7 ms (0.1 ms at 700) and came 40 times less
often, and the time paused in all fell from ~320 to ~70 ms. Full collections still come,
minutes apart instead of seconds; cyclic garbage lives a little longer (at most that many
allocations). The figures are CPython 3.11's (3.14's collector is incremental).
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
