"""Small statistics over durations: percentiles, summaries, a histogram of waits."""

import math
from collections.abc import Iterable

# Upper bounds (seconds) of the wait-time histogram's buckets; the last is open-ended.
WAIT_BUCKETS = [
    (30, "< 30 s"),
    (60, "30–60 s"),
    (120, "1–2 min"),
    (300, "2–5 min"),
    (600, "5–10 min"),
    (1800, "10–30 min"),
    (math.inf, "≥ 30 min"),
]


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default); None if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def duration_summary(values: list[float]) -> dict:
    """{"count", "p50", "p90", "average"} in seconds (None when there is nothing to measure)."""
    return {
        "count": len(values),
        "p50": _rounded(percentile(values, 0.5)),
        "p90": _rounded(percentile(values, 0.9)),
        "average": _rounded(sum(values) / len(values)) if values else None,
    }


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def wait_histogram(waits: list[float]) -> list[dict]:
    counts = [0] * len(WAIT_BUCKETS)
    for wait in waits:
        index = next(i for i, (bound, _label) in enumerate(WAIT_BUCKETS) if wait < bound)
        counts[index] += 1
    labels = [label for _bound, label in WAIT_BUCKETS]
    return [{"bucket": label, "count": n} for label, n in zip(labels, counts, strict=True)]


def rating_summary(ratings: list[int]) -> dict:
    return {
        "count": len(ratings),
        "average": round(sum(ratings) / len(ratings), 2) if ratings else None,
        "distribution": [{"score": s, "count": ratings.count(s)} for s in range(1, 6)],
    }
