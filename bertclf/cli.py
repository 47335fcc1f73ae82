"""`launch.py` without --search: train one configuration, or --predict with a saved model."""
import argparse
import json
import os
import sys
from pathlib import Path

from .config import add_train_arguments, config_from_args
from .errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py", description="Train a BERT text classifier (one run), predict with one, "
        "or search hyperparameters with --search DATASET (see --search --help).")
    parser.add_argument("--predict", action="store_true", help="predict with --model on --text/--input")
    parser.add_argument("--model", help="a saved model folder (a run folder or a search's best_model)")
    parser.add_argument("--text", action="append", help="a text to classify (repeatable)")
    parser.add_argument("--text_pair", action="append",
                        help="the second text of a pair, for models trained on text pairs (one per --text)")
    parser.add_argument("--input", help="texts to classify: a table (.csv/.tsv/.jsonl/.parquet) with the model's "
                        "text column(s), or a file with one text per line")
    parser.add_argument("--question", action="append", help="QA models: a question (pairs with --context)")
    parser.add_argument("--context", action="append", help="QA models: the passage to answer from")
    add_train_arguments(parser)
    return parser


def run_predict(args) -> int:
    if not args.model:
        raise UserError("--predict needs --model FOLDER")
    from .predict import predict
    for row in predict(args):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def run_train(args) -> int:
    config = config_from_args(args).validate()
    from .train import train
    result = train(config)
    table = (Path(result["run_dir"]) / "results.md").read_text(encoding="utf-8")
    print(table, end="")
    return 0


def main(argv=None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return run_predict(args) if args.predict else run_train(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was saved for this run", file=sys.stderr)
        return 130
