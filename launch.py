#!/usr/bin/env python
"""bert-hpo's one entry point.

  python launch.py --train_path train.csv [--valid_path valid.csv] [seed options]   one run
  python launch.py --predict --model runs/NAME --text "..."                         predict
  python launch.py --search imdb [--smoke-test] [--resume] ...                      search (Ray Tune)
"""
import argparse
import sys


def build_parser():
    """(the parser of every option, the engine's actions, the search's actions)."""
    from bert_hpo_distributed.search_cli import add_arguments as add_search_arguments  # imports no Ray
    from bertclf.cli import add_arguments as add_engine_arguments
    parser = argparse.ArgumentParser(
        prog="launch.py", usage="launch.py --search NAME [search options] | --train_path FILE [options] | "
        "--predict --model FOLDER --text TEXT", description="Search hyperparameters of a BERT text classifier (--search NAME), "
        "train one configuration, or predict with a saved model (--predict).")
    return parser, add_engine_arguments(parser), add_search_arguments(parser)


def main(argv=None) -> int:
    parser, engine, search = build_parser()
    args = parser.parse_args(argv)
    # options of the other mode would be silently ignored: refuse them
    for action in engine if args.search else search:
        if getattr(args, action.dest) != action.default:
            parser.error(f"{action.option_strings[0]} is not an option of "
                         + ("--search (a search sets training options with --set fixed.NAME=VALUE)"
                            if args.search else "a single run or --predict: it needs --search NAME"))
    if args.search:
        from bert_hpo_distributed.search_cli import run as run_search  # the only path into Ray
        return run_search(args)
    from bertclf.cli import run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
