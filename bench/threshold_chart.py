"""An SVG chart: in-scope accuracy against out-of-scope recall as the fallback threshold moves."""

from pathlib import Path
from xml.sax.saxutils import escape

WIDTH, HEIGHT, MARGIN = 640, 420, 56
# The targets for threshold mode.
TARGET_ACCURACY, TARGET_RECALL = 0.935, 0.50
COLOURS = {"val": "#1f77b4", "test": "#d62728"}


def write_threshold_chart(path: Path, curves: dict, chosen: float, pipeline: str) -> None:
    """One line per split; the dot marks the threshold chosen on val + oos_val."""
    x_low, x_high, y_low, y_high = 0.0, 1.0, 0.80, 1.0

    def x(recall: float) -> float:
        return MARGIN + (recall - x_low) / (x_high - x_low) * (WIDTH - 2 * MARGIN)

    def y(accuracy: float) -> float:
        accuracy = min(max(accuracy, y_low), y_high)
        return HEIGHT - MARGIN - (accuracy - y_low) / (y_high - y_low) * (HEIGHT - 2 * MARGIN)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">'
        f"CLINC150, {escape(pipeline)} pipeline: in-scope accuracy vs out-of-scope recall</text>",
    ]
    parts += _axes(x, y)
    parts.append(
        f'<line x1="{x(TARGET_RECALL)}" y1="{y(y_low)}" x2="{x(TARGET_RECALL)}" '
        f'y2="{y(y_high)}" stroke="#999" stroke-dasharray="4 4"/>'
    )
    parts.append(
        f'<line x1="{x(0)}" y1="{y(TARGET_ACCURACY)}" x2="{x(1)}" y2="{y(TARGET_ACCURACY)}" '
        f'stroke="#999" stroke-dasharray="4 4"/>'
    )
    parts.append(
        f'<text x="{x(TARGET_RECALL) + 4}" y="{y(y_high) + 12}" fill="#666">targets</text>'
    )
    for index, (split, points) in enumerate(curves.items()):
        colour = COLOURS.get(split, "#333")
        line = " ".join(f"{x(r):.1f},{y(a):.1f}" for _, a, r in points)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        marked = min(points, key=lambda p: abs(p[0] - chosen))
        parts.append(
            f'<circle cx="{x(marked[2]):.1f}" cy="{y(marked[1]):.1f}" r="5" fill="{colour}"/>'
        )
        label = f"{split}: threshold {chosen:.3f} → {marked[1]:.1%} / {marked[2]:.1%}"
        parts.append(
            f'<text x="{MARGIN + 10}" y="{HEIGHT - MARGIN - 40 + 16 * index}" '
            f'fill="{colour}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")


def _axes(x, y) -> list[str]:
    parts = [
        f'<line x1="{x(0)}" y1="{y(0.8)}" x2="{x(1)}" y2="{y(0.8)}" stroke="black"/>',
        f'<line x1="{x(0)}" y1="{y(0.8)}" x2="{x(0)}" y2="{y(1.0)}" stroke="black"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 16}" text-anchor="middle">'
        "out-of-scope recall (oos_val / oos_test)</text>",
        f'<text x="16" y="{HEIGHT / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {HEIGHT / 2})">in-scope accuracy (val / test)</text>',
    ]
    for tick in range(0, 11, 2):
        value = tick / 10
        parts.append(
            f'<text x="{x(value)}" y="{y(0.8) + 16}" text-anchor="middle">{value:.0%}</text>'
        )
    for tick in range(80, 101, 5):
        value = tick / 100
        parts.append(
            f'<text x="{x(0) - 6}" y="{y(value) + 4}" text-anchor="end">{value:.0%}</text>'
        )
    return parts
