"""cv_folds or one held-out split, by the size of train: at equal time, which search picks the configuration
that scores better on test, and from what size on one split is enough.

A small IMDB set read by the product's own code: as many reviews of imdb_train as the largest of --sizes
(a seeded subset) and --test reviews of imdb_test, as frozen all-MiniLM-L6-v2 features (bertclf's boost path: --max-length
tokens, head+tail, mean pooling, computed once and cached). For each size in --sizes (a seeded subset of
those reviews) and each of --seeds searches, two searches over a linear head on the features (lr,
weight_decay and epochs sampled by TPE; bench/folds.py's head and search):
- **folds**: cv_folds 5 (the product's stratified folds, drawn from the search's seed), ASHA on the
  running mean after each fold (a rung after the first fold, half kept at each), as a search runs folds;
- **split**: one stratified 10% held out (fold 0 of 10 by the same splitter and seed), each trial one fit.
Both get --budget fits (equal time: a fold fit trains on 80% of the rows, a split fit on 90%, so the split
side spends about 12% more); the configuration each picks (the best complete trial) is refit on the
whole subset and scored once on the test reviews. Prints one JSON object, also written to --out.

  python bench/split_or_folds.py --data-dir ../shared/data --bert_name MODEL_FOLDER \
      --out bench/results/split_or_folds/split_or_folds.json
"""
import argparse
import os
import sys
import time

import optuna
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # folds.py and machine.py, run by path too
from folds import PRUNERS, accuracy, features, finish, fit_head, search, summary  # noqa: E402
from machine import describe  # noqa: E402

from bertclf.data.splits import seeded_subset, stratified_folds  # noqa: E402

SIDES = {  # name: (how many folds the splitter deals, how many of them a trial trains and scores, pruner)
    "folds": (5, 5, PRUNERS["asha_running_mean"]),
    "split": (10, 1, optuna.pruners.NopPruner),
}


def picked_on_test(train, test, size: int, seed: int, side: str, budget: int) -> dict:
    """One search of `side` on `size` rows of train: its pick refit on those rows and scored on test."""
    dealt, scored, pruner = SIDES[side]
    rows = torch.tensor(seeded_subset(len(train[1]), size, seed=42))
    x, y = train[0][rows], train[1][rows]
    folds = stratified_folds(y.tolist(), dealt, seed)
    params, fits, trials, pruned = search((x, y, folds), scored, pruner(), budget, seed)
    return {"seed": seed, "params": params, "fits": fits, "trials": trials, "pruned": pruned,
            "test_accuracy": accuracy(fit_head(x, y, params, seed), *test)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="the folder of imdb_train.csv.gz and imdb_test.csv.gz")
    parser.add_argument("--bert_name", required=True, help="the encoder (a folder: all-MiniLM-L6-v2)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000, 5000, 10000],
                        help="train sizes (default 250 500 1000 2000 5000 10000)")
    parser.add_argument("--test", type=int, default=5000, help="test reviews (default 5000)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--budget", type=int, default=60, help="fits per search (default 60: 12 trials of 5 folds)")
    parser.add_argument("--seeds", type=int, default=5, help="searches per side and size (default 5)")
    parser.add_argument("--split-seed", type=int, default=42, help="which reviews are read")
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/bert-hpo/bench-folds"))
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    read = lambda name, n: features(os.path.join(args.data_dir, name), n, 2, args, log,  # noqa: E731
                                    max_length=args.max_length, truncation="head+tail")
    train = read("imdb_train.csv.gz", max(args.sizes))
    test = read("imdb_test.csv.gz", args.test)[:2]
    torch.set_num_threads(1)  # a head's fit is small: one thread, no contention between its steps
    result = {"machine": describe(), "torch": torch.__version__, "optuna": optuna.__version__,
              "test": args.test, "max_length": args.max_length, "budget_fits": args.budget, "seeds": args.seeds,
              "sizes": {}}
    for size in args.sizes:
        result["sizes"][size] = {}
        for side in SIDES:
            runs = [picked_on_test(train, test, size, seed, side, args.budget) for seed in range(args.seeds)]
            result["sizes"][size][side] = done = summary(runs)
            log(f"{size} reviews, {side}: test {done['test_accuracy_mean']:.4f} ± {done['test_accuracy_std']:.4f} "
                f"over {args.seeds} searches, {done['trials_mean']:.1f} trials each")
    return finish(result, started, args.out)


if __name__ == "__main__":
    sys.exit(main())
