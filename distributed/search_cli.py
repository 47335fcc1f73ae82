"""`launch.py --search NAME [options]`: argument parsing for the search."""
import argparse
import sys

from bertclf.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="launch.py --search",
                                description="Search hyperparameters with Ray Tune + Optuna (TPE) + ASHA.")
    p.add_argument("--search", required=True, metavar="NAME",
                   help="a search space: imdb, nsmc, ... (search_spaces/NAME.yaml) or a .yaml path")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the search space, e.g. num_samples=8, fixed.n_epochs=2, "
                        "space.max_length.choice=[128,256] (repeatable)")
    p.add_argument("--smoke-test", action="store_true",
                   help="the whole pipeline with a tiny model built on the fly and a small data slice")
    p.add_argument("--resume", action="store_true", help="continue an interrupted search of the same name")
    p.add_argument("--address", help="join a running Ray cluster (e.g. auto); default: start Ray locally")
    p.add_argument("--storage-path", help="where trials and checkpoints go: a folder (shared on a "
                   "cluster) or s3://bucket/prefix; default: OUTPUT_DIR/NAME")
    p.add_argument("--output-dir", default="results", help="results.md, results.csv, best_model/ go to "
                   "OUTPUT_DIR/NAME (default: results)")
    p.add_argument("--data-dir", help="data folder (default: $BERT_HPO_DATA_DIR or ~/.cache/bert-hpo/data)")
    p.add_argument("--num-samples", type=int, help="number of trials (overrides the spec)")
    p.add_argument("--max-concurrent", type=int, help="trials at a time (default: from the resources)")
    p.add_argument("--name", help="search name (default: the spec's name; -smoke added for --smoke-test)")
    p.add_argument("--cpu", dest="force_cpu", action="store_true",
                   help="run the CPU-sized search even where GPUs exist")
    p.add_argument("--num-cpus", type=int, help="CPUs for a local Ray (default: all)")
    p.add_argument("--no-shared-inputs", dest="share_inputs", action="store_false",
                   help="every trial tokenises and computes boost features itself, as the seed did "
                        "(for benchmarks; the default computes them once for the whole search)")
    p.add_argument("--dashboard-host", default="127.0.0.1",
                   help="interface for the local Ray dashboard (default 127.0.0.1: this machine only)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .search import SearchOptions, run_search
    try:
        run_search(SearchOptions(**vars(args)))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished trials are kept; run the same command with --resume",
              file=sys.stderr)
        return 130
    return 0
