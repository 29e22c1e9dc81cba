"""The hub worker's garbage-collection tuning (handoff_hub.gc_tuning)."""

import gc

from handoff_hub.gc_tuning import freeze_startup_objects


def test_startup_objects_are_frozen_out_of_the_collector_and_later_ones_are_not():
    before = gc.get_freeze_count()
    startup = [[] for _ in range(1000)]  # long-lived objects that exist when the process is ready
    try:
        freeze_startup_objects()
        frozen = gc.get_freeze_count()
        assert frozen >= before + len(startup)
        # Objects made afterwards are collected as usual: a cycle of them goes away.
        later = []
        later.append(later)
        del later
        assert gc.collect() >= 1
        assert gc.get_freeze_count() == frozen  # a collection does not thaw what was frozen
    finally:
        gc.unfreeze()
