"""cv_folds: which pruner finds the better configuration at equal time, ASHA on the running mean over the
folds (what a search does) or Optuna's WilcoxonPruner (built for folds: it prunes a trial whose folds lose
to the best trial's same folds by a Wilcoxon signed-rank test).

A small IMDB set, read whole by the product's own code: --train reviews of imdb_train (a seeded subset),
--test reviews of imdb_test (a seeded subset), the frozen encoder's features (bertclf's boost path: max_length
128, mean pooling, computed once and cached). Each trial trains a linear head on the features (lr,
weight_decay and epochs sampled by TPE; full-batch AdamW) on the K-1 other folds and is scored on each
fold in turn (bertclf's own fold assignment); a pruner sees each fold's score. Both pruners get the
same budget of fold fits (equal time: one fold fit costs the same whichever pruner asks for it), over
--seeds searches each; the configuration each picks (the best mean over its complete folds) is refit on
all of train and scored once on test. Prints one JSON object, also written to --out.

  python bench/folds.py --data-dir ../shared/data --bert_name MODEL_FOLDER --out bench/results/folds/folds.json
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import optuna
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bertclf.atomic import write_text  # noqa: E402
from bertclf.config import TrainConfig  # noqa: E402
from bertclf.inputs import prepared_for  # noqa: E402


def features(path: str, n: int, folds: int, args, log, max_length: int = 128, truncation: str = "head"):
    """(features [n, dim], labels [n], each row's fold): the product's boost inputs of `path`."""
    config = TrainConfig(train_path=path, bert_name=args.bert_name, max_length=max_length, truncation=truncation,
                         boost=True, bert_finetuning=False, pooling="mean", cv_folds=folds, max_train_samples=n,
                         seed=args.split_seed, cache_dir=args.cache_dir, progress=False, precision="fp32")
    inputs = prepared_for(config, log)
    return inputs.features["train"].float(), inputs.labels["train"], inputs.folds


def fit_head(x, y, params: dict, seed: int):
    """A linear head on standardised features, trained full-batch; returns predict(x) -> labels."""
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0) + 1e-6
    head = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    optimizer = torch.optim.AdamW(head.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
    for _ in range(params["epochs"]):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(head((x - mean) / std), y).backward()
        optimizer.step()
    return lambda z: head((z - mean) / std).argmax(1)


def accuracy(predict, x, y) -> float:
    with torch.no_grad():
        return float((predict(x) == y).float().mean())


def search(train, k: int, pruner, budget: int, seed: int):
    """(the sampled parameters of the best trial with all k folds, fold fits used, trials, pruned)."""
    x, y, folds = train
    folds = torch.tensor(folds)
    used = {"fits": 0}

    def objective(trial):
        params = {"lr": trial.suggest_float("lr", 1e-4, 1.0, log=True),
                  "weight_decay": trial.suggest_float("weight_decay", 1e-5, 10.0, log=True),
                  "epochs": trial.suggest_int("epochs", 5, 300, log=True)}
        scores = []
        for fold in range(k):
            if used["fits"] >= budget:
                raise optuna.TrialPruned()  # the budget is spent: an incomplete trial is not scored
            used["fits"] += 1
            keep = folds != fold
            scores.append(accuracy(fit_head(x[keep], y[keep], params, seed), x[~keep], y[~keep]))
            trial.report(statistics.fmean(scores) if isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)
                         else scores[-1], fold)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return statistics.fmean(scores)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    while used["fits"] < budget:
        study.optimize(objective, n_trials=1)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return max(complete, key=lambda t: t.value).params, used["fits"], len(study.trials), pruned


PRUNERS = {
    # ASHA as a search runs it on folds: a rung after the first fold, half the trials kept at each
    "asha_running_mean": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
    "wilcoxon": lambda: optuna.pruners.WilcoxonPruner(p_threshold=0.1),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="the folder of imdb_train.csv.gz and imdb_test.csv.gz")
    parser.add_argument("--bert_name", required=True, help="the encoder (a folder: all-MiniLM-L6-v2)")
    parser.add_argument("--train", type=int, default=400, help="train reviews (default 400)")
    parser.add_argument("--test", type=int, default=1000, help="test reviews (default 1000)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=60, help="fold fits per search (default 60: 12 full trials)")
    parser.add_argument("--seeds", type=int, default=5, help="searches per pruner (default 5)")
    parser.add_argument("--split-seed", type=int, default=42)
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/bert-hpo/bench-folds"))
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    train = features(os.path.join(args.data_dir, "imdb_train.csv.gz"), args.train, args.folds, args, log)
    test_x, test_y, _ = features(os.path.join(args.data_dir, "imdb_test.csv.gz"), args.test, 2, args, log)
    result = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "optuna": optuna.__version__, "train": args.train, "test": args.test, "folds": args.folds,
              "budget_fold_fits": args.budget, "seeds": args.seeds, "pruners": {}}
    for name, make in PRUNERS.items():
        runs = []
        for seed in range(args.seeds):
            params, fits, trials, pruned = search(train, args.folds, make(), args.budget, seed)
            test = accuracy(fit_head(train[0], train[1], params, seed), test_x, test_y)
            runs.append({"seed": seed, "params": params, "fold_fits": fits, "trials": trials, "pruned": pruned,
                         "test_accuracy": test})
            log(f"{name} seed {seed}: {trials} trials ({pruned} pruned), picked {params}: test {test:.4f}")
        result["pruners"][name] = summary(runs)
    return finish(result, started, args.out)


def summary(runs: list) -> dict:
    """The searches' picks on test (mean, std) and trials per search, with every run."""
    tests = [r["test_accuracy"] for r in runs]
    return {"test_accuracy_mean": statistics.fmean(tests),
            "test_accuracy_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
            "trials_mean": statistics.fmean(r["trials"] for r in runs), "runs": runs}


def finish(result: dict, started: float, out) -> int:
    """The report with its seconds, printed, and written to `out` when given; the exit status."""
    result["seconds"] = time.perf_counter() - started
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        write_text(out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
