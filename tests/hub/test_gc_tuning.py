"""The hub worker's garbage-collection tuning (handoff_hub.gc_tuning)."""

import gc

from handoff_hub.gc_tuning import freeze_startup_objects


def test_startup_objects_are_frozen_out_of_the_collector_and_later_ones_are_not():
    before = gc.get_freeze_count()
    startup = [[] for _ in range(1000)]  # long-lived objects that exist when the process is ready
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() >= before + len(startup)
        later = []
        tracked = {id(o) for o in gc.get_objects()}  # what the collector still walks
        assert id(startup[0]) not in tracked and id(startup[-1]) not in tracked
        assert id(later) in tracked
    finally:
        gc.unfreeze()
