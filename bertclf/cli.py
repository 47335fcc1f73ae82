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
    parser.add_argument("--input", help="a file with one text per line to classify")
    parser.add_argument("--question", action="append", help="QA models: a question (pairs with --context)")
    parser.add_argument("--context", action="append", help="QA models: the passage to answer from")
    add_train_arguments(parser)
    return parser


def run_predict(args) -> int:
    if not args.model:
        raise UserError("--predict needs --model FOLDER")
    from .model_io import read_meta
    if read_meta(args.model).get("task") == "qa":
        return run_answer(args)
    texts = list(args.text or [])
    if args.input:
        path = Path(args.input)
        if not path.is_file():
            raise UserError(f"--input {path}: no such file")
        texts += [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise UserError("--predict needs --text \"...\" or --input FILE")
    from .predict import predict_texts
    for row in predict_texts(args.model, texts):
        print(json.dumps({"label": row["label"], "probability": round(row["probability"], 4),
                          "text": row["text"][:80]}, ensure_ascii=False))
    return 0


def run_answer(args) -> int:
    questions, contexts = args.question or [], args.context or []
    if not questions or len(questions) != len(contexts):
        raise UserError("a QA model needs --question \"...\" --context \"...\" (one --context per --question)")
    from .predict import answer_questions
    for row in answer_questions(args.model, list(zip(questions, contexts))):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def run_train(args) -> int:
    config = config_from_args(args)
    if not config.train_path:
        raise UserError("--train_path is required (or use --search DATASET, or --predict)")
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
