"""Bot traffic: customer WebSockets talking to the demo assistant through one hub process.

    python bench/bot_traffic.py [--profile postgres|sqlite|both] [--duration 8]

For each profile, in one run: the bare Channels echo consumer at full speed (the ceiling),
then the hub at several offered rates (latency vs load), then at full speed with 10 / 100 /
1,000 sockets (how the cost grows), then 100-turn chats at 500 msg/s (reply latency of turns
1-10 … 91-100: how a turn's cost grows with its chat), then with the engine in the hub's
threads instead of an engine process (full speed and 100 msg/s). Except in the long chats,
every chat is 10 messages long, then the socket starts a new one. Writes
bench/results/bot_traffic.json, docs/benchmarks/bot-latency.svg and chat-length.svg.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.charts import line_chart  # noqa: E402
from bench.harness import ROOT, echo, hub, load_average, log, machine, run_load, save  # noqa: E402

RATES = (50, 100, 200, 300, 500)
SIZES = (10, 100, 1000)
LONG_CHAT = 100  # turns (each socket sends 5 a second at 500 msg/s)


def measure(url: str, label: str, **options) -> dict:
    log(f"--- {label}")
    result = run_load(url, **options)
    result["load"] = load_average()
    log(
        f"    {result['messages_per_s']} msg/s, reply p50 {result['reply_p50_ms']} ms, "
        f"p99 {result['reply_p99_ms']} ms, ack p99 {result['ack_p99_ms']} ms"
        f" (load {result['load']})"
    )
    return result


def run_profile(profile: str, duration: float) -> dict:
    with echo() as ceiling:
        echo_max = measure(
            ceiling.ws_url(), "echo, 100 sockets, full speed", clients=100, duration=duration
        )
        echo_500 = measure(
            ceiling.ws_url(),
            "echo, 100 sockets, 500 msg/s",
            clients=100,
            rate=500,
            duration=duration,
        )
    figures: dict = {"echo_max": echo_max, "echo_500": echo_500, "rates": {}, "sizes": {}}
    with hub(profile) as server:
        url = server.ws_url()
        for rate in RATES:
            figures["rates"][rate] = measure(
                url,
                f"hub {profile}, 100 sockets, {rate} msg/s",
                clients=100,
                rate=rate,
                duration=duration,
            )
        for size in SIZES:
            figures["sizes"][size] = measure(
                url,
                f"hub {profile}, {size} sockets, full speed",
                clients=size,
                duration=duration,
                connect_rate=500,
            )
        # Chats that never restart: does a turn cost more as its chat grows?
        figures["long_chats"] = measure(
            url,
            f"hub {profile}, 100 sockets, 500 msg/s, one chat of {LONG_CHAT} turns each",
            clients=100,
            rate=500,
            duration=LONG_CHAT / 5,
            turns_per_chat=0,
        )
        for turns, figure in figures["long_chats"]["reply_by_turn_in_chat"].items():
            log(f"    turns {turns}: reply p50 {figure['p50_ms']} ms, p99 {figure['p99_ms']} ms")
    # The same hub with the engine in its own threads (HUB_ENGINE_PROCESSES=0).
    with hub(profile, engine_processes=0) as server:
        figures["threads"] = {
            "max": measure(
                server.ws_url(),
                f"hub {profile}, engine in threads, 100 sockets, full speed",
                clients=100,
                duration=duration,
            ),
            "rate_100": measure(
                server.ws_url(),
                f"hub {profile}, engine in threads, 100 sockets, 100 msg/s",
                clients=100,
                rate=100,
                duration=duration,
            ),
        }
    hub_max = figures["sizes"][100]["messages_per_s"]
    figures["ratio_to_echo"] = round(hub_max / echo_max["messages_per_s"], 3)
    threads_max = figures["threads"]["max"]["messages_per_s"]
    figures["threads_ratio_to_echo"] = round(threads_max / echo_max["messages_per_s"], 3)
    return figures


def chart(results: dict) -> None:
    series = {}
    for profile, figures in results["profiles"].items():
        rates = figures["rates"]
        series[f"{profile} p99"] = [(r, rates[r]["reply_p99_ms"]) for r in RATES]
        series[f"{profile} p50"] = [(r, rates[r]["reply_p50_ms"]) for r in RATES]
    by_turn = {}
    for profile, figures in results["profiles"].items():
        tens = figures.get("long_chats", {}).get("reply_by_turn_in_chat", {})
        # Plotted at each ten's last turn (10, 20, …, 100).
        by_turn[f"{profile} p50"] = [(int(t.split("-")[1]), f["p50_ms"]) for t, f in tens.items()]
    if any(by_turn.values()):
        line_chart(
            ROOT / "docs" / "benchmarks" / "chat-length.svg",
            f"Reply latency by turn of a {LONG_CHAT}-turn chat (500 msg/s, 100 sockets)",
            "turn of the chat (each ten)",
            "reply p50 (ms)",
            by_turn,
        )
    line_chart(
        ROOT / "docs" / "benchmarks" / "bot-latency.svg",
        "Bot reply latency vs offered load (one hub process, 100 sockets)",
        "offered messages/s",
        "reply latency (ms)",
        series,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="both", choices=["postgres", "sqlite", "both"])
    parser.add_argument("--duration", type=float, default=8)
    args = parser.parse_args()
    profiles = ["postgres", "sqlite"] if args.profile == "both" else [args.profile]
    results = {"machine": machine(), "profiles": {}}
    for profile in profiles:
        results["profiles"][profile] = run_profile(profile, args.duration)
    results["load_after"] = load_average()
    save("bot_traffic", results)
    chart(results)
    for profile, figures in results["profiles"].items():
        best = figures["sizes"][100]
        at500 = figures["rates"][500]
        print(
            f"{profile}: {best['messages_per_s']} msg/s at full speed = "
            f"{figures['ratio_to_echo']:.0%} of echo ({figures['echo_max']['messages_per_s']}); "
            f"at 500 msg/s offered: {at500['messages_per_s']} msg/s, "
            f"p99 {at500['reply_p99_ms']} ms; engine in threads: "
            f"{figures['threads']['max']['messages_per_s']} msg/s = "
            f"{figures['threads_ratio_to_echo']:.0%} of echo"
        )


if __name__ == "__main__":
    main()
