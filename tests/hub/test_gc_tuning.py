"""The hub worker's garbage-collection tuning (handoff_hub.gc_tuning)."""

import subprocess
import sys
from pathlib import Path

# Run in a fresh interpreter: a freeze cannot be undone for only the objects it froze, and
# the test process must not keep its own objects out of the collector.
CHECK = """
import gc
from handoff_hub.gc_tuning import YOUNG_THRESHOLD, tune_for_serving

assert gc.get_threshold()[0] < YOUNG_THRESHOLD  # CPython's default young generation

before = gc.get_freeze_count()
startup = [[] for _ in range(1000)]  # long-lived objects that exist when the process is ready
tune_for_serving()
assert gc.get_freeze_count() >= before + len(startup)
later = []
tracked = {id(o) for o in gc.get_objects()}  # what the collector still walks
assert id(startup[0]) not in tracked and id(startup[-1]) not in tracked
assert id(later) in tracked
assert gc.get_threshold()[0] == YOUNG_THRESHOLD
# In-flight objects (a burst of them, alive together) die before a young collection
# promotes them: short-lived cycles no longer reach the old generations.
collections = []
gc.callbacks.append(lambda phase, info: phase == "stop" and collections.append(info))
burst = [[None] for _ in range(YOUNG_THRESHOLD // 2)]
del burst
assert collections == [], collections
print("checked")
"""


def test_startup_objects_are_frozen_and_the_young_generation_holds_a_burst_of_messages():
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "checked"
