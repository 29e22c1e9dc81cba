"""Scale-out: 1 vs 2 hub processes behind nginx, sharing PostgreSQL and Redis.

    python bench/scale_out.py [--clients 200] [--duration 8]

The same client load at full speed through nginx to one, then two hub processes; the echo
consumer behind the same nginx shows what the proxy and the machine allow. Writes
bench/results/scale_out.json.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import echo, hub, load_average, log, machine, run_load, save  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=8)
    args = parser.parse_args()
    results = {"machine": machine(), "clients": args.clients, "hub": {}, "echo": {}}
    results["hub_threads"] = {}
    for workers in (1, 2):
        with echo(workers=workers, proxy=True) as server:
            log(f"--- echo, {workers} process(es) behind nginx")
            results["echo"][workers] = run_load(
                server.ws_url(), clients=args.clients, duration=args.duration
            )
            results["echo"][workers]["load"] = load_average()
        with hub("postgres", workers=workers, proxy=True) as server:
            log(f"--- hub, {workers} process(es) behind nginx")
            results["hub"][workers] = run_load(
                server.ws_url(), clients=args.clients, duration=args.duration
            )
            results["hub"][workers]["load"] = load_average()
        # The engine in each hub process's own threads: one process is one core at most.
        with hub("postgres", workers=workers, proxy=True, engine_processes=0) as server:
            log(f"--- hub with the engine in its threads, {workers} process(es) behind nginx")
            results["hub_threads"][workers] = run_load(
                server.ws_url(), clients=args.clients, duration=args.duration
            )
            results["hub_threads"][workers]["load"] = load_average()
        log(
            f"    hub {results['hub'][workers]['messages_per_s']} msg/s, "
            f"echo {results['echo'][workers]['messages_per_s']} msg/s"
        )
    for name in ("hub", "hub_threads", "echo"):
        one, two = results[name][1]["messages_per_s"], results[name][2]["messages_per_s"]
        results[f"{name}_speedup"] = round(two / one, 2) if one else None
    save("scale_out", results)
    print(
        f"hub: 1 process {results['hub'][1]['messages_per_s']} msg/s, 2 processes "
        f"{results['hub'][2]['messages_per_s']} msg/s = {results['hub_speedup']}x; engine in "
        f"threads {results['hub_threads'][1]['messages_per_s']} → "
        f"{results['hub_threads'][2]['messages_per_s']} = {results['hub_threads_speedup']}x; echo "
        f"{results['echo'][1]['messages_per_s']} → {results['echo'][2]['messages_per_s']} "
        f"= {results['echo_speedup']}x"
    )


if __name__ == "__main__":
    main()
