"""Garbage collection for a long-running hub process.

A loaded assistant, Django and the libraries are a few hundred thousand long-lived objects.
A full (generation 2) collection walks all of them: about 150 ms with the demo assistant
loaded, while every message in flight waits — it was the tail of the reply latency at
moderate load. Once the process is ready, what exists is frozen out of the collector's way;
objects made later are collected as usual.
"""

import gc


def freeze_startup_objects() -> None:
    gc.collect()
    gc.freeze()
