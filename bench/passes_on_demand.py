"""`python launch.py --search imdb` on this CPU: every frozen-feature pass before the first trial (the
code of a baseline revision) against passes on demand (this checkout), side by side, per search seed.

Each run gets a cache folder of its own (an empty one: a pass is computed, never read from an earlier
run), the same data, the same search seed; the two sides alternate, baseline first, seed by seed, so
that a change in the machine's load falls on both. Reported per run: wall time (the command's), the
best trial's valid and test accuracy (the console's `best model` line), the cache's feature entries
(one per split and variant of each pass computed), the load average before and after. Each run's console
is kept beside the output (`consoles/<side>-<seed>.log`). Several baseline revisions may run beside
this checkout (each a side of its own, in the order given).

The baseline runs from a `git worktree` of --baseline-rev, its packages put first on the path (the
editable install's finder comes after PYTHONPATH), so one environment runs both.

  python bench/passes_on_demand.py --data-dir DATA_DIR --seeds 0 1 2 --baseline-rev 47ce399 \
      --output bench/results/passes_on_demand/passes_on_demand.json
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BEST = re.compile(r"best model \(\S+\): valid accuracy ([\d.]+), test accuracy ([\d.]+)")
# the import names of the project's packages, and their folders in a checkout
PACKAGES = {"bertclf": "bertclf", "bert_hpo_distributed": "distributed"}


def baseline_checkout(rev: str, folder: Path) -> dict:
    """{folder: the baseline's checkout (folder/rev/checkout), env: its packages first on the path}."""
    folder = folder / rev
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder / "checkout"), rev],
                   check=True, capture_output=True)
    packages = folder / "packages"
    packages.mkdir()
    for name, where in PACKAGES.items():
        (packages / name).symlink_to(folder / "checkout" / where)
    return {"folder": folder / "checkout", "env": {"PYTHONPATH": str(packages)}, "name": rev}


def run_search(side: dict, args, seed: int, work: Path, name: str, consoles: Path) -> dict:
    """One `launch.py --search imdb` run of `side` (its checkout and environment), timed."""
    cache = work / f"cache-{name}"
    cmd = [sys.executable, str(side["folder"] / "launch.py"), "--search", "imdb", "--cpu", "--data-dir", args.data_dir,
           "--output-dir", str(work / "results"), "--name", name, "--set", f"seed={seed}",
           "--set", f"fixed.cache_dir={cache}", *args.extra]
    load_before, started = os.getloadavg(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=side["folder"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", "RAY_worker_niceness": "0", **side["env"]})
    wall = time.perf_counter() - started
    console = consoles / f"{name}.log"
    console.write_text(proc.stderr, encoding="utf-8")
    best = BEST.search(proc.stderr)
    if proc.returncode != 0 or not best:
        raise SystemExit(f"error: {name} failed (exit {proc.returncode}); its console: {console}")
    return {"wall_s": round(wall, 1), "best_valid_accuracy": float(best.group(1)),
            "test_accuracy": float(best.group(2)),
            "feature_entries": len(list((cache / "features").glob("*.safetensors"))),
            "load_average_before_after": [round(x, 2) for x in (*load_before, *os.getloadavg())]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--baseline-rev", required=True, nargs="+",
                        help="the revision(s) to run beside this checkout (47ce399: every pass before the first trial)")
    parser.add_argument("--extra", action="append", default=[],
                        help="one more launch.py argument for both sides, e.g. --extra=--smoke-test (repeatable)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    consoles = Path(args.output).parent / "consoles"
    consoles.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="passes-on-demand-") as tmp:
        work = Path(tmp)
        sides = [baseline_checkout(rev, work) for rev in args.baseline_rev]
        sides.append({"folder": ROOT, "env": {}, "name": "this checkout"})
        runs = []
        try:
            for seed in args.seeds:
                for side in sides:
                    result = run_search(side, args, seed, work, f"{side['name'].replace(' ', '-')}-{seed}", consoles)
                    runs.append({"seed": seed, "side": side["name"], **result})
                    print(json.dumps(runs[-1]), flush=True)
        finally:
            for side in sides[:-1]:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(side["folder"])],
                               capture_output=True)
    report = {"command": " ".join(sys.argv), "this_checkout": subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "machine": describe(), "runs": runs}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
