"""Sentence-encoder speed: onnxruntime against numpy, in batches and one sentence at a time.

    python bench/encoder_speed.py [--texts 2000] [--data ../shared/data/clinc150/data_full.json]

Uses CLINC150 `train` texts (only their words; no labels are read).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot_engine.nlu.dense import (  # noqa: E402
    BACKENDS,
    SentenceEncoder,
    default_model_dir,
    onnxruntime_available,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "clinc150" / "data_full.json"


def measure(backend: str, texts: list[str]) -> dict:
    encoder = SentenceEncoder(default_model_dir(), backend=backend)
    encoder.encode(texts[:64])  # build sessions, warm caches
    started = time.perf_counter()
    encoder.encode(texts)
    batch_seconds = time.perf_counter() - started
    single = []
    for text in texts[:300]:
        started = time.perf_counter()
        encoder.encode([text])
        single.append((time.perf_counter() - started) * 1000)
    single.sort()
    return {
        "backend": backend,
        "texts": len(texts),
        "batch_seconds": round(batch_seconds, 2),
        "texts_per_second": round(len(texts) / batch_seconds),
        "single_p50_ms": round(statistics.median(single), 2),
        "single_p99_ms": round(single[int(len(single) * 0.99) - 1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--texts", type=int, default=2000)
    args = parser.parse_args()
    texts = [t for t, _ in json.loads(Path(args.data).read_text())["train"][: args.texts]]
    backends = BACKENDS if onnxruntime_available() else ["numpy"]
    for backend in backends:
        print(json.dumps(measure(backend, texts)), flush=True)


if __name__ == "__main__":
    main()
