"""Server-side SVG charts for the analytics page (no JavaScript, no CDN).

Every label passes through `escape` (queue names, intents and agent names are user data), and
each bar carries a <title> so hovering shows its exact figure.
"""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 240
HALF = 460  # charts shown two to a row keep readable text when scaled down
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 44, 16, 36
BAR = "#0969da"
LINE = "#cf222e"
AXIS = "#57606a"


def _svg(body: list[str], label: str, height: int = HEIGHT, width: int = WIDTH) -> SafeString:
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - every part escaped


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 11, fill=AXIS):
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{fill}">{escape(text)}</text>'
    )


def _bar(x: float, y: float, width: float, height: float, title: str, color: str = BAR) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0.5):.1f}" '
        f'height="{max(height, 0.5):.1f}" fill="{color}"><title>{escape(title)}</title></rect>'
    )


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return step
    return value


def column_chart(
    rows: list[tuple[str, float]], label: str, unit: str = "", width: int = WIDTH
) -> SafeString:
    """Vertical bars, one per (label, value)."""
    top = _nice_max(max((v for _, v in rows), default=0))
    inner_w, inner_h = width - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = inner_w / max(1, len(rows))
    body = _axis(top, inner_h, unit, width)
    every = max(1, len(rows) // 12)  # keep labels readable on long ranges
    for index, (name, value) in enumerate(rows):
        height = inner_h * value / top
        x = PAD_LEFT + index * step
        body.append(
            _bar(
                x + step * 0.15, PAD_TOP + inner_h - height, step * 0.7, height, f"{name}: {value}"
            )
        )
        if index % every == 0:
            body.append(_text(x + step / 2, HEIGHT - PAD_BOTTOM + 16, name, size=10))
    return _svg(body, label, width=width)


def _axis(top: float, inner_h: float, unit: str, width: int = WIDTH) -> list[str]:
    body = []
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + inner_h * (1 - fraction)
        body.append(
            f'<line x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#d0d7de" stroke-width="1"/>'
        )
        value = top * fraction
        shown = f"{value:g}{unit}"
        body.append(_text(PAD_LEFT - 6, y + 4, shown, anchor="end", size=10))
    return body


def daily_chart(per_day: list[dict]) -> SafeString:
    """Conversations per day as bars, the handoff rate as a line on a 0–100 % right axis."""
    rows = [(day["date"][5:], day["conversations"]) for day in per_day]
    top = _nice_max(max((v for _, v in rows), default=0))
    inner_w, inner_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = inner_w / max(1, len(rows))
    body = _axis(top, inner_h, "")
    points = []
    every = max(1, len(rows) // 10)
    for index, day in enumerate(per_day):
        x = PAD_LEFT + index * step
        height = inner_h * day["conversations"] / top
        rate = day["handoff_rate"]
        title = f"{day['date']}: {day['conversations']} conversations, {_percent(rate)} handed off"
        body.append(_bar(x + step * 0.15, PAD_TOP + inner_h - height, step * 0.7, height, title))
        if rate is not None:
            points.append(f"{x + step / 2:.1f},{PAD_TOP + inner_h * (1 - rate):.1f}")
        if index % every == 0:
            body.append(_text(x + step / 2, HEIGHT - PAD_BOTTOM + 16, day["date"][5:], size=10))
    if points:
        body.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE}" stroke-width="2"/>'
        )
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + inner_h * (1 - fraction) + 4
        body.append(_text(WIDTH - PAD_RIGHT + 6, y, f"{fraction:.0%}", anchor="start", fill=LINE))
    return _svg(body, "Conversations per day and the share handed off")


def bar_list(
    rows: list[tuple[str, float]], label: str, color: str = BAR, width: int = HALF
) -> SafeString:
    """Horizontal bars with their names on the left (reasons, intents)."""
    row_h, name_w = 26, 200
    height = max(1, len(rows)) * row_h + 8
    top = max((v for _, v in rows), default=0) or 1
    inner_w = width - name_w - 50
    body = []
    for index, (name, value) in enumerate(rows):
        y = 4 + index * row_h
        body.append(_text(name_w - 8, y + 17, name, anchor="end", size=12, fill="#24292f"))
        bar_w = inner_w * value / top
        body.append(_bar(name_w, y + 4, bar_w, row_h - 8, f"{name}: {value}", color))
        body.append(_text(name_w + bar_w + 6, y + 17, f"{value:g}", anchor="start", size=12))
    if not rows:
        body.append(_text(width / 2, 20, "Nothing in this period", size=12))
    return _svg(body, label, height, width)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def report_charts(report: dict) -> dict[str, SafeString]:
    """Every chart of the analytics page, drawn from one report."""
    ratings = report["summary"]["ratings"]["distribution"]
    return {
        "daily": daily_chart(report["per_day"]),
        "reasons": bar_list(
            [(r["label"], r["count"]) for r in report["handoffs_by_reason"]], "Handoffs by reason"
        ),
        "intents": bar_list(
            [(i["intent"], i["count"]) for i in report["top_intents_before_handoff"]],
            "Top intents before handoff",
            "#8250df",
        ),
        "waits": column_chart(
            [(b["bucket"], b["count"]) for b in report["wait_distribution"]],
            "How long customers waited for an agent",
            width=HALF,
        ),
        "ratings": column_chart(
            [(f"{r['score']} ★", r["count"]) for r in ratings], "Satisfaction ratings", width=HALF
        ),
    }
