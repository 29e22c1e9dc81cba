"""Print the hub benchmarks' latest results (bench/results/*.json) as Markdown tables, for
docs/benchmarks.md:

    python bench/report.py
"""

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def mark(ok: bool) -> str:
    return "✔" if ok else "✘"


def bot_traffic(results: dict) -> list[str]:
    lines = [
        "| profile | echo msg/s | hub msg/s (100 sockets, full speed) | ratio | at 500 msg/s "
        "offered: served, reply p50 / p99 | 10 / 100 / 1,000 sockets: msg/s (reply p99) |",
        "|---|---|---|---|---|---|",
    ]
    for profile, figures in results["profiles"].items():
        at500 = figures["rates"]["500"]
        sizes = " / ".join(
            f"{s['messages_per_s']} ({s['reply_p99_ms']} ms)" for s in figures["sizes"].values()
        )
        lines.append(
            f"| {profile} | {figures['echo_max']['messages_per_s']} | "
            f"{figures['sizes']['100']['messages_per_s']} | {figures['ratio_to_echo']:.0%} | "
            f"{at500['messages_per_s']}, {at500['reply_p50_ms']} / {at500['reply_p99_ms']} ms | "
            f"{sizes} |"
        )
    lines += ["", "| offered msg/s | " + " | ".join(results["profiles"]) + " |"]
    lines.append("|---|" + "---|" * len(results["profiles"]))
    for rate in next(iter(results["profiles"].values()))["rates"]:
        cells = []
        for figures in results["profiles"].values():
            r = figures["rates"][rate]
            cells.append(
                f"{r['messages_per_s']} served, p50 {r['reply_p50_ms']}"
                f" / p99 {r['reply_p99_ms']} ms"
            )
        lines.append(f"| {rate} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    out: list[str] = []
    for name in ("engine_alone", "bot_traffic", "handoff_latency", "capacity", "scale_out"):
        results = load(name)
        if results is None:
            continue
        run = results["machine"]
        out += [
            f"### {name.replace('_', ' ')}",
            "",
            f"`{run['command']}` — {run['date']}, {run['cpu']} ({run['cores']} cores), load "
            f"before {run['load_before']}",
            "",
        ]
        if name == "bot_traffic":
            out += bot_traffic(results)
        else:
            out.append("```json")
            out.append(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1))
            out.append("```")
        out.append("")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
