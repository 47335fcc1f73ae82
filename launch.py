#!/usr/bin/env python
"""bert-hpo's one entry point.

  python launch.py --train_path train.csv [--valid_path valid.csv] [seed options]   one run
  python launch.py --predict --model runs/NAME --text "..."                         predict
  python launch.py --search imdb [--smoke-test] [--resume] ...                      search (Ray Tune)
"""
import sys


def main() -> int:
    if "--search" in sys.argv[1:] or any(a.startswith("--search=") for a in sys.argv[1:]):
        from bert_hpo_distributed.search_cli import main as search_main  # the only path into Ray
        return search_main(sys.argv[1:])
    from bertclf.cli import main as train_main
    return train_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
