"""The race: our search against Hugging Face `Trainer.hyperparameter_search` (optuna backend), on equal
terms, one after the other on the same machine, once per seed.

Equal terms: the same rows (train / valid / test written to files that both sides read), the same model
(the packaged all-MiniLM-L6-v2), max_length, number of trials, epochs per trial, and space (encoder lr
log-uniform over a decade, batch size {16, 32}, gradient_accumulation_steps {1, 2}). Each side otherwise
runs with its defaults: ours the search_spaces/imdb-minilm.yaml spec (its scheduler, checks, concurrency,
pooling, precision), the peer Trainer's.

Reported per seed: wall time and final best valid accuracy of each side; for ours also the time from
its start to the first check at or above the peer's final best (from the trials' timestamps); then
both best configurations scored on the same test rows (the peer returns no model: its best
configuration is trained once more to be scored, and that time is reported apart).

With --search PATH, ours is a spec a user wrote instead (bench/race_from_scratch.yaml: the model, the
files, the space and the race's terms, nothing else), run as written in each seed's folder (its files:
train.csv, valid.csv, test.csv), only the seed set per run.

  pip install -e '.[bench]'
  python bench/search_vs_hf.py --data-dir DATA_DIR --seeds 0 1 --output bench/results/race/search_vs_hf.json
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# the goal (a report's goal_met): the peer's best reached within this share of the peer's wall, ours
# ending at or above it
GOAL_SHARE = 0.1
sys.path.insert(0, str(ROOT))
from bertclf.atomic import write_text  # noqa: E402
from bertclf.data.examples import read_examples  # noqa: E402
from bertclf.data.splits import encode_labels, load_splits, seeded_subset  # noqa: E402
from bertclf.data.datasets import resolve  # noqa: E402
from bertclf.models.encoders import resolve_model  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LR = (1e-5, 1e-4)
BATCH_SIZES, ACCUMULATIONS = [16, 32], [1, 2]


def write_rows(folder: Path, data_dir, seed: int, n_train: int, n_valid: int, n_test: int) -> dict:
    """train / valid (a stratified split of IMDB train) and test rows, as text,label CSV files."""
    files = resolve("imdb", data_dir)
    splits = load_splits(files["train"], None, valid_fraction=0.1, seed=seed, max_train_samples=n_train,
                         max_valid_samples=n_valid)
    test = read_examples(files["test"], "test")
    test = test.subset(seeded_subset(len(test), n_test, seed))
    parts = {"train": (splits.train.texts, splits.train_labels), "valid": (splits.valid.texts, splits.valid_labels),
             "test": (test.texts, encode_labels(test, splits.label_names, "test"))}
    out = {}
    for name, (texts, labels) in parts.items():
        out[name] = folder / f"{name}.csv"
        with open(out[name], "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(zip(texts, labels))
    return out


def peer_search(rows: dict, args, seed: int) -> dict:
    import numpy as np
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, TrainingArguments)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    source = resolve_model(MODEL)[0]
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(source)

    def dataset(path):
        examples = read_examples(path, "race data")
        enc = tokenizer(examples.texts, truncation=True, max_length=args.max_length)
        return [{"input_ids": i, "attention_mask": m, "labels": int(y)}
                for i, m, y in zip(enc["input_ids"], enc["attention_mask"], examples.labels)]

    train, valid, test = (dataset(rows[k]) for k in ("train", "valid", "test"))

    def model_init(trial=None):
        return AutoModelForSequenceClassification.from_pretrained(source, num_labels=2)

    def accuracy(prediction):
        return {"accuracy": float((np.argmax(prediction.predictions, -1) == prediction.label_ids).mean())}

    def training_args(**overrides):
        return TrainingArguments(output_dir=tempfile.mkdtemp(prefix="race-hf-"), num_train_epochs=args.epochs,
                                 eval_strategy="epoch", save_strategy="no", logging_strategy="no", report_to=[],
                                 disable_tqdm=True, use_cpu=not torch.cuda.is_available(), seed=seed, **overrides)

    trainer = Trainer(model_init=model_init, args=training_args(), train_dataset=train, eval_dataset=valid,
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy)

    def space(trial):
        return {"learning_rate": trial.suggest_float("learning_rate", *LR, log=True),
                "per_device_train_batch_size": trial.suggest_categorical("per_device_train_batch_size", BATCH_SIZES),
                "gradient_accumulation_steps": trial.suggest_categorical("gradient_accumulation_steps", ACCUMULATIONS)}

    best = trainer.hyperparameter_search(direction="maximize", backend="optuna", hp_space=space, n_trials=args.trials,
                                         compute_objective=lambda metrics: metrics["eval_accuracy"])
    wall = time.perf_counter() - started
    # the peer returns parameters, not a model: train its best configuration once more to score it
    started = time.perf_counter()
    final = Trainer(model_init=model_init, args=training_args(**best.hyperparameters), train_dataset=train,
                    eval_dataset=valid, data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy)
    final.train()
    test_accuracy = final.evaluate(test)["eval_accuracy"]
    return {"wall_s": round(wall, 1), "best_valid_accuracy": best.objective, "best_config": best.hyperparameters,
            "test_accuracy": test_accuracy, "retrain_for_test_s": round(time.perf_counter() - started, 1),
            "returns_a_model": False}


def check_user_spec(path: str, args) -> None:
    """A user's spec races on the race's terms: its trials, epochs, max_length and space must be the race's."""
    raw = yaml.safe_load(Path(path).read_text())
    fixed = raw.get("fixed") or {}
    terms = {"num_samples": (raw.get("num_samples"), args.trials), "fixed.n_epochs": (fixed.get("n_epochs"), args.epochs),
             "fixed.max_length": (fixed.get("max_length"), args.max_length),
             "space": (raw.get("space"), {"lr_main": {"loguniform": list(LR)}, "batch_size": {"choice": BATCH_SIZES},
                                          "gradient_accumulation_steps": {"choice": ACCUMULATIONS}})}
    for key, (got, race) in terms.items():
        if key == "space" and got:  # YAML 1.1 reads 1e-5 as a string
            got = {k: {d: [float(a) if k == "lr_main" else a for a in v] for d, v in dist.items()} for k, dist in got.items()}
        if got != race:
            raise SystemExit(f"error: {path}: {key}: the race's is {race}, the spec says {got}")


def our_search(rows: dict, args, seed: int, out: Path, extra=()) -> dict:
    """Our search as a user runs it: launch.py --search imdb-minilm, the race's terms set with --set; or, with
    --search PATH, the user's spec as written, run in the seed's folder (its relative files: are the seed's rows)."""
    space = (f"{{lr_main: {{loguniform: [{LR[0]}, {LR[1]}]}}, batch_size: {{choice: {BATCH_SIZES}}}, "
             f"gradient_accumulation_steps: {{choice: {ACCUMULATIONS}}}}}")
    shipped = args.search == "imdb-minilm"
    terms = ["--set", f"files={{train: {rows['train']}, valid: {rows['valid']}, test: {rows['test']}}}",
             "--set", f"space={space}", "--set", f"num_samples={args.trials}",
             "--set", f"fixed.max_length={args.max_length}", "--set", f"fixed.n_epochs={args.epochs}",
             "--set", "fixed.max_train_samples=null", "--set", "fixed.max_valid_samples=null",
             "--set", "max_test_samples=null"] if shipped else []
    cmd = [sys.executable, str(ROOT / "launch.py"), "--search", args.search if shipped else str(Path(args.search).resolve()),
           "--output-dir", str(out), "--name", "ours", *terms, "--set", f"seed={seed}", "--set", f"fixed.seed={seed}",
           *extra]
    started = time.time()
    # Ray starts its workers at nice 15 unless told otherwise; the peer trains in this process, at its
    # priority: on a shared machine our trials would lose the CPU to anything else running
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=rows["train"].parent,
                          env=dict(os.environ, PYTHONUNBUFFERED="1", RAY_worker_niceness="0"))
    wall = time.time() - started
    (out / "console.log").write_text(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"our search failed:\n{proc.stderr[-3000:]}")
    checks, starts = [], []  # (seconds since our start, valid accuracy) of every check; each trial's start
    for result in (out / "ours" / "trials").glob("trial_*/result.json"):
        reports = [json.loads(line) for line in result.read_text().splitlines()]
        checks += [(r["timestamp"] - started, r["valid_accuracy"]) for r in reports]
        starts.append(reports[0]["timestamp"] - reports[0]["time_total_s"] - started)
    with open(out / "ours" / "results.csv", newline="") as f:
        trials = list(csv.DictReader(f))
    summary = (out / "ours" / "results.md").read_text()
    test = float(summary.split("test accuracy ")[1].split("*")[0])
    best = trials[0]
    return {"wall_s": round(wall, 1), "best_valid_accuracy": float(best["best_valid_accuracy"]),
            "best_config": {k: best[k] for k in ("lr_main", "batch_size", "gradient_accumulation_steps")},
            "test_accuracy": test, "statuses": [t["status"] for t in trials], "returns_a_model": True,
            "first_trial_started_s": round(min(starts), 1), "checks": sorted(checks),
            "recipe_line": next((line.strip() for line in proc.stderr.splitlines() if "recipe:" in line), None)}


def main():
    args = _parser().parse_args()
    if args.search != "imdb-minilm":
        check_user_spec(args.search, args)
    earlier = {r["seed"]: (path, r["peer"]) for path in args.peer_from for r in json.loads(Path(path).read_text())["runs"]}
    # Linux shares the CPU between sessions (autogroups) before it reads a process's nice value
    autogroup = Path("/proc/self/autogroup")
    report = {"hardware": f"{os.cpu_count()} CPU cores, no GPU",
              "autogroup": autogroup.read_text().strip() if autogroup.exists() else None, "model": MODEL, "encoder_lr": LR,
              "batch_sizes": BATCH_SIZES, "accumulation": ACCUMULATIONS, **{k: v for k, v in vars(args).items()
                                                                            if k not in ("output", "data_dir", "peer_from")},
              "runs": []}
    for seed in args.seeds:
        run = _race(args, seed, earlier)
        report["runs"].append(run)
        write_text(args.output, json.dumps(report, indent=2))
        print(json.dumps({k: run[k] for k in ("seed", "ours_time_to_peer_best_s", "time_ratio", "goal_met")}),
              file=sys.stderr)
    print(f"report written to {args.output}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--train-rows", type=int, default=600)
    parser.add_argument("--valid-rows", type=int, default=300)
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--ours-only", action="append", default=[], metavar="KEY=VALUE",
                        help="also run ours once more per seed with this --set (an ablation), e.g. fixed.pooling=cls")
    parser.add_argument("--peer-from", metavar="JSON", nargs="+", default=[],
                        help="take the peer's results per seed from earlier reports of this script (same rows)")
    parser.add_argument("--search", default="imdb-minilm", metavar="SPEC",
                        help="ours: the shipped imdb-minilm with the race's terms set (default), or the path of a "
                             "user's spec that states the race's terms itself, e.g. bench/race_from_scratch.yaml")
    parser.add_argument("--output", required=True)
    return parser


def _race(args, seed: int, earlier: dict) -> dict:
    """One seed's race: our search and the peer's (or its result from `earlier`, {seed: (report path,
    peer)}) on the same rows, and how soon ours reached the peer's best; the report's run."""
    work = Path(tempfile.mkdtemp(prefix=f"race-{seed}-"))
    rows = write_rows(work, args.data_dir, seed, args.train_rows, args.valid_rows, args.test_rows)
    load_before = os.getloadavg()
    ours = our_search(rows, args, seed, work / "ours")
    ours["load_average_before_after"] = [[round(x, 2) for x in load] for load in (load_before, os.getloadavg())]
    print(json.dumps({"seed": seed, "ours": {k: v for k, v in ours.items() if k != "checks"}}), file=sys.stderr)
    if seed in earlier:
        peer = earlier[seed][1]
    else:
        load_before = os.getloadavg()
        peer = peer_search(rows, args, seed)
        peer["load_average_before_after"] = [[round(x, 2) for x in load] for load in (load_before, os.getloadavg())]
    print(json.dumps({"seed": seed, "peer": peer}), file=sys.stderr)
    reached = next((t for t, acc in ours["checks"] if acc >= peer["best_valid_accuracy"]), None)
    run = {"seed": seed, "peer": peer, "ours": {k: v for k, v in ours.items() if k != "checks"},
           "ours_time_to_peer_best_s": None if reached is None else round(reached, 1),
           "time_ratio": None if reached is None else round(reached / peer["wall_s"], 3)}
    run["goal_met"] = (reached is not None and reached <= GOAL_SHARE * peer["wall_s"]
                       and ours["best_valid_accuracy"] >= peer["best_valid_accuracy"])
    if args.ours_only:
        ablation = our_search(rows, args, seed, work / "ablation",
                              [a for item in args.ours_only for a in ("--set", item)])
        reached = next((t for t, acc in ablation["checks"] if acc >= peer["best_valid_accuracy"]), None)
        run["ours_ablation"] = {"set": args.ours_only, **{k: v for k, v in ablation.items() if k != "checks"},
                                "time_to_peer_best_s": None if reached is None else round(reached, 1)}
    run["peer_from"] = earlier[seed][0] if seed in earlier else None
    return run


if __name__ == "__main__":
    main()
