"""CLINC150 ("Full") with the paper's protocol, for the engine's NLU pipelines.

    python bench/nlu_clinc150.py [--dense] [--data ../shared/data/clinc150/data_full.json]

Threshold mode (Rasa's FallbackClassifier): train on `train`, choose the threshold that gives
the best accuracy on `val` + `oos_val` (out-of-scope as its own class), report in-scope
accuracy on `test` and out-of-scope recall on `oos_test` once. oos-train mode: `oos_train`
becomes an `out_of_scope` intent. Also: training time (first time, and again with the sentence
encodings cached), peak memory, parse latency p50/p99, a leakage check, and a chart of in-scope
accuracy against out-of-scope recall over thresholds (`docs/benchmarks/`).
"""

import argparse
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.threshold_chart import write_threshold_chart  # noqa: E402
from bot_engine.nlu import NLUPipeline, NLUTrainingData, TrainingExample  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "clinc150" / "data_full.json"
PIPELINE = [{"name": "WhitespaceTokenizer"}, {"name": "DIETClassifier"}]
# The optional dense featuriser (requirements-embeddings.txt) beside the default features.
DENSE_PIPELINE = [*PIPELINE, {"name": "LanguageModelFeaturizer"}]
THRESHOLDS = [step / 200 for step in range(200)]


def training_data(pairs) -> NLUTrainingData:
    return NLUTrainingData(examples=[TrainingExample(text, intent) for text, intent in pairs])


def train(pairs, label: str, config: list[dict], cache_dir: Path):
    print(f"[{label}] training on {len(pairs)} examples…", flush=True)
    started = time.perf_counter()

    def progress(step: str, fraction: float) -> None:
        print(f"  {time.perf_counter() - started:6.1f} s {fraction:4.0%} {step}", flush=True)

    pipeline = NLUPipeline.train(training_data(pairs), config, progress, cache_dir=cache_dir)
    seconds = time.perf_counter() - started
    print(f"  trained in {seconds:.1f} s {pipeline.training_report}", flush=True)
    return pipeline, seconds


def top(pipeline: NLUPipeline, texts: list[str]) -> list[tuple[str, float]]:
    """Best intent and confidence per text (batched: same numbers as parse, faster)."""
    dense = pipeline.encoder.encode(texts) if pipeline.encoder is not None else None
    probabilities = pipeline.classifier.probabilities(texts, dense)
    labels = pipeline.classifier.labels
    return [(labels[int(row.argmax())], float(row.max())) for row in probabilities]


def curve(scored_in, scored_oos) -> list[tuple[float, float, float]]:
    """(threshold, in-scope accuracy, out-of-scope recall) for every threshold."""
    points = []
    for threshold in THRESHOLDS:
        accuracy = sum(p == g and c >= threshold for p, c, g in scored_in) / len(scored_in)
        recall = sum(c < threshold for c in scored_oos) / len(scored_oos)
        points.append((threshold, accuracy, recall))
    return points


def best_threshold(points, n_in: int, n_oos: int) -> float:
    """The paper's choice: the best accuracy over val + oos_val with oos as its own class."""
    total = n_in + n_oos
    best = max(points, key=lambda p: ((p[1] * n_in + p[2] * n_oos) / total, -p[0]))
    print(f"  threshold {best[0]:.3f} (val in-scope {best[1]:.4f}, oos_val recall {best[2]:.3f})")
    return best[0]


def latency_ms(pipeline: NLUPipeline, texts: list[str]) -> tuple[float, float]:
    for text in texts[:20]:
        pipeline.parse(text)  # warm up (sessions, caches)
    samples = []
    for text in texts:
        started = time.perf_counter()
        pipeline.parse(text)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def subsample(data: dict, intents: int) -> dict:
    """The first `intents` intents and a matching share of each out-of-scope split."""
    kept = sorted({i for _, i in data["train"]})[:intents]
    share = intents / 150
    result = {s: [x for x in data[s] if x[1] in kept] for s in ("train", "val", "test")}
    for split in ("oos_train", "oos_val", "oos_test"):
        result[split] = data[split][: max(10, int(len(data[split]) * share))]
    return result


def leakage(data: dict) -> dict:
    """How many evaluation texts also occur (normalised) in the training splits."""

    def norm(text: str) -> str:
        return " ".join(text.lower().split())

    train = {norm(t) for split in ("train", "oos_train") for t, _ in data[split]}
    threshold_data = {norm(t) for split in ("val", "oos_val") for t, _ in data[split]}
    return {
        split: sum(norm(t) in train or norm(t) in threshold_data for t, _ in data[split])
        for split in ("test", "oos_test")
    }


def threshold_mode(data, config, cache_dir, val_only: bool = False):
    pairs = [tuple(x) for x in data["train"]]
    pipeline, first = train(pairs, "threshold", config, cache_dir)
    cached = None
    if pipeline.encoder is not None:
        _, cached = train(pairs, "threshold, encodings cached", config, cache_dir)
    val = [tuple(x) for x in data["val"]]
    val_in = [
        (p, c, g) for (p, c), (_, g) in zip(top(pipeline, [t for t, _ in val]), val, strict=True)
    ]
    val_oos = [c for _, c in top(pipeline, [t for t, _ in data["oos_val"]])]
    val_curve = curve(val_in, val_oos)
    threshold = best_threshold(val_curve, len(val_in), len(val_oos))
    if val_only:  # timing runs: training and latency only, the test splits stay unread
        return pipeline, {"threshold": threshold, "training_seconds": first, "cached": cached}
    test = [tuple(x) for x in data["test"]]
    test_in = [
        (p, c, g) for (p, c), (_, g) in zip(top(pipeline, [t for t, _ in test]), test, strict=True)
    ]
    test_oos = [c for _, c in top(pipeline, [t for t, _ in data["oos_test"]])]
    in_scope = sum(p == g and c >= threshold for p, c, g in test_in) / len(test_in)
    recall = sum(c < threshold for c in test_oos) / len(test_oos)
    return pipeline, {
        "threshold": threshold,
        "in_scope_accuracy": in_scope,
        "oos_recall": recall,
        "training_seconds": first,
        "cached_training_seconds": cached,
        "curves": {"val": val_curve, "test": curve(test_in, test_oos)},
    }


def oos_train_mode(data, config, cache_dir):
    pairs = [tuple(x) for x in data["train"]]
    pairs += [(t, "out_of_scope") for t, _ in data["oos_train"]]
    pipeline, seconds = train(pairs, "oos-train", config, cache_dir)
    test = [tuple(x) for x in data["test"]]
    predictions = top(pipeline, [t for t, _ in test])
    in_scope = sum(p == g for (p, _), (_, g) in zip(predictions, test, strict=True)) / len(test)
    oos = top(pipeline, [t for t, _ in data["oos_test"]])
    recall = sum(p == "out_of_scope" for p, _ in oos) / len(oos)
    return {"in_scope_accuracy": in_scope, "oos_recall": recall, "training_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--dense", action="store_true", help="add the dense featuriser")
    parser.add_argument("--chart", default=str(ROOT / "docs" / "benchmarks"))
    parser.add_argument(
        "--intents", type=int, default=0, help="explore on the first N intents only (quicker)"
    )
    parser.add_argument(
        "--val-only", action="store_true", help="timing only: training, val threshold, latency"
    )
    args = parser.parse_args()
    config = DENSE_PIPELINE if args.dense else PIPELINE
    name = "dense" if args.dense else "default"
    data = json.loads(Path(args.data).read_text())
    if args.intents:
        data = subsample(data, args.intents)
        args.chart = tempfile.mkdtemp()  # a subsample's chart is not the record
    print(f"leakage check (test texts also in train/val): {leakage(data)}", flush=True)
    with tempfile.TemporaryDirectory() as cache_dir:
        pipeline, threshold = threshold_mode(data, config, Path(cache_dir), args.val_only)
        p50, p99 = latency_ms(pipeline, [t for t, _ in data["val"][:2000]])
        backend = pipeline.encoder.backend if pipeline.encoder is not None else "-"
        if args.val_only:
            timing = {**threshold, "backend": backend, "parse_p50_ms": p50, "parse_p99_ms": p99}
            print(json.dumps(timing, indent=2))
            return
        del pipeline
        oos_train = oos_train_mode(data, config, Path(cache_dir))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    chart = Path(args.chart) / f"nlu_clinc150_{name}.svg"
    write_threshold_chart(chart, threshold.pop("curves"), threshold["threshold"], name)
    results = {
        "pipeline": name,
        "backend": backend,
        "threshold": threshold["threshold"],
        "threshold_in_scope_accuracy": round(100 * threshold["in_scope_accuracy"], 1),
        "threshold_oos_recall": round(100 * threshold["oos_recall"], 1),
        "oos_train_in_scope_accuracy": round(100 * oos_train["in_scope_accuracy"], 1),
        "oos_train_oos_recall": round(100 * oos_train["oos_recall"], 1),
        "training_seconds": round(threshold["training_seconds"], 1),
        "cached_training_seconds": threshold["cached_training_seconds"]
        and round(threshold["cached_training_seconds"], 1),
        "oos_training_seconds": round(oos_train["training_seconds"], 1),
        "peak_memory_mb": round(peak_mb),
        "parse_p50_ms": round(p50, 2),
        "parse_p99_ms": round(p99, 2),
        "python": platform.python_version(),
        "chart": str(chart.relative_to(ROOT)) if chart.is_relative_to(ROOT) else str(chart),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
