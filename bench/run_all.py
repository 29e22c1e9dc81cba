"""Every hub benchmark in turn (`make bench`); each prints progress and its figures.

    python bench/run_all.py [--quick]

Results: bench/results/*.json and the charts in docs/benchmarks/. The NLU benchmark
(bench/nlu_clinc150.py) needs the CLINC150 data and runs on its own.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = [
    ["bench/engine_alone.py"],
    ["bench/bot_traffic.py"],
    ["bench/handoff_latency.py"],
    ["bench/capacity.py"],
    ["bench/scale_out.py"],
]
QUICK = {
    "bench/bot_traffic.py": ["--profile", "postgres", "--duration", "4"],
    "bench/handoff_latency.py": ["--handoffs", "15"],
    "bench/capacity.py": ["--sizes", "100,1000"],
    "bench/scale_out.py": ["--duration", "4"],
}


def main() -> int:
    quick = "--quick" in sys.argv
    failed = []
    for command in BENCHMARKS:
        extra = QUICK.get(command[0], []) if quick else []
        print(f"\n=== {' '.join(command + extra)}", flush=True)
        if subprocess.call([sys.executable, *command, *extra], cwd=ROOT) != 0:
            failed.append(command[0])
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
