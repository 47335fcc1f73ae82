"""`launch.py --search NAME [options]`: the search's options, and the exit status of a search."""
import argparse
import json
import sys

from bertclf.config import INT8_TOLERANCE
from bertclf.errors import UserError

# options of a single run that a search takes too, for your own data and how it is validated: each option
# is the spec key it sets (a --set of its own)
DATA_OPTIONS = {"train_path": "files.train", "valid_path": "files.valid", "test_path": "files.test",
                "text_column": "columns.text", "text_pair_column": "columns.pair", "label_column": "columns.label",
                "cv_folds": "fixed.cv_folds"}



def set_form(option: str, value) -> str:
    """How a search sets a single run's `option` (refused after --search), for the refusal to name."""
    from .spec.sections import SET_BY_SEARCH, TOP_KEYS, TRAIN_FIELDS
    if option in TOP_KEYS:  # task, metric, seed: the spec states them at its top level
        return f"a search sets it with --set {option}={value}"
    if option in TRAIN_FIELDS - SET_BY_SEARCH:
        return f"a search sets training options with --set fixed.{option}=VALUE"
    return f"a search sets {option} itself"


# the options only a search takes, after --search: (flags, argparse's keywords)
OPTIONS = [
    (["--set"], dict(dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a field of the search space, e.g. num_samples=8, fixed.n_epochs=2, "
                          "space.max_length.choice=[128,256] (repeatable)")),
    (["--smoke-test"], dict(action="store_true", help="the whole pipeline in seconds: a tiny BERT and a shipped data "
                                                      "slice (with --data-dir, a slice of the data there)")),
    (["--resume"], dict(action="store_true", help="continue an interrupted search of the same name")),
    (["--refit"], dict(action="store_true", help="after the search, train the best configuration on all of train with "
                                                 "Ray Train and score it on test (also the spec's refit: true)")),
    (["--time-budget"], dict(type=float, metavar="SECONDS",
                             help="no new trial starts SECONDS after the trials started (running trials stop at "
                                  "their next check); the outputs are written as usual (also the spec's time_budget)")),
    (["--repeats"], dict(type=int, metavar="N",
                         help="train the best configurations (the spec's repeat_top, default 3) again with N "
                              "seeds each; results.md shows mean ± std of valid and test, and the winner is "
                              "decided on the mean (N >= 2; 0: none; also the spec's repeats)")),
    (["--mlflow"], dict(nargs="?", const="", metavar="URI",
                        help="log every trial to MLflow (one run per trial: params, metrics per check; the best model "
                             "as an artifact); without URI a SQLite store, OUTPUT_DIR/NAME/mlflow.db; needs the mlflow "
                             "extra: pip install 'bert-hpo[mlflow]'")),
    (["--study-storage"], dict(metavar="URL",
                               help="the Optuna study behind a TPE search goes to this database (an SQLAlchemy URL, "
                                    "e.g. postgresql://user:password@host/db), named after the search; default: "
                                    "SQLite, OUTPUT_DIR/NAME/optuna.db. Watch it live: optuna-dashboard URL")),
    (["--keep-checkpoints"], dict(action="store_true", help="keep the trials' checkpoints (default: deleted once "
                                                            "best_model/ is written; the summary says how much the "
                                                            "search wrote)")),
    (["--space-check"], dict(choices=["refuse", "warn"], default="refuse",
                             help="when a folder's free space is under the estimate of what the search writes there "
                                  "(an upper bound: docs/search.md): refuse to start (default), or warn and start")),
    (["--warm-start"], dict(metavar="DIR", help="evaluate the best configurations of an earlier search first (its "
                                                "output folder)")),
    (["--max-latency-ms"], dict(type=float, metavar="MS",
                                help="a constraint: configurations whose measured latency per example (batch 1) is "
                                     "above MS are not trained, and none becomes best_model (also the spec's "
                                     "constraints: {latency_ms: MS}; docs/deploy.md)")),
    (["--max-model-mb"], dict(type=float, metavar="MB",
                              help="a constraint: the same for the size of the model's ONNX file (also the spec's "
                                   "constraints: {model_mb: MB})")),
    (["--serve-device"], dict(choices=["cpu", "cuda"], default="cpu",
                              help="where inference costs are measured, when the spec has objectives or constraints: "
                                   "this machine's CPU (default), or its GPU (cuda)")),
    (["--export-front"], dict(action="store_true", help="write the model of every trial of the Pareto front to "
                                                        "OUTPUT_DIR/NAME/front/ (default: best_model/ alone)")),
    (["--int8-tolerance"], dict(type=float, default=INT8_TOLERANCE, metavar="POINTS",
                                help="a model of precision int8: its int8 ONNX copy ships only when its valid metric "
                                     f"is at most POINTS below the fp32 copy's (default {INT8_TOLERANCE:g})")),
    (["--address"], dict(help="join a running Ray cluster (e.g. auto); default: start Ray locally")),
    (["--storage-path"], dict(metavar="STORAGE", help="trials, checkpoints and a copy of the outputs go to STORAGE/NAME: "
                                                      "a folder every node reaches, or s3://bucket/prefix; default: "
                                                      "the output folder")),
    (["--output-dir"], dict(help="results.md, results.csv, best_model/ go to OUTPUT_DIR/NAME (default: results)")),
    (["--data-dir"], dict(help="data folder (default: $BERT_HPO_DATA_DIR or ~/.cache/bert-hpo/data)")),
    (["--num-samples"], dict(metavar="N", type=int, help="number of trials (overrides the spec)")),
    (["--max-concurrent"], dict(metavar="N", type=int, help="trials at a time (default: what the resources hold; "
                                                            "on a cluster, every trial)")),
    (["--name"], dict(help="search name (default: the spec's name; -smoke added for --smoke-test)")),
    (["--cpu"], dict(dest="force_cpu", action="store_true", help="run the CPU-sized search even where GPUs exist")),
    (["--num-cpus"], dict(metavar="N", type=int, help="CPUs for a local Ray (default: all)")),
    (["--gpu-wait"], dict(type=float, default=600.0, metavar="SECONDS",
                          help="how long to wait for a GPU before the trials (on a cluster, for the autoscaler; "
                               "default 600)")),
    (["--no-shared-inputs"], dict(dest="share_inputs", action="store_false",
                                  help="every trial tokenises and computes boost features itself, as Pytorch-BERT-Classification did "
                                       "(for benchmarks; the default computes them once for the whole search)")),
    (["--dashboard-host"], dict(metavar="HOST", default="127.0.0.1",
                                help="interface for the local Ray dashboard (default 127.0.0.1: this machine only)")),
    (["--verbose"], dict(action="store_true", help="show Ray's own output: its tables and the workers' logs")),
    (["--test_path", "--test-path"], dict(metavar="FILE",
                                          help="your own test data, labelled: the best model is scored on it once "
                                               "(with --train_path and the --*_column options of a single run, e.g. "
                                               "with --search classify)")),
]


def add_arguments(parser: argparse.ArgumentParser) -> list:
    """--search and the options only a search takes (OPTIONS), in their group of `parser`; returns the
    actions added after --search (importing this module imports no Ray)."""
    p = parser.add_argument_group("search (--search NAME: Ray Tune + Optuna (TPE) + ASHA or PBT)")
    p.add_argument("--search", metavar="NAME",
                   help="a search space: imdb, imdb-minilm, nsmc, korquad, or classify for your own files "
                        "(search_spaces/NAME.yaml), or a .yaml path")
    return [p.add_argument(*flags, **options) for flags, options in OPTIONS]


def search_options(args: argparse.Namespace):
    """SearchOptions from the parsed arguments (launch.parse's); the data options the command line names
    (args.given) become --set overrides of the spec (before the user's own --set, which win), at whatever
    value: --cv-folds 0 is one held-out split whatever the spec's cv_folds. An option not named sets
    nothing: the spec's own value stands."""
    import dataclasses
    from .plan import SearchOptions  # Ray stays unimported until a search runs
    data = [f"{key}={json.dumps(getattr(args, name))}" for name, key in DATA_OPTIONS.items() if name in args.given]
    options = {f.name: getattr(args, f.name) for f in dataclasses.fields(SearchOptions)}
    return SearchOptions(**{**options, "overrides": data + options["overrides"]})


def run(args: argparse.Namespace) -> int:
    """The search of parsed options (args.search set); the exit status (2: bad input, 1: every trial
    failed or the disk filled, 130, 143, 129: interrupted by SIGINT (Ctrl-C), SIGTERM, SIGHUP)."""
    from .disk import describe_disk
    from .interrupts import exit_code
    from .outputs import SearchFailed
    from .space import DiskFull
    from .search import InterruptedBeforeTrials, SearchInterrupted, run_search, say
    from .search_record import SearchFinishedAlready
    try:
        summary = run_search(search_options(args))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (SearchFailed, DiskFull) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except SearchFinishedAlready as e:
        say(str(e))
        return 0
    except InterruptedBeforeTrials as e:
        print(f"interrupted {e}", file=sys.stderr)
        return exit_code()
    except (KeyboardInterrupt, SearchInterrupted) as e:
        print(f"interrupted: {str(e) or 'the finished trials are kept'}; run the same command with --resume", file=sys.stderr)
        return exit_code()
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary["statuses"].items()))
    say(f"done in {summary['seconds']['total']:.0f} s: {summary['trials']} trials ({statuses})")
    if summary["errors"]:
        say(f"{summary['errors']} of {summary['trials']} trials failed: their errors are in results.csv")
    for what, path in summary["written"].items():
        say(f"  {what}: {path}")
    say(describe_disk(summary["disk"]))
    return 0
