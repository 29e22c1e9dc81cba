"""The engine alone, in-process: bot turns per second for the demo assistant, NLU parse
latency, and how a turn's cost grows with the length of the conversation.

    python bench/engine_alone.py [--turns 300]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import ROOT, load_average, log, machine, percentile_ms, save  # noqa: E402
from bench.load_client import PHRASES  # noqa: E402 - the same chats as the hub benchmarks
from bot_engine import Assistant  # noqa: E402

LENGTHS = (10, 100, 1000)


def turns_per_second(assistant: Assistant, conversations: int, length: int = 10) -> float:
    """Fresh conversations of `length` turns each, back to back (the hub's usual load)."""
    started = time.perf_counter()
    for number in range(conversations):
        state = None
        for turn in range(length):
            result = assistant.handle(state, PHRASES[turn % len(PHRASES)], sender_id=f"b{number}")
            state = result.tracker_state
    return conversations * length / (time.perf_counter() - started)


def cost_at_length(assistant: Assistant, length: int, samples: int = 20) -> float:
    """Milliseconds for one more turn of a conversation that already has `length` turns."""
    state = None
    for turn in range(length):
        text = PHRASES[turn % len(PHRASES)]
        state = assistant.handle(state, text, sender_id="long").tracker_state
    timings = []
    for turn in range(samples):
        started = time.perf_counter()
        assistant.handle(state, PHRASES[turn % len(PHRASES)], sender_id="long")
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=40)
    args = parser.parse_args()
    run = machine()
    log("loading the demo assistant")
    assistant = Assistant.load(ROOT / "demo_assistant", model_dir=ROOT / ".models")
    assistant.handle(None, "hello", sender_id="warm")
    parse = []
    for number in range(600):
        started = time.perf_counter()
        assistant.parse(PHRASES[number % len(PHRASES)])
        parse.append(time.perf_counter() - started)
    log("bot turns per second (fresh 10-turn conversations)…")
    rate = turns_per_second(assistant, args.conversations)
    growth = {}
    for length in LENGTHS:
        log(f"one turn after {length} turns…")
        growth[length] = round(cost_at_length(assistant, length), 2)
    results = {
        "machine": run,
        "turns_per_second": round(rate, 1),
        "nlu_parse_p50_ms": percentile_ms(parse, 0.5),
        "nlu_parse_p99_ms": percentile_ms(parse, 0.99),
        "turn_ms_after_n_turns": growth,
        "load_after": load_average(),
    }
    print(
        f"engine: {results['turns_per_second']} turns/s; NLU parse p50 "
        f"{results['nlu_parse_p50_ms']} ms, p99 {results['nlu_parse_p99_ms']} ms; one turn after "
        + ", ".join(f"{n} turns {ms} ms" for n, ms in growth.items())
    )
    save("engine_alone", results)


if __name__ == "__main__":
    main()
