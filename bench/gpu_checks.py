"""Every GPU check in one run, for a bare GPU machine with no network (bench/gpu.sh runs it there; a
test dry-runs it on the CPU with --tiny). Writes one JSON:

- throughput: bench/throughput.py's two loops (seed-like vs ours) at 256 and 512 tokens;
- search: a 4-trial search (2 fine-tune + 2 boost trials, boost trials sharing the GPU) with a 1-GPU
  refit, the GPU memory each trial found at its start (what the actor's previous trial left behind)
  and its peak;
- overhead: one trial through the in-trial path and one driving a 1-worker TorchTrainer, same work;
- every check's own seconds, and any check's error (the others still run).

No weights can be downloaded there: a random-init BERT of bert-base size (tiny with --tiny) is built on
the spot, its WordPiece vocabulary learnt from the carried data slice.

  python bench/gpu_checks.py --make-slice DATA_DIR    # once, here: bench/gpu-data/imdb_slice.csv.gz
  bash bench/gpu.sh                                         # there; OUT=folder for the JSON
"""
import argparse
import csv
import gzip
import json
import os
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SLICE = ROOT / "bench" / "gpu-data" / "imdb_slice.csv.gz"


def make_slice(data_dir, rows: int = 2000) -> None:
    """A seeded, balanced slice of IMDB train at full length (the throughput check needs long reviews)."""
    from bertclf.data.examples import read_examples
    from bertclf.data.splits import seeded_subset
    from bertclf.data.datasets import resolve
    examples = read_examples(resolve("imdb", data_dir, download=False)["train"])
    picked = examples.subset(seeded_subset(len(examples), rows, 0))
    SLICE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(SLICE, "wt", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(picked.texts, picked.labels))
    print(f"{SLICE}: {rows} reviews, {SLICE.stat().st_size / 2**20:.1f} MB")


def build_model(folder: Path, texts, tiny: bool) -> str:
    from bertclf.models.tiny_model import build_tiny_bert
    size = dict(hidden=32, layers=2, heads=2, intermediate=64, vocab_size=800) if tiny else \
        dict(hidden=768, layers=12, heads=12, intermediate=3072, vocab_size=30522)
    return build_tiny_bert(folder, texts, dropout=0.1, **size)


def check(report: dict, name: str, fn):
    started = time.perf_counter()
    try:
        report[name] = fn()
    except Exception as e:  # noqa: BLE001 - one failed check must not hide the others
        report[name] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
    report.setdefault("seconds", {})[name] = round(time.perf_counter() - started, 1)
    print(json.dumps({name: report[name]}, default=str)[:2000], file=sys.stderr, flush=True)


def throughput(model: str, slice_csv: Path, lengths, samples: int, batch_size: int, device):
    from bertclf.data.examples import read_examples
    from bertclf.data.splits import encode_labels
    from throughput import ours_samples_per_s, seed_like_samples_per_s
    examples = read_examples(slice_csv)  # labels as written (the shipped slice: negative / positive)
    texts, labels = examples.texts[:samples], encode_labels(examples, sorted(set(examples.labels)), "--data")[:samples]
    work = tempfile.mkdtemp(prefix="gpu-throughput-")
    sample_csv = os.path.join(work, "sample.csv")
    with open(sample_csv, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *zip(texts, labels)])
    rows = []
    for max_length in lengths:
        seed = seed_like_samples_per_s(model, texts, labels, max_length, batch_size, device)
        ours = ours_samples_per_s(model, None, sample_csv, max_length, batch_size, device, work)
        rows.append({"max_length": max_length, "seed_like_samples_per_s": round(seed, 1),
                     "ours_samples_per_s": round(ours, 1), "speedup": round(ours / seed, 2)})
    return {"batch_size": batch_size, "samples": samples, "results": rows}


def search_options(files: dict, model: str, out: Path, name: str, fixed=None, space=None, **options):
    """A search over the carried slice with this spec: the same on a GPU and in the CPU dry run."""
    import yaml
    from bert_hpo_distributed.plan import SearchOptions
    spec = {"name": name, "dataset": "imdb", "files": {k: str(v) for k, v in files.items()},
            "fixed": {"bert_name": model, "max_length": 256, "n_epochs": 2, "batch_size": 32, "evals_per_epoch": 2,
                      "eval_batch_size": 128, **(fixed or {})},
            "space": space or {"lr_main": {"loguniform": [2e-5, 6e-5]}, "lr": {"loguniform": [1e-3, 3e-3]},
                               "mode": {"choice": ["finetune", "boost"]}},
            "num_samples": 4, "startup_trials": 4, "scheduler": {"type": "asha", "grace_period": 0.5},
            "resources": {"cpus_per_worker": 2, "gpus_per_worker": 1, "boost_gpu_fraction": 0.25}}
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return SearchOptions(search=str(path), output_dir=str(out), name=name, **options)


def search(files: dict, model: str, out: Path, cpu: bool):
    """Two fine-tune and two boost trials (warm start names them), then a refit on one GPU."""
    from bert_hpo_distributed.search import run_search
    points = out / "points.csv"
    with open(points, "w", newline="") as f:
        csv.writer(f).writerows([("lr_main", "lr", "mode", "best_valid_accuracy"),
                                 (3e-5, 2e-3, "finetune", 1), (5e-5, 1e-3, "finetune", 1),
                                 (3e-5, 2e-3, "boost", 1), (5e-5, 1e-3, "boost", 1)])
    started = time.perf_counter()
    summary = run_search(search_options(files, model, out, "gpu-search", warm_start=str(points), refit=True,
                                        force_cpu=cpu))
    trials = []
    for result in (out / "gpu-search" / "trials").glob("trial_*/result.json"):
        rows = [json.loads(line) for line in result.read_text().splitlines()]
        trials.append({"trial": result.parent.name, "pid": rows[-1]["pid"], "mode": rows[-1]["config"]["mode"],
                       "epochs": rows[-1]["epoch"], "done_reason": rows[-1].get("done_reason"),
                       "seconds": round(rows[-1]["time_total_s"], 1),
                       "started": rows[-1]["timestamp"] - rows[-1]["time_total_s"],
                       **{k: round(rows[-1][k], 1) for k in ("gpu_memory_at_start_mb", "gpu_peak_memory_mb")
                          if k in rows[-1]}})
    trials.sort(key=lambda t: t["started"])
    return {"wall_s": round(time.perf_counter() - started, 1), "statuses": summary["statuses"],
            "best_valid_accuracy": summary["best_valid_accuracy"], "test": summary["test"],
            "refit": summary["refit"], "seconds": summary["seconds"], "trials": trials}


def overhead(files: dict, model: str, out: Path, cpu: bool):
    """The same one-epoch trial, run in the Tune trial and through a 1-worker TorchTrainer: wall time
    from Tuner.fit() to its end, and the trial's own training time."""
    from dataclasses import replace

    import ray
    from ray import tune
    from bert_hpo_distributed import ray_session, search_lock
    from bert_hpo_distributed.plan import make_plan
    from bert_hpo_distributed.inputs import prepare, search_configs, share
    from bert_hpo_distributed.search import say
    from bert_hpo_distributed.trial import run_in_trial, run_with_torch_trainer
    plan = make_plan(search_options(files, model, out, "overhead", fixed={
        "n_epochs": 1, "max_train_samples": 256, "evals_per_epoch": 1}, space={"mode": {"choice": ["finetune"]}},
        force_cpu=cpu), lambda m: None, [])
    ready, pending, _, _ = prepare(plan, search_configs(plan.spec), say)
    started_ray = ray_session.start()
    try:
        shared, _ = share(plan, ready, pending, say)
        gpu = 0 if cpu else 1
        paths = {"in_trial": tune.with_resources(tune.with_parameters(
                     run_in_trial, spec=plan.spec, shared=shared, cpus=1, every_check=False), {"cpu": 1, "gpu": gpu}),
                 "torch_trainer": tune.with_resources(tune.with_parameters(
                     run_with_torch_trainer, spec=replace(plan.spec, resources=replace(
                         plan.spec.resources, workers_per_trial=1, cpus_per_worker=1)), shared=shared,
                     use_gpu=not cpu, storage_path=str(out / "overhead-train"), every_check=False), {"cpu": 0.01})}
        result = {}
        for name, trainable in paths.items():
            begun = time.perf_counter()
            grid = tune.Tuner(trainable, param_space={"mode": "finetune"}, tune_config=tune.TuneConfig(num_samples=1),
                              run_config=tune.RunConfig(name=name, storage_path=str(out / "overhead"), verbose=0)).fit()
            metrics = grid[0].metrics or {}
            result[name] = {"wall_s": round(time.perf_counter() - begun, 1),
                            "trial_s": round(metrics.get("time_total_s", float("nan")), 1),
                            "error": str(grid[0].error or "")}
        result["torch_trainer_extra_s"] = round(result["torch_trainer"]["wall_s"] - result["in_trial"]["wall_s"], 1)
        return result
    finally:
        ray_session.stop(started_ray)
        if ray.is_initialized():
            ray.shutdown()
        search_lock.release()  # the plan took the search's lock, as a search does


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--make-slice", metavar="DATA_DIR", help="write the carried data slice and stop")
    parser.add_argument("--data", default=str(SLICE))
    parser.add_argument("--out", required="--make-slice" not in sys.argv)
    parser.add_argument("--device", default=None, help="cpu for a dry run (default: cuda when there is one)")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and small sizes: the dry run")
    args = parser.parse_args()
    if args.make_slice:
        return make_slice(args.make_slice)
    import torch
    from bertclf.data.examples import read_examples
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cpu = device.type == "cpu"
    work = Path(tempfile.mkdtemp(prefix="gpu-checks-"))
    examples = read_examples(args.data)
    n = 240 if args.tiny else len(examples)
    files = {"train": work / "train.csv", "test": work / "test.csv"}
    order = random.Random(0).sample(range(len(examples)), n)  # the slices are sorted by label: shuffle first
    cut = n * 4 // 5
    for name, rows in (("train", order[:cut]), ("test", order[cut:])):
        with open(files[name], "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([("text", "label"), *((examples.texts[i], examples.labels[i]) for i in rows)])
    report = {"device": torch.cuda.get_device_name(0) if not cpu else "cpu (dry run)", "torch": torch.__version__,
              "cuda": torch.version.cuda, "tiny": args.tiny, "data_rows": n}
    model = build_model(work / "model", examples.texts[:n], args.tiny)
    report["model"] = "random-init " + ("tiny BERT" if args.tiny else "bert-base (768 x 12 layers)")
    lengths = [64, 128] if args.tiny else [256, 512]
    check(report, "throughput", lambda: throughput(model, files["train"], lengths, 64 if args.tiny else 512,
                                                   32, device))
    check(report, "search", lambda: search(files, model, work, cpu))
    check(report, "overhead", lambda: overhead(files, model, work, cpu))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(f"written {args.out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
