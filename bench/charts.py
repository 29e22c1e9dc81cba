"""Small dependency-free SVG line charts for the benchmark results (docs/benchmarks/)."""

from html import escape
from pathlib import Path

COLOURS = ["#1a7f37", "#0969da", "#cf222e", "#8250df", "#bf8700", "#57606a"]
WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 50


def _ticks(high: float, count: int = 5) -> list[float]:
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    for step in (1, 2, 2.5, 5, 10):
        if raw <= step * magnitude:
            size = step * magnitude
            break
    return [size * n for n in range(int(high / size) + 2)]


def line_chart(
    path: Path,
    title: str,
    x_label: str,
    y_label: str,
    series: dict[str, list[tuple[float, float]]],
    log_x: bool = False,
) -> Path:
    """Write one chart: each series a named list of (x, y) points."""
    import math

    points = [p for values in series.values() for p in values if p[1] is not None]
    xs = [math.log10(x) if log_x else x for x, _ in points]
    x_low, x_high = min(xs), max(xs)
    y_ticks = _ticks(max(y for _, y in points) * 1.05)
    y_high = y_ticks[-1]
    span_x = (x_high - x_low) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        value = math.log10(x) if log_x else x
        return LEFT + (value - x_low) / span_x * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - y / y_high * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    for tick in y_ticks:
        y = sy(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for x in sorted({p[0] for p in points}):
        parts.append(
            f'<text x="{sx(x):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{x:g}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 10}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    parts.append(
        f'<text transform="translate(16 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        shown = [(x, y) for x, y in values if y is not None]
        path_points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in shown)
        parts.append(
            f'<polyline points="{path_points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        for x, y in shown:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>')
        legend_y = TOP + 14 + index * 18
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 12}" y="{legend_y - 9}" width="12" height="3" '
            f'fill="{colour}"/><text x="{WIDTH - RIGHT + 30}" y="{legend_y - 4}">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")
    return path
