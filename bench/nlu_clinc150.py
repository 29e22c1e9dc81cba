"""CLINC150 ("Full") with the paper's protocol, for the engine's default NLU pipeline.

    python bench/nlu_clinc150.py [--data ../shared/data/clinc150/data_full.json]

Threshold mode (Rasa's FallbackClassifier): train on `train`, choose the threshold that gives
the best accuracy on `val` + `oos_val` (out-of-scope as its own class), report in-scope
accuracy on `test` and out-of-scope recall on `oos_test`. oos-train mode: `oos_train` becomes
an `out_of_scope` intent. Also: training time, peak memory, parse latency p50/p99.
"""

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot_engine.nlu import NLUPipeline, NLUTrainingData, TrainingExample  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "clinc150" / "data_full.json"
PIPELINE = [{"name": "WhitespaceTokenizer"}, {"name": "DIETClassifier"}]
# The optional dense featuriser (requirements-embeddings.txt) on top of the default features.
DENSE_PIPELINE = [*PIPELINE, {"name": "LanguageModelFeaturizer"}]


def training_data(pairs) -> NLUTrainingData:
    return NLUTrainingData(examples=[TrainingExample(text, intent) for text, intent in pairs])


def train(pairs, label: str, pipeline_config: list[dict]) -> tuple[NLUPipeline, float]:
    print(f"[{label}] training on {len(pairs)} examples…", flush=True)
    started = time.perf_counter()

    def progress(step: str, fraction: float) -> None:
        print(f"  {fraction:4.0%} {step}", flush=True)

    pipeline = NLUPipeline.train(training_data(pairs), pipeline_config, progress=progress)
    return pipeline, time.perf_counter() - started


def top(pipeline: NLUPipeline, texts: list[str]) -> list[tuple[str, float]]:
    result = []
    for text in texts:
        best = pipeline.rank_intents(text)[0]
        result.append((best["name"], best["confidence"]))
    return result


def best_threshold(pipeline: NLUPipeline, val, oos_val) -> float:
    """The threshold with the best accuracy on val + oos_val (oos as its own class)."""
    scored = [
        (p, c, gold)
        for (p, c), (_, gold) in zip(top(pipeline, [t for t, _ in val]), val, strict=True)
    ]
    scored += [(p, c, "oos") for p, c in top(pipeline, [t for t, _ in oos_val])]
    best, best_accuracy = 0.0, -1.0
    for step in range(0, 100):
        threshold = step / 100
        correct = sum((("oos" if c < threshold else p) == gold) for p, c, gold in scored)
        if correct / len(scored) > best_accuracy:
            best, best_accuracy = threshold, correct / len(scored)
    print(f"  threshold {best:.2f} (val+oos_val accuracy {best_accuracy:.3f})", flush=True)
    return best


def latency_ms(pipeline: NLUPipeline, texts: list[str]) -> tuple[float, float]:
    samples = []
    for text in texts:
        started = time.perf_counter()
        pipeline.parse(text)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--dense", action="store_true", help="add the dense featuriser")
    args = parser.parse_args()
    config = DENSE_PIPELINE if args.dense else PIPELINE
    data = json.loads(Path(args.data).read_text())
    train_pairs = [tuple(x) for x in data["train"]]
    test = [tuple(x) for x in data["test"]]
    oos_test = [text for text, _ in data["oos_test"]]

    pipeline, seconds = train(train_pairs, "threshold", config)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    threshold = best_threshold(pipeline, [tuple(x) for x in data["val"]], data["oos_val"])
    predictions = top(pipeline, [t for t, _ in test])
    in_scope = sum(
        c >= threshold and p == g for (p, c), (_, g) in zip(predictions, test, strict=True)
    )
    oos_hits = sum(c < threshold for _, c in top(pipeline, oos_test))
    p50, p99 = latency_ms(pipeline, [t for t, _ in test[:2000]])

    oos_pipeline, oos_seconds = train(
        train_pairs + [(t, "out_of_scope") for t, _ in data["oos_train"]], "oos-train", config
    )
    oos_predictions = top(oos_pipeline, [t for t, _ in test])
    in_scope_train = sum(p == g for (p, _), (_, g) in zip(oos_predictions, test, strict=True))
    oos_train_hits = sum(p == "out_of_scope" for p, _ in top(oos_pipeline, oos_test))

    results = {
        "pipeline": "default + dense" if args.dense else "default",
        "threshold": threshold,
        "threshold_in_scope_accuracy": round(100 * in_scope / len(test), 1),
        "threshold_oos_recall": round(100 * oos_hits / len(oos_test), 1),
        "oos_train_in_scope_accuracy": round(100 * in_scope_train / len(test), 1),
        "oos_train_oos_recall": round(100 * oos_train_hits / len(oos_test), 1),
        "training_seconds": round(seconds, 1),
        "oos_training_seconds": round(oos_seconds, 1),
        "peak_memory_mb": round(peak_mb),
        "parse_p50_ms": round(p50, 2),
        "parse_p99_ms": round(p99, 2),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
