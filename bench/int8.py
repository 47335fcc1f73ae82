"""int8 against fp32 on an IMDB MiniLM: accuracy change and CPU speed-up of the ONNX copy, and how well the
int8 trial's stand-in (torch's dynamic quantisation, scored at each check) agrees with the ONNX int8 copy.

One run: train a classifier on the packaged all-MiniLM-L6-v2 (mean pooling, head+tail; boost by default:
the head on the frozen encoder's features, which a loaded 2-core CPU affords; --finetune trains the encoder
too) with precision int8 on a seeded slice of IMDB train, write its ONNX copy, quantise it
(bertclf.int8_copy.check_int8: both copies scored on valid in onnxruntime), score both on a slice of IMDB
test, score the stand-in (the whole model, encoder included, quantised by torch) on valid, then time the
copies on real test reviews: batch 1 (median and p95 per review) and batch 64 (reviews/s), fp32 and int8
interleaved (one call each in turn), so that a load shared with other processes falls on both alike.
Prints one JSON object; --out writes it as int8.json.

  python bench/int8.py --data DATA_DIR --train-samples 400 --valid-samples 200 --test-samples 300 \
      --max-length 64 --timed 100 --out bench/results/int8
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bertclf.config import TrainConfig  # noqa: E402
from bertclf.inputs import prepare_inputs  # noqa: E402
from bertclf.int8_copy import INT8_PATH, check_int8, onnx_metric  # noqa: E402
from bertclf.models.encoders import resolve_model  # noqa: E402
from bertclf.portable import ONNX_PATH, write_portable  # noqa: E402
from bertclf.predict import test_inputs  # noqa: E402
from bertclf.train import train  # noqa: E402

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def fine_tune(args, folder: Path):
    mode = {} if args.finetune else {"bert_finetuning": False, "boost": True}
    config = TrainConfig(train_path=str(Path(args.data) / "imdb_train.csv.gz"), bert_name=resolve_model(MINILM)[0],
                         pooling="mean", truncation="head+tail", max_length=args.max_length,
                         n_epochs=1 if args.finetune else 20, lr_main=1e-4, lr=1e-3, batch_size=16,
                         max_train_samples=args.train_samples, **mode,
                         max_valid_samples=args.valid_samples, precision="int8", save_path=str(folder),
                         run_name="minilm", cache_dir=str(folder / "cache"), progress=False, seed=0)
    started = time.perf_counter()
    result = train(config)
    return config, result, time.perf_counter() - started


def stand_in_metric(run_dir: Path, inputs) -> float:
    """valid_accuracy of the saved model, encoder and all, quantised by torch (quantize.dynamic_int8)."""
    from bertclf.batching import text_batches, token_inputs
    from bertclf.inference import run_batches
    from bertclf.predict import load_model
    from bertclf.quantize import dynamic_int8
    from bertclf.tasks.classification.eval import evaluate
    model = dynamic_int8(load_model(run_dir)[0])
    tokens = inputs.tokens["valid"]

    def run(batches):
        feeds = (token_inputs(tokens, inputs.pad_id, 1, b) for b in batches)
        for indices, _, logits in run_batches(model, batches, feeds, device="cpu", bf16=False):
            yield indices, logits.float()
    return float(evaluate(tokens, inputs.labels["valid"], len(inputs.label_names), 64, run, 0, 1,
                          lambda values: values)["valid_accuracy"])


def timings(sessions: dict, feeds: list, rounds: int) -> dict:
    """{name: seconds of each call}: every feed run by each session in turn, `rounds` times."""
    seconds = {name: [] for name in sessions}
    for _ in range(rounds):
        for feed in feeds:
            for name, session in sessions.items():
                begun = time.perf_counter()
                session.run(None, feed)
                seconds[name].append(time.perf_counter() - begun)
    return seconds


def speed(run_dir: Path, texts: list, threads: int, max_length: int) -> dict:
    import onnxruntime
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "onnx")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    sessions = {name: onnxruntime.InferenceSession(str(run_dir / path), options, providers=["CPUExecutionProvider"])
                for name, path in (("fp32", ONNX_PATH), ("int8", INT8_PATH))}
    names = [i.name for i in sessions["fp32"].get_inputs()]

    def feed(batch):
        encoded = tokenizer(batch, truncation=True, max_length=max_length, padding=True, return_tensors="np")
        return {n: encoded[n] for n in names}
    singles = [feed([t]) for t in texts]
    timings(sessions, singles[:10], 1)  # warm-up
    one = timings(sessions, singles, 1)
    batches = [feed(texts[i:i + 64]) for i in range(0, len(texts) - 63, 64)]
    many = timings(sessions, batches, 2)
    out = {}
    for name in sessions:
        ms = sorted(1000 * s for s in one[name])
        out[name] = {"batch1_median_ms": statistics.median(ms), "batch1_p95_ms": ms[int(0.95 * (len(ms) - 1))],
                     "batch64_reviews_per_s": 64 * len(many[name]) / sum(many[name])}
    out["speedup_batch1_median"] = out["fp32"]["batch1_median_ms"] / out["int8"]["batch1_median_ms"]
    out["speedup_batch64"] = out["int8"]["batch64_reviews_per_s"] / out["fp32"]["batch64_reviews_per_s"]
    return out


def hardware() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    return {"cpu": model, "cores": os.cpu_count(), "load_average_at_end": os.getloadavg(),
            "note": "a 2-core machine shared with other jobs running at the same time: fp32 and int8 are timed "
                    "interleaved, so the load falls on both alike; absolute times vary with it"}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the folder of imdb_train.csv.gz and imdb_test.csv.gz")
    parser.add_argument("--train-samples", type=int, default=400)
    parser.add_argument("--valid-samples", type=int, default=200)
    parser.add_argument("--test-samples", type=int, default=300)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--timed", type=int, default=100, help="test reviews timed at batch 1 (and in batches of 64)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime's intra-op threads")
    parser.add_argument("--finetune", action="store_true", help="fine-tune the encoder (1 epoch) instead of boost")
    parser.add_argument("--out", help="a folder for int8.json and README.md")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="int8-bench-"))
    config, result, train_seconds = fine_tune(args, folder)
    run_dir = Path(result["run_dir"])
    write_portable(run_dir)
    inputs = prepare_inputs(config, lambda s: None)
    check = check_int8(run_dir, inputs, "valid_accuracy", tolerance=0.5)
    test = test_inputs(run_dir, str(Path(args.data) / "imdb_test.csv.gz"), config.cache_dir, args.test_samples)
    texts = [r for r in _texts(Path(args.data) / "imdb_test.csv.gz", args.timed)]
    best = result["best"]
    report = {
        "command": "python bench/int8.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": f"{MINILM} {'fine-tuned 1 epoch' if args.finetune else 'frozen, its head trained 20 epochs (boost)'}"
                 f" on {args.train_samples} IMDB train reviews, max_length {args.max_length}, head+tail, mean "
                 f"pooling ({train_seconds:.0f} s)",
        "valid": {"reviews": args.valid_samples, "onnx_fp32": check.fp32, "onnx_int8": check.int8,
                  "change_points": check.change, "kept_at_0.5": check.kept,
                  "torch_fp32_at_best_check": best["fp32_valid_accuracy"],
                  "torch_int8_stand_in_at_best_check": best["valid_accuracy"],
                  "torch_int8_stand_in_whole_model": stand_in_metric(run_dir, inputs)},
        "test": {"reviews": len(test.labels["test"]),
                 **{name: onnx_metric(run_dir / path, test, "valid_accuracy", split="test")
                    for name, path in (("onnx_fp32", ONNX_PATH), ("onnx_int8", INT8_PATH))}},
        "size_mb": {"fp32": check.fp32_mb, "int8": check.int8_mb},
        "speed": speed(run_dir, texts, args.threads, args.max_length),
        "onnxruntime_threads": args.threads,
    }
    report["test"]["change_points"] = 100 * (report["test"]["onnx_int8"] - report["test"]["onnx_fp32"])
    report["hardware"] = hardware()
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "int8.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _texts(path: Path, count: int) -> list:
    """`count` reviews of the test file, spread over it (both labels), as a service would get them."""
    from bertclf.data.examples import read_examples
    texts = read_examples(str(path)).texts
    step = max(1, len(texts) // count)
    return list(texts[::step][:count])


if __name__ == "__main__":
    main()
