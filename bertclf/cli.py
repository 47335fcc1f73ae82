"""`launch.py` without --search: train one configuration, or --predict with a saved model."""
import argparse
import json
import os
import sys
from pathlib import Path

from .config import add_train_arguments, config_from_args
from .errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> list:
    """The prediction and single-run options, each in its group of `parser`; returns the actions added."""
    predict = parser.add_argument_group("prediction (--predict --model FOLDER)")
    actions = [
        predict.add_argument("--predict", action="store_true", help="predict with --model on --text/--input"),
        predict.add_argument("--model", metavar="FOLDER", help="a saved model folder (a run folder or a search's best_model)"),
        predict.add_argument("--text", action="append", help="a text to classify (repeatable)"),
        predict.add_argument("--text_pair", action="append",
                             help="the second text of a pair, for models trained on text pairs (one per --text)"),
        predict.add_argument("--input", metavar="FILE", help="texts to classify: a table (.csv/.tsv/.jsonl/.parquet) with the "
                             "model's text column(s), or a file with one text per line"),
        predict.add_argument("--question", action="append", help="QA models: a question (pairs with --context)"),
        predict.add_argument("--context", action="append", help="QA models: the passage to answer from")]
    return actions + add_train_arguments(parser.add_argument_group("one run"))


def run_predict(args) -> int:
    if not args.model:
        raise UserError("--predict needs --model FOLDER")
    from .predict import predict
    for row in predict(args):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def run_train(args) -> int:
    from .train import pooled_as_trained, train  # torch and the model code: not for --help or a search
    config = config_from_args(args)  # its options checked as it is made
    if not config.train_path:
        raise UserError("--train_path is required (or use --search DATASET, or --predict)")
    if args.pooling is None:
        config = pooled_as_trained(config)
    if config.cv_folds:
        return run_folds(config)
    result = train(config)
    table = (Path(result["run_dir"]) / "results.md").read_text(encoding="utf-8")
    print(table, end="")
    return 0


def run_folds(config) -> int:
    """--cv_folds K: the configuration's score, each fold's and their mean ± std, as a table; no model is
    saved (each fold's has seen part of train: a run without --cv_folds trains the one to keep)."""
    from .folds import STD, train_folds
    from .results_table import format_epoch, markdown_table
    from .tasks import task_named
    result = train_folds(config)
    metric = config.metric or task_named(config.task).metrics[0]
    rows = [[str(k), format_epoch(f["epoch"]), f"{f[metric]:.4f}"] for k, f in enumerate(result["folds"], 1)]
    scores = result["scores"]
    rows.append(["mean ± std", format_epoch(round(scores["best_epoch"], 2)),
                 f"{scores['best_' + metric]:.4f} ± {scores['best_' + metric + STD]:.4f}"])
    print(markdown_table(["fold", "Best Epoch", metric.replace("_", " ")], rows), end="")
    print("no model saved: a fold's model has seen part of train; train without --cv_folds for the model to keep",
          file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    """One run or --predict, from parsed options; the exit status (2: bad input, one line)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return run_predict(args) if args.predict else run_train(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was saved for this run", file=sys.stderr)
        return 130
