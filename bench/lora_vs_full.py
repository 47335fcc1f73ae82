"""LoRA against full fine-tuning at equal trials, side by side: our search once per mode on the race's rows.

The race's rows and terms (bench/search_vs_hf.py: 600 train / 300 valid / 1,000 test IMDB reviews per seed,
the packaged all-MiniLM-L6-v2, 128 tokens, 6 trials of 3 epochs); each search run as a user runs it,
`launch.py --search bench/race_from_scratch.yaml`, with only `space.mode` and `space.lr_main` set.

Three searches per seed: finetune and lora on the race's space (encoder lr log-uniform over [1e-5, 1e-4]),
then lora on a range of its own (--lora-lr, default [1e-4, 1e-3]: adapters start at zero and take larger
steps, as docs/single-run.md's example rate 5e-4 says). Reported per search: best valid and the test
accuracy of the best (the search scores it), wall, seconds per trial and per epoch (medians of the trials'
time_total_s), checkpoint bytes per trial (a trial's checkpoint folder: adapters, head and their optimizer
state for lora; the whole model and its optimizer state for finetune), peak memory per trial, and the
load average before and after.

Memory: peak_memory_mb is the trial process's ru_maxrss, its lifetime peak, and Tune reuses a trial's
actor for the next trial; so a trial's own peak is exact only for the first trial an actor runs (a fresh
process, `fresh` in the JSON), and a later trial's figure is at most the process's peak so far. The table
gives the fresh trials' peaks and the largest figure of the search; every trial's
memory_at_start_mb..peak_memory_mb and its process id are in the JSON.

  pip install -e '.[bench,lora]'
  python bench/lora_vs_full.py --data-dir DATA_DIR --seeds 0 --output bench/results/lora/lora_vs_full.json
  python bench/lora_vs_full.py --smoke-test --output lora_smoke.json      a tiny random BERT, a few rows
"""
import argparse
import csv
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from search_vs_hf import LR, ROOT, our_search, write_rows  # noqa: E402

from bertclf.atomic import write_text  # noqa: E402

SPEC = ROOT / "bench" / "race_from_scratch.yaml"
LORA_LR = (1e-4, 1e-3)
RACE = {"train_rows": 600, "valid_rows": 300, "test_rows": 1000, "trials": 6, "epochs": 3}
SMOKE = {"data_dir": str(ROOT / "bertclf" / "smoke_data"), "train_rows": 60, "valid_rows": 30, "test_rows": 40,
         "trials": 2, "epochs": 1}


def variants(lora_lr) -> dict:
    """{name: (mode, lr_main range)}: each mode on the race's space, and LoRA on its own range."""
    return {"finetune": ("finetune", LR), "lora-race-range": ("lora", LR), "lora": ("lora", tuple(lora_lr))}


def trial_stats(trials_dir: Path) -> list:
    """Per trial, from its reports: process id, start, seconds, epochs, memory at start and peak, whether
    it is the first trial of its process (its peak is then its own), and its checkpoint folder's bytes."""
    trials = []
    for result in sorted(trials_dir.glob("trial_*/result.json")):
        reports = [json.loads(line) for line in result.read_text().splitlines()]
        if not reports:
            continue
        last = reports[-1]
        checkpoint = sum(f.stat().st_size for f in result.parent.glob("checkpoint_*/**/*") if f.is_file())
        trials.append({"trial": result.parent.name, "pid": last["pid"],
                       "started": reports[0]["timestamp"] - reports[0]["time_total_s"],
                       "seconds": round(last["time_total_s"], 1), "epochs": last["epoch"],
                       "memory_at_start_mb": round(reports[0]["memory_at_start_mb"]),
                       "peak_memory_mb": round(max(r["peak_memory_mb"] for r in reports)),
                       "checkpoint_bytes": checkpoint})
    seen = set()
    for trial in sorted(trials, key=lambda t: t["started"]):
        trial["fresh"] = trial["pid"] not in seen
        seen.add(trial["pid"])
    return trials


def summary(trials: list) -> dict:
    """The table's figures of one search from its trials."""
    fresh = [t["peak_memory_mb"] for t in trials if t["fresh"]]
    return {"seconds_per_trial_median": round(statistics.median(t["seconds"] for t in trials), 1),
            "seconds_per_epoch_median": round(statistics.median(t["seconds"] / t["epochs"] for t in trials), 1),
            "checkpoint_bytes_per_trial_median": int(statistics.median(t["checkpoint_bytes"] for t in trials)),
            "peak_memory_mb_fresh_trials": sorted(fresh), "peak_memory_mb_max": max(t["peak_memory_mb"] for t in trials)}


def read_back(out: Path) -> dict:
    """A search an earlier run of this script finished in `out` (--work): its figures from its files, the
    wall its console's last summary gives (the search's own total, without Python's start)."""
    with open(out / "ours" / "results.csv", newline="") as f:
        trials = list(csv.DictReader(f))
    test = re.search(r"test accuracy ([\d.]+)", (out / "ours" / "results.md").read_text())
    return {"wall_s": float(re.findall(r"done in (\d+) s", (out / "console.log").read_text())[-1]),
            "best_valid_accuracy": float(trials[0]["best_valid_accuracy"]), "test_accuracy": float(test[1]),
            "best_config": {k: trials[0][k] for k in ("lr_main", "batch_size", "gradient_accumulation_steps")},
            "statuses": [t["status"] for t in trials], "read_back_from": str(out), "load_average_before_after": None}


def search(rows: dict, args, seed: int, out: Path, mode: str, lr) -> dict:
    """One search of the spec with this mode and lr_main range (or the one finished there already, read
    back); its result, trials and load."""
    if (out / "console.log").exists() and (out / "ours" / "results.md").exists():
        trials = trial_stats(out / "ours" / "trials")
        return {"mode": mode, "lr_main": list(lr), **read_back(out), **summary(trials), "trials": trials}
    extra = ["--keep-checkpoints", "--set", f"space.mode={{choice: [{mode}]}}",
             "--set", f"space.lr_main={{loguniform: [{lr[0]}, {lr[1]}]}}",
             "--set", f"num_samples={args.trials}", "--set", f"fixed.n_epochs={args.epochs}",
             *(["--smoke-test"] if args.smoke_test else [])]
    load_before = os.getloadavg()
    result = our_search(rows, argparse.Namespace(search=str(SPEC)), seed, out, extra)
    load = [[round(x, 2) for x in loads] for loads in (load_before, os.getloadavg())]
    trials = trial_stats(out / "ours" / "trials")
    keep = ("wall_s", "best_valid_accuracy", "test_accuracy", "best_config", "statuses")
    return {"mode": mode, "lr_main": list(lr), **{k: result[k] for k in keep}, **summary(trials),
            "load_average_before_after": load, "trials": trials}


def table(report: dict) -> str:
    """The markdown table of every seed's searches (a search read back has no load recorded)."""
    lines = ["| seed | search | lr_main range | best valid | test | wall | s / trial | s / epoch | checkpoint / trial "
             "| peak memory (fresh trials; max) | load before -> after |", "|" + "---|" * 11]
    for run in report["runs"]:
        for name, s in run["searches"].items():
            fresh = ", ".join(f"{m:,}" for m in s["peak_memory_mb_fresh_trials"])
            load = s["load_average_before_after"]
            lines.append(f"| {run['seed']} | {name} | [{s['lr_main'][0]:g}, {s['lr_main'][1]:g}] "
                         f"| {s['best_valid_accuracy']:.3f} | {s['test_accuracy']:.3f} | {s['wall_s']} s "
                         f"| {s['seconds_per_trial_median']} | {s['seconds_per_epoch_median']} "
                         f"| {s['checkpoint_bytes_per_trial_median'] / 2**20:.1f} MB | {fresh}; {s['peak_memory_mb_max']:,} MB "
                         f"| {f'{load[0][0]} -> {load[1][0]}' if load else 'not recorded'} |")
    return "\n".join(lines) + "\n"


def main():
    parser = _parser()
    args = parser.parse_args()
    for key, value in (SMOKE if args.smoke_test else RACE).items():
        setattr(args, key, getattr(args, key) or value)
    if not args.data_dir:
        parser.error("--data-dir: the folder of the IMDB files is needed (or --smoke-test)")
    if args.work and len(args.seeds) > 1:
        parser.error("--work: one seed's folder, for one seed")
    chosen = {name: v for name, v in variants(args.lora_lr).items() if name in args.searches}
    report = {"machine": describe(), "spec": str(SPEC.relative_to(ROOT)),
              "lora_lr_why": "adapters start at zero and move by small steps: LoRA on the race's encoder range "
                             "is run too, to show whether it needs its own",
              **{k: v for k, v in vars(args).items() if k not in ("output", "data_dir", "work")}, "runs": []}
    for seed in args.seeds:
        work = Path(args.work or tempfile.mkdtemp(prefix=f"lora-vs-full-{seed}-"))
        rows = write_rows(work, args.data_dir, seed, args.train_rows, args.valid_rows, args.test_rows)
        run = {"seed": seed, "rows": str(work), "searches": {}}
        print(f"seed {seed}: rows and searches in {work}", file=sys.stderr)
        report["runs"].append(run)
        for name, (mode, lr) in chosen.items():
            run["searches"][name] = search(rows, args, seed, work / name, mode, lr)
            print(json.dumps({"seed": seed, "search": name, **{k: v for k, v in run["searches"][name].items()
                                                                if k != "trials"}}), file=sys.stderr)
            write_text(args.output, json.dumps(report, indent=2))
            write_text(Path(args.output).with_suffix(".md"), table(report))
    print(f"report written to {args.output} and {Path(args.output).with_suffix('.md')}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="the IMDB files (default with --smoke-test: the shipped slices)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    for option, key in (("--trials", "trials"), ("--epochs", "epochs"), ("--train-rows", "train_rows"),
                        ("--valid-rows", "valid_rows"), ("--test-rows", "test_rows")):
        parser.add_argument(option, type=int, help=f"default {RACE[key]} (--smoke-test: {SMOKE[key]})")
    parser.add_argument("--lora-lr", type=float, nargs=2, default=list(LORA_LR), metavar=("LOW", "HIGH"),
                        help="LoRA's own lr_main range (log-uniform)")
    parser.add_argument("--searches", nargs="+", default=list(variants(LORA_LR)), choices=list(variants(LORA_LR)))
    parser.add_argument("--work", metavar="DIR", help="an earlier run's folder of one seed's rows and searches "
                        "(its console's first line, the JSON's `rows`): the searches it finished are read back, the others run there")
    parser.add_argument("--smoke-test", action="store_true", help="a tiny random BERT, a few rows, 2 trials of 1 epoch")
    parser.add_argument("--output", required=True)
    return parser


if __name__ == "__main__":
    main()
