"""int8 against fp32 on an IMDB MiniLM: accuracy change and CPU speed-up of the ONNX copy, and how well the
int8 trial's stand-in (torch's dynamic quantisation, scored at each check) agrees with the ONNX int8 copy.

One run: train a classifier on the packaged all-MiniLM-L6-v2 (mean pooling, head+tail; boost by default:
the head on the frozen encoder's features, which a loaded 2-core CPU affords; --finetune trains the encoder
too; --encoder-layers cuts it) with precision int8 on a seeded slice of IMDB train, write its ONNX copy,
quantise it (bertclf.int8_copy.check_int8: both copies scored on valid in onnxruntime), score both on a
slice of IMDB test, score the stand-in (the whole model, encoder included, quantised by torch) on valid, then
time the copies on real test reviews: batch 1 (median and p95 per review) and batch 64 (reviews/s), every
copy interleaved (one call each in turn), so that a load shared with other processes falls on all alike.
Each copy's graph is counted by operator, as in its file and as onnxruntime runs it after its fusions.

--static adds a static copy (QDQ, per-channel int8 weights, activation ranges calibrated on a seeded slice
of train texts tokenised as the model reads them); --dynamic-settings adds dynamic copies made with
quantize_dynamic's other settings and with onnxruntime's pre-processing. Prints one JSON object and a
table; --out writes the object as int8.json (with --static: static_<max_length>.json, or
static_<max_length>_threads<n>.json with --threads n above 1).

  python bench/int8.py --data DATA_DIR --train-samples 400 --valid-samples 200 --test-samples 300 \
      --max-length 64 --timed 100 --out bench/results/int8
"""
import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # machine.py beside it
from bertclf.config import TrainConfig  # noqa: E402
from machine import describe  # noqa: E402
from bertclf.inputs import prepare_inputs  # noqa: E402
from bertclf.batching import token_inputs  # noqa: E402
from bertclf.int8_copy import check_int8, onnx_metric  # noqa: E402
from bertclf.models.encoders import resolve_model  # noqa: E402
from bertclf.models.model_io import read_meta  # noqa: E402
from bertclf.portable import ONNX_PATH, write_portable  # noqa: E402
from bertclf.predict import test_inputs  # noqa: E402
from bertclf.quantize import quantize_dynamic_onnx, quiet_quantiser  # noqa: E402
from bertclf.train import train  # noqa: E402

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
STATIC = "static_int8"
# --dynamic-settings: quantize_dynamic's options that the shipped copy ("int8") leaves at their defaults
DYNAMIC_SETTINGS = {"int8_per_channel_reduce_range": {"per_channel": True, "reduce_range": True},
                    "int8_matmul_only": {"op_types_to_quantize": ["MatMul"]}}
STATIC_OPS = ["MatMul"]  # the linear layers and attention's two products
PREPROCESSED = "int8_preprocessed"  # quant_pre_process (graph optimisation, shape inference), then "int8"


def fine_tune(args, folder: Path):
    mode = {} if args.finetune else {"bert_finetuning": False, "boost": True}
    config = TrainConfig(train_path=str(Path(args.data) / "imdb_train.csv.gz"), bert_name=resolve_model(args.model)[0],
                         pooling="mean", truncation="head+tail", max_length=args.max_length,
                         encoder_layers=args.encoder_layers,
                         n_epochs=1 if args.finetune else 20, lr_main=1e-4, lr=1e-3, batch_size=16,
                         max_train_samples=args.train_samples, **mode,
                         max_valid_samples=args.valid_samples, precision="int8", save_path=str(folder),
                         run_name="minilm", cache_dir=str(folder / "cache"), progress=False, seed=0)
    started = time.perf_counter()
    result = train(config)
    return config, result, time.perf_counter() - started


def stand_in_metric(run_dir: Path, inputs) -> float:
    """valid_accuracy of the saved model, encoder and all, quantised by torch (quantize.dynamic_int8)."""
    from bertclf.batching import token_inputs
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


class Feeds:
    """onnxruntime's CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: list):
        self._feeds = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)


def calibration_feeds(inputs, names: list, count: int, seed: int = 0) -> list:
    """One feed per text of a seeded slice of `count` train texts, tokenised as the model reads them (one
    text a feed: no padding widens the ranges calibration measures)."""
    tokens = inputs.tokens["train"]
    chosen = random.Random(seed).sample(range(len(tokens)), min(count, len(tokens)))
    feeds = (token_inputs(tokens, inputs.pad_id, 1, [i]) for i in chosen)
    return [{n: feed[n].numpy() for n in names} for feed in feeds]


def preprocessed(src: Path, folder: Path) -> Path:
    """quant_pre_process's copy of `src` (onnxruntime's graph optimisation, then ONNX shape inference;
    symbolic shape inference does not complete on these models, so it is skipped)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process
    dst = folder / "preprocessed.onnx"
    with quiet_quantiser():
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    return dst


def static_copy(src: Path, dst: Path, feeds: list) -> Path:
    """`src` quantised statically: QDQ, int8 weights per output channel (7-bit: this CPU has no VNNI, so
    onnxruntime's advice for it), uint8 activations whose ranges are the min and max seen on `feeds`."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    with quiet_quantiser():
        quantize_static(str(preprocessed(src, dst.parent)), str(dst), Feeds(feeds), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=STATIC_OPS, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return dst


def make_copies(args, fp32: Path, inputs, folder: Path) -> dict:
    """{name: ONNX file} of the copies compared: fp32, the shipped dynamic int8, and with --dynamic-settings
    and --static the others."""
    copies = {"fp32": fp32, "int8": quantize_dynamic_onnx(fp32, folder / "int8.onnx")}
    if args.dynamic_settings:
        for name, settings in DYNAMIC_SETTINGS.items():
            copies[name] = quantize_dynamic_onnx(fp32, folder / f"{name}.onnx", **settings)
        copies[PREPROCESSED] = quantize_dynamic_onnx(preprocessed(fp32, folder), folder / f"{PREPROCESSED}.onnx")
    if args.static:
        names = [i.name for i in session(fp32, 1).get_inputs()]
        copies[STATIC] = static_copy(fp32, folder / f"{STATIC}.onnx",
                                     calibration_feeds(inputs, names, args.calibration_texts))
    return copies


def session(path: Path, threads: int, optimized: Path = None):
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    if optimized:
        options.optimized_model_filepath = str(optimized)
        options.log_severity_level = 3  # its warning that the file saved is for this CPU: it is only counted
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def graph_ops(path: Path) -> dict:
    """How many nodes of each operator the file holds, and the graph onnxruntime runs after its
    optimisations (fusions: Attention, SkipLayerNormalization, MatMulIntegerToFloat, ...)."""
    import onnx
    optimized = path.with_suffix(".optimized.onnx")
    session(path, 1, optimized)

    def count(file):
        return dict(sorted(Counter(node.op_type for node in onnx.load(str(file)).graph.node).items()))
    return {"in_file": count(path), "as_run": count(optimized)}


def speed(copies: dict, tokenizer_dir: Path, texts: list, threads: int, max_length: int) -> dict:
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    sessions = {name: session(path, threads) for name, path in copies.items()}
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
    for name in list(sessions)[1:]:
        out[name]["speedup_batch1_median"] = out["fp32"]["batch1_median_ms"] / out[name]["batch1_median_ms"]
        out[name]["speedup_batch64"] = out[name]["batch64_reviews_per_s"] / out["fp32"]["batch64_reviews_per_s"]
    return out


def hardware() -> dict:
    return {"machine": describe(), "load_average_at_end": os.getloadavg(),
            "note": "a 2-core machine shared with other jobs running at the same time: fp32 and int8 are timed "
                    "interleaved, so the load falls on both alike; absolute times vary with it"}


def arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the folder of imdb_train.csv.gz and imdb_test.csv.gz")
    parser.add_argument("--model", default=MINILM, help="the encoder (a hub name or a local folder)")
    parser.add_argument("--encoder-layers", type=int, help="keep the encoder's first k layers (default: all)")
    parser.add_argument("--train-samples", type=int, default=400)
    parser.add_argument("--valid-samples", type=int, default=200)
    parser.add_argument("--test-samples", type=int, default=300)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--timed", type=int, default=100, help="test reviews timed at batch 1 (and in batches of 64)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime's intra-op threads")
    parser.add_argument("--finetune", action="store_true", help="fine-tune the encoder (1 epoch) instead of boost")
    parser.add_argument("--static", action="store_true",
                        help="also a static int8 copy, calibrated on --calibration-texts train texts; the report "
                             "is then static_<max-length>.json")
    parser.add_argument("--calibration-texts", type=int, default=64, help="train texts --static calibrates on")
    parser.add_argument("--dynamic-settings", action="store_true",
                        help="also dynamic copies made with quantize_dynamic's other settings and pre-processing")
    parser.add_argument("--out", help="a folder for the report (int8.json, or static_<max-length>[_threads<n>].json)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = arguments(argv)
    folder = Path(tempfile.mkdtemp(prefix="int8-bench-"))
    config, result, train_seconds = fine_tune(args, folder)
    run_dir = Path(result["run_dir"])
    write_portable(run_dir)
    inputs = prepare_inputs(config, lambda s: None)
    check = check_int8(run_dir, inputs, "valid_accuracy", tolerance=0.5)
    copies = make_copies(args, run_dir / ONNX_PATH, inputs, folder)
    test = test_inputs(run_dir, str(Path(args.data) / "imdb_test.csv.gz"), config.cache_dir, args.test_samples)
    texts = _texts(Path(args.data) / "imdb_test.csv.gz", args.timed)
    threshold = read_meta(run_dir).get("threshold")  # None: this run's metric tunes none
    valid = {"fp32": check.fp32, "int8": check.int8,
             **{name: onnx_metric(path, inputs, "valid_accuracy", threshold=threshold)
                for name, path in list(copies.items())[2:]}}
    tested = {name: onnx_metric(path, test, "valid_accuracy", split="test", threshold=threshold)
              for name, path in copies.items()}
    best = result["best"]
    report = {
        "command": "python bench/int8.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": f"{args.model}{f' cut to {args.encoder_layers} layers' if args.encoder_layers else ''} "
                 f"{'fine-tuned 1 epoch' if args.finetune else 'frozen, its head trained 20 epochs (boost)'}"
                 f" on {args.train_samples} IMDB train reviews, max_length {args.max_length}, head+tail, mean "
                 f"pooling ({train_seconds:.0f} s)",
        "valid": {"reviews": args.valid_samples, "onnx": valid, "int8_kept_at_0.5": check.kept,
                  "torch_fp32_at_best_check": best["fp32_valid_accuracy"],
                  "torch_int8_stand_in_at_best_check": best["valid_accuracy"],
                  "torch_int8_stand_in_whole_model": stand_in_metric(run_dir, inputs)},
        "test": {"reviews": len(test.labels["test"]), "onnx": tested},
        "change_points": {name: {"valid": 100 * (valid[name] - valid["fp32"]),
                                 "test": 100 * (tested[name] - tested["fp32"])} for name in list(copies)[1:]},
        "size_mb": {name: path.stat().st_size / 2**20 for name, path in copies.items()},
        "speed": speed(copies, run_dir / "onnx", texts, args.threads, args.max_length),
        "graph_ops": {name: graph_ops(path) for name, path in copies.items()},
        "onnxruntime_threads": args.threads,
        "hardware": hardware(),
    }
    print(json.dumps(report, indent=2))
    print(table(report))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        threads = "" if args.threads == 1 else f"_threads{args.threads}"
        name = f"static_{args.max_length}{threads}.json" if args.static else "int8.json"
        (Path(args.out) / name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def table(report: dict) -> str:
    """The copies side by side, as a Markdown table."""
    rows = ["| copy | MB | batch 1 median ms | batch 1 p95 ms | batch 64 reviews/s | speed-up 1 / 64 | valid | test |",
            "|---|---|---|---|---|---|---|---|"]
    for name, mb in report["size_mb"].items():
        fast, change = report["speed"][name], report["change_points"].get(name, {"valid": 0.0, "test": 0.0})
        ups = f"{fast['speedup_batch1_median']:.2f}x / {fast['speedup_batch64']:.2f}x" if name != "fp32" else ""
        rows.append(f"| {name} | {mb:.1f} | {fast['batch1_median_ms']:.2f} | {fast['batch1_p95_ms']:.2f} | "
                    f"{fast['batch64_reviews_per_s']:.1f} | {ups} | {report['valid']['onnx'][name]:.3f} "
                    f"({change['valid']:+.1f}) | {report['test']['onnx'][name]:.3f} ({change['test']:+.1f}) |")
    return "\n".join(rows)


def _texts(path: Path, count: int) -> list:
    """`count` reviews of the test file, spread over it (both labels), as a service would get them."""
    from bertclf.data.examples import read_examples
    texts = read_examples(str(path)).texts
    step = max(1, len(texts) // count)
    return list(texts[::step][:count])


if __name__ == "__main__":
    main()
