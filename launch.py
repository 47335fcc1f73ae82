#!/usr/bin/env python
"""bert-hpo's one entry point.

  python launch.py --train_path train.csv [--valid_path valid.csv] [seed options]   one run
  python launch.py --predict --model runs/NAME --text "..."                         predict
  python launch.py --search imdb [--smoke-test] [--resume] ...                      search (Ray Tune)
"""
import argparse
import importlib.util
import sys
from pathlib import Path


def _checkout_packages() -> None:
    """Run from a checkout without `pip install`: the Ray side's folder distributed/ is imported as
    bert_hpo_distributed (its installed name, pyproject.toml), the engine from ./bertclf."""
    root = Path(__file__).resolve().parent
    sys.path.insert(0, str(root))
    if importlib.util.find_spec("bert_hpo_distributed") is None:
        spec = importlib.util.spec_from_file_location("bert_hpo_distributed", root / "distributed" / "__init__.py",
                                                      submodule_search_locations=[str(root / "distributed")])
        module = importlib.util.module_from_spec(spec)
        sys.modules["bert_hpo_distributed"] = module
        spec.loader.exec_module(module)


def build_parser():
    """(the parser of every option, the engine's actions, the search's actions)."""
    from bert_hpo_distributed.search_cli import add_arguments as add_search_arguments  # imports no Ray
    from bertclf.cli import add_arguments as add_engine_arguments
    parser = argparse.ArgumentParser(
        prog="launch.py", usage="launch.py --search NAME [search options] | --train_path FILE [options] | "
        "--predict --model FOLDER --text TEXT", description="Search hyperparameters of a BERT text classifier (--search NAME), "
        "train one configuration, or predict with a saved model (--predict).")
    return parser, add_engine_arguments(parser), add_search_arguments(parser)


def parse(argv=None):
    """(parser, the engine's actions, the search's, the parsed arguments): args.given holds the options
    the command line names, whatever their value (one given at its default too: --cv-folds 0 switches
    off a spec's cv_folds)."""
    parser, engine, search = build_parser()
    args = parser.parse_args(argv)
    # argparse leaves a value the namespace holds already where its option is absent; a list, so that an
    # option that appends (--text, --set) appends to a copy of it
    unset = type("Unset", (list,), {})()
    named = parser.parse_args(argv, argparse.Namespace(**{action.dest: unset for action in engine + search}))
    args.given = {action.dest for action in engine + search if getattr(named, action.dest) is not unset}
    return parser, engine, search, args


def main(argv=None) -> int:
    from bert_hpo_distributed.search_cli import DATA_OPTIONS, set_form
    parser, engine, search, args = parse(argv)
    # options of the other mode would be silently ignored: refuse them (a search reads your own data's
    # files and columns from the single run's options of the same names)
    for action in [a for a in engine if a.dest not in DATA_OPTIONS] if args.search else search:
        if action.dest in args.given if args.search else getattr(args, action.dest) != action.default:
            parser.error(f"{action.option_strings[0]} is not an option of "
                         + (f"--search ({set_form(action.dest, getattr(args, action.dest))})"
                            if args.search else "a single run or --predict: it needs --search NAME"))
    if args.search:
        from bert_hpo_distributed.search_cli import run as run_search  # the only path into Ray
        return run_search(args)
    from bertclf.cli import run
    return run(args)


if __name__ == "__main__":
    _checkout_packages()
    try:
        sys.exit(main())
    except ModuleNotFoundError as e:  # a dependency not installed: say which, not a traceback
        sys.exit(f"error: the module {e.name!r} is not installed: install the project first (README, Install)")
