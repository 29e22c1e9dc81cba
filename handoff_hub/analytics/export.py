"""The analytics report as CSV: one figure per row (section, key, metric, value), so the same
file pivots in any spreadsheet and diffs cleanly between periods."""

import csv
import io

HEADER = ("section", "key", "metric", "value")
# A cell starting like a formula would run in a spreadsheet (CSV injection): quote it.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DURATIONS = ("wait", "first_response", "handle", "resolution")


def _safe(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if isinstance(value, str) and text.startswith(FORMULA_START) else text


def _duration_rows(section: str, key: str, name: str, summary: dict):
    for measure in ("p50", "p90", "average"):
        yield section, key, f"{name}_{measure}_seconds", summary[measure]
    yield section, key, f"{name}_count", summary["count"]


def report_rows(report: dict):
    """Every figure of the report as (section, key, metric, value)."""
    summary = report["summary"]
    for metric, value in summary.items():
        if metric in DURATIONS:
            yield from _duration_rows("summary", "", metric, value)
        elif metric != "ratings":
            yield "summary", "", metric, value
    ratings = summary["ratings"]
    yield "summary", "", "rating_average", ratings["average"]
    yield "summary", "", "rating_count", ratings["count"]
    for row in ratings["distribution"]:
        yield "ratings", str(row["score"]), "conversations", row["count"]
    for row in report["handoffs_by_reason"]:
        yield "handoffs_by_reason", row["reason"], "handoffs", row["count"]
    for row in report["top_intents_before_handoff"]:
        yield "top_intents_before_handoff", row["intent"], "handoffs", row["count"]
    for row in report["wait_distribution"]:
        yield "wait_distribution", row["bucket"], "tickets", row["count"]
    for row in report["per_day"]:
        for metric in ("conversations", "handed_off", "contained", "handoff_rate"):
            yield "per_day", row["date"], metric, row[metric]
    yield from _group_rows("by_queue", "queue", report["by_queue"])
    yield from _group_rows("by_agent", "agent", report["by_agent"])
    yield from _group_rows("by_version", "version", report["by_version"])


def _group_rows(section: str, name_key: str, groups: list[dict]):
    for group in groups:
        key = group[name_key]
        for metric, value in group.items():
            if metric == name_key or metric.endswith("_id"):
                continue
            if isinstance(value, dict):
                yield from _duration_rows(section, key, metric, value)
            else:
                yield section, key, metric, value


def report_csv(report: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for row in report_rows(report):
        writer.writerow([_safe(cell) for cell in row])
    return buffer.getvalue()
