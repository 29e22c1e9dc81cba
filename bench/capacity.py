"""Capacity: idle customer sockets one hub process holds, and memory per socket.

    python bench/capacity.py [--sizes 100,1000,5000]

For each size, in one run: the bare echo consumer and the hub (PostgreSQL + Redis) each hold
that many idle widget sockets (each said hello: a conversation and a live subscription); we
read the server's resident memory before and after, and check that one more customer still
gets answers while they are held. Writes bench/results/capacity.json and
docs/benchmarks/capacity-memory.svg.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.charts import line_chart  # noqa: E402
from bench.harness import ROOT, echo, hub, load_average, log, machine, rss_mb, run_load, save  # noqa: E402


def hold(url: str, sockets: int, seconds: float = 600) -> subprocess.Popen:
    """Start a client process holding `sockets` idle sockets; returns once all are up."""
    client = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.load_client",
            "--url",
            url,
            "--clients",
            str(sockets),
            "--idle",
            "--duration",
            str(seconds),
            "--connect-rate",
            "400",
            "--warmup",
            "0",
            "--warmup-timeout",
            "300",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    for line in client.stderr:
        if f"warmed={sockets} " in line:
            return client
        if time.monotonic() > deadline:
            break
    client.kill()
    raise RuntimeError(f"could not open {sockets} sockets within 300 s")


def measure(server, sockets: int) -> dict:
    pid = server.processes[0].process.pid
    before = rss_mb(pid)
    client = hold(server.ws_url(), sockets)
    try:
        time.sleep(2)
        after = rss_mb(pid)
        probe = run_load(server.ws_url(), clients=1, rate=5, duration=4, warmup=1)
    finally:
        client.terminate()
        client.wait(10)
    return {
        "sockets": sockets,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "kb_per_socket": round((after - before) * 1024 / sockets, 1),
        "probe_reply_p50_ms": probe["reply_p50_ms"],
        "probe_reply_p99_ms": probe["reply_p99_ms"],
        "load": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,5000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results = {"machine": machine(), "echo": {}, "hub": {}}
    for size in sizes:
        with echo() as server:
            log(f"--- echo holding {size} sockets")
            results["echo"][size] = measure(server, size)
            log(f"    {results['echo'][size]}")
        with hub("postgres") as server:
            log(f"--- hub holding {size} sockets")
            try:
                results["hub"][size] = measure(server, size)
            except RuntimeError as error:  # reported as a figure, not a crash
                results["hub"][size] = {"sockets": size, "failed": str(error)}
            log(f"    {results['hub'][size]}")
    save("capacity", results)
    for size, figures in results["hub"].items():
        if "failed" in figures:
            print(f"{size} sockets: hub FAILED: {figures['failed']}")
    sizes = [s for s in sizes if "failed" not in results["hub"][s]]
    line_chart(
        ROOT / "docs" / "benchmarks" / "capacity-memory.svg",
        "Resident memory of one process holding idle sockets",
        "idle customer sockets",
        "MiB",
        {
            "hub": [(s, results["hub"][s]["rss_after_mb"]) for s in sizes],
            "echo": [(s, results["echo"][s]["rss_after_mb"]) for s in sizes],
        },
        log_x=True,
    )
    for size in sizes:
        h, e = results["hub"][size], results["echo"][size]
        print(
            f"{size} sockets: hub {h['rss_after_mb']} MiB ({h['kb_per_socket']} KiB/socket, "
            f"probe reply p50 {h['probe_reply_p50_ms']} ms), echo {e['rss_after_mb']} MiB "
            f"({e['kb_per_socket']} KiB/socket)"
        )


if __name__ == "__main__":
    main()
