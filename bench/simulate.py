"""Search strategies replayed on recorded learning curves at 1 to 64 workers (bench/replay.py), many
seeds each; writes the per-seed numbers (JSON) and a report of medians and spreads (markdown).

  python bench/simulate.py --table bench/results/curves/curves_boost.json --workers 1 8 32 64 --seeds 30 \
      --output bench/results/simulation/simulation_boost.json

Two ways to end a search: a fixed trial count (--trials-per-worker, --num-samples: every method runs
that many trials), or equal time (--horizon-waves K: every method gets the same simulated seconds, K
x the table's median full-trial time, under the product's --time-budget: no proposal and no trial
start after it, running trials stop at their next check; give a trial count no method reaches, the
report counts the seeds where the count bound).

A method is a name, optionally with changes to the shipped spec after `@`:
  default        the spec as shipped: its searcher (TPE) and scheduler (ASHA) from
                 distributed/searchers.py, the engine's stops, every trial in flight (the cluster rule)
  random         Ray's BasicVariantGenerator (the product's, under the time budget), FIFO, every trial to
                 its last epoch, every trial in flight
  tpe_nostop     the shipped TPE, FIFO, every trial to its last epoch (what Trainer.hyperparameter_search
                 does), as many trials in flight as workers
  asha_random    Ray's BasicVariantGenerator with the shipped ASHA and the engine's stops, every trial in flight
  pbt            the shipped PBT (scheduler type pbt, the spec's other settings), every trial in flight
  changes: inflight=all|tune|workers|quarter|N (N x workers; quarter: a quarter of the trials, at least
  the start-up's; tune: at most Tune's own pending-trial limit for its random generator, the larger of
  200 and 1.1 x the cluster's CPUs), startup=N (the spec's startup_trials: TPE's own n_startup_trials), grace=EPOCHS,
  rf=FACTOR, patience=N (the engine's early_stop; -1: off), first=RATE (the first trial's lr_main, over the
  spec's first_trial); e.g. default@inflight=workers,startup=8
"""
import argparse
import json
import logging
import math
import os
import re
import sys
import time
from dataclasses import replace
from multiprocessing import Pool

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bertclf.atomic import write_text  # noqa: E402
from bert_hpo_distributed.budget import BudgetFIFO, BudgetVariants  # noqa: E402
from bert_hpo_distributed.searchers import first_points, scheduler, search_algorithm, to_tune  # noqa: E402
from bert_hpo_distributed.spec.load import load_spec  # noqa: E402
from bench.curve_table import load_table, read_meta  # noqa: E402
from bench.replay import Rules, autoscaling_pending, replay  # noqa: E402

BASE_METHODS = ("default", "random", "tpe_nostop", "asha_random", "pbt")
CHANGES = ("inflight", "startup", "grace", "rf", "patience", "first")
TARGETS = (0.5, 1.0)  # points below the table's best: the target the search is judged on, and a less lucky one


def table_spec(meta: dict):
    """The spec the table was recorded from (its search, profile and --set changes)."""
    return load_spec(meta["search"], meta.get("overrides", []), profile=meta.get("profile", []))


def parse_method(text: str):
    name, _, changes = text.partition("@")
    if name not in BASE_METHODS:
        raise SystemExit(f"error: --methods {text}: expected one of {', '.join(BASE_METHODS)}[@changes]")
    options = dict(item.split("=", 1) for item in changes.split(",") if item)
    unknown = set(options) - set(CHANGES)
    if unknown:
        raise SystemExit(f"error: --methods {text}: unknown change {sorted(unknown)[0]} "
                         f"(expected one of {', '.join(CHANGES)})")
    return name, options


def engine_rules(spec, valid_size: int, stops: bool) -> Rules:
    config = spec.trial_config(spec.default_point())
    return Rules(patience=config.early_stop if stops else -1, degenerate_check=config.degenerate_check and stops,
                 n_epochs=config.n_epochs, valid_size=valid_size)


def setting(spec, method: str, workers: int, num_samples: int, seed: int, valid_size: int):
    """(searcher, scheduler, trials in flight, param_space, engine rules) of one method."""
    name, options = parse_method(method)
    spec = replace(spec, seed=seed, num_samples=num_samples)
    sched = spec.scheduler
    if "grace" in options:
        sched = replace(sched, grace_period=float(options["grace"]))
    if "rf" in options:
        sched = replace(sched, reduction_factor=float(options["rf"]))
    if name == "pbt":
        sched = replace(sched, type="pbt")
    max_epochs = _max_epochs(spec)
    startup = int(options.get("startup", spec.startup_trials))
    inflight = options.get("inflight", "workers" if name == "tpe_nostop" else "all")
    concurrency = (num_samples if inflight == "all" else workers if inflight == "workers"
                   else min(num_samples, autoscaling_pending(workers)) if inflight == "tune"
                   else min(num_samples, max(startup, math.ceil(num_samples / 4))) if inflight == "quarter"
                   else max(1, round(float(inflight) * workers)))
    spec = replace(spec, scheduler=sched, startup_trials=startup)
    if "patience" in options:
        spec = replace(spec, fixed={**spec.fixed, "early_stop": int(options["patience"])})
    if "first" in options:
        spec = replace(spec, first_trial={**spec.first_trial, "lr_main": float(options["first"])})
    space = {key: to_tune(dist) for key, dist in spec.space.items()}
    points = first_points(spec, None)
    if name == "tpe_nostop":
        spec = replace(spec, scheduler=replace(sched, type="none"))
    stopper = scheduler(spec, max_epochs) if name != "random" else BudgetFIFO()  # FIFO, under the time budget
    rules = engine_rules(spec, valid_size, stops=name not in ("random", "tpe_nostop"))
    if name in ("random", "asha_random"):
        return BudgetVariants(random_state=seed), stopper, concurrency, space, rules
    return (search_algorithm(spec, concurrency, points), stopper, concurrency, space if name == "pbt" else None,
            rules)


def run_one(job):
    table_path, clock, method, workers, num_samples, seed, overhead, targets, fresh_rows, waves = job
    logging.getLogger("ray.tune").setLevel(logging.WARNING)  # PBT logs every exploit at INFO
    table, spec = _load(table_path, clock), _spec(table_path)
    searcher, sched, concurrency, space, rules = setting(spec, method, workers, num_samples, seed, valid_size(table))
    started = time.perf_counter()
    out = replay(table, searcher, sched, workers=workers, concurrency=concurrency, num_samples=num_samples,
                 rules=rules, seed=seed, param_space=space, start_overhead_s=overhead, fresh_rows=fresh_rows,
                 horizon_s=horizon(table, waves))
    return {"method": method, "workers": workers, "seed": seed, "num_samples": num_samples, "concurrency": concurrency,
            "started": out.started, "unstarted": out.unstarted,
            "time_to_target_s": {str(p): out.time_to(table.best - p / 100) for p in targets}, "final": out.final,
            "gap": table.best - out.final, "end_s": out.end_s, "trials": out.trials, "checks": out.checks,
            "worker_s": out.worker_s, "exploits": out.exploits, "cut": out.cut, "cpu_s": time.perf_counter() - started,
            **proposal_stats(table, out.proposals)}


def horizon(table, waves):
    """Simulated seconds of `waves` x the table's median full-trial time (every check of a row); None
    without waves (a fixed trial count ends the search)."""
    if waves is None:
        return None
    return waves * float(np.median([sum(c[table.clock] for c in r["checks"]) for r in table.rows]))


def proposal_stats(table, proposals) -> dict:
    """What the searcher proposed: the share of trials proposed after it had seen a trial complete,
    the distinct table rows its proposals landed on (a repeat replays the same curve: no new
    information), and the mean best check of the proposed rows."""
    rows = [row for row, _ in proposals]
    return {"informed_share": sum(seen > 0 for _, seen in proposals) / max(1, len(proposals)),
            "distinct_rows": len(set(rows)), "proposed_mean_best": float(np.mean([table.row_best[r] for r in rows]))}


# one process replays many searches of one table: the table, its spec and the spec's longest run are
# read once (parsing the spec and walking its corners cost a third of an 8-worker replay)
_TABLES, _SPECS, _MAX_EPOCHS = {}, {}, {}


def _spec(paths):
    if paths not in _SPECS:
        _SPECS[paths] = table_spec(read_meta(paths))
    return _SPECS[paths]


def _max_epochs(spec) -> float:
    """The longest run's epochs over the space's corners (ASHA's max_t)."""
    key = (spec.name, repr(spec.space), repr(spec.fixed))
    if key not in _MAX_EPOCHS:
        _MAX_EPOCHS[key] = max(spec.trial_config(c).n_epochs for c in spec.corners())
    return _MAX_EPOCHS[key]


def _load(paths, clock):
    if (paths, clock) not in _TABLES:
        _TABLES[paths, clock] = load_table(paths, _spec(paths).space, clock)
    return _TABLES[paths, clock]


def valid_size(table) -> int:
    """The validation rows behind the table's scores, from the recorder's description of its inputs."""
    sizes = {int(m.group(1)) for text in table.meta.get("inputs", {}).values()
             for m in [re.search(r"(\d+) valid", text)] if m}
    return sizes.pop() if len(sizes) == 1 else 1000


def quantiles(values):
    """(25th, 50th, 75th percentile); math.inf where a run never reached the target."""
    a = np.sort(np.array(values, dtype=float))
    return tuple(float(np.percentile(a, q, method="nearest")) for q in (25, 50, 75))


def summarise(rows, table, targets) -> dict:
    groups = {}
    for r in rows:
        groups.setdefault((r["method"], r["workers"]), []).append(r)
    summary = []
    for (method, workers), rs in sorted(groups.items(), key=lambda kv: kv[0][1]):  # methods in the given order
        g25, g50, g75 = quantiles([r["gap"] for r in rs])
        summary.append({"method": method, "workers": workers, "seeds": len(rs), "num_samples": rs[0]["num_samples"],
                        "concurrency": rs[0]["concurrency"],
                        "reached": {p: sum(math.isfinite(r["time_to_target_s"][p]) for r in rs) for p in targets},
                        "time_to_target_s": {p: quantiles([r["time_to_target_s"][p] for r in rs]) for p in targets},
                        "gap_points": [100 * g25, 100 * g50, 100 * g75],
                        "end_s": quantiles([r["end_s"] for r in rs]),
                        "worker_s_median": float(np.median([r["worker_s"] for r in rs])),
                        "trials_median": float(np.median([r["trials"] for r in rs])),
                        "started_median": float(np.median([r.get("started", r["trials"]) for r in rs])),
                        # seeds that started every trial of the count: the count, not the horizon, ended them
                        "ran_out": sum(r.get("started", r["trials"]) >= r["num_samples"] for r in rs),
                        "cut": sum(bool(r.get("cut")) for r in rs),
                        "proposals": {k: float(np.median([r[k] for r in rs if k in r] or [math.nan]))
                                      for k in ("informed_share", "distinct_rows", "proposed_mean_best")}})
    return {"table_best": table.best, "rows_in_table": len(table.rows), "targets_points": list(targets),
            # how many configurations a search can find each target in: 2 of 437 is a lottery
            "rows_within_target": {p: sum(b >= table.best - float(p) / 100 for b in table.row_best) for p in targets},
            "settings": summary}


def fmt_s(x):
    return "never" if not math.isfinite(x) else f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def fmt_proposals(p: dict):
    """Medians over seeds: share of trials proposed after a result came back, distinct rows, their mean best."""
    values = [p.get(k, math.nan) for k in ("informed_share", "distinct_rows", "proposed_mean_best")]
    return ["-" if not math.isfinite(v) else f"{v:.2f}" if i == 0 else f"{v:.0f}" if i == 1 else f"{v:.4f}"
            for i, v in enumerate(values)]


def markdown(summary, table_path, args) -> str:
    targets = summary["targets_points"]
    lines = [f"Table {', '.join(f'`{p}`' for p in table_path)}: {summary['rows_in_table']} configurations, best check "
             f"{summary['table_best']:.4f}; targets {' and '.join(f'{p} point' for p in targets)} below it"
             + (f" ({' and '.join(str(summary['rows_within_target'][p]) for p in targets)} configurations reach them)"
                if "rows_within_target" in summary else "") + ". "
             f"Up to {args.seeds} seeds per setting; start overhead {args.start_overhead} s per trial start. "
             + (" Every trial replays a row no earlier trial replayed (--fresh-rows)." if args.fresh_rows else "")
             + (f" Equal time: every search ends at a horizon of {summary['horizon_s']:.2f} s ({args.horizon_waves:g} x "
                f"the table's median full-trial time; no trial starts after it, running trials stop at their next "
                f"check); `trials` is the count asked for, `started` the median started before the horizon."
                if args.horizon_waves else "")
             + f" Time in simulated seconds (a check lasts its recorded `{args.clock}`); median [25th, 75th percentile] over seeds; `never`: the target was "
             f"not reached in that share of seeds."
             + ("" if summary.get("complete", True) else
                " **Partial**: the command was stopped; only the worker counts below finished."), "",
             "| workers | method | trials | started | in flight | "
             + " | ".join(f"reached -{p} | time to -{p} pt, s" for p in targets)
             + " | final gap, points | search ends, s | worker-s | informed | distinct rows | proposed rows' best |",
             "|---|---|---|---|---|" + "---|---|" * len(targets) + "---|---|---|---|---|---|"]
    by_workers = {}
    for s in summary["settings"]:
        by_workers.setdefault(s["workers"], []).append(s)
    for workers, ss in by_workers.items():
        for s in ss:
            times = " | ".join(f"{s['reached'][p]}/{s['seeds']} | {fmt_s(s['time_to_target_s'][p][1])} "
                               f"[{fmt_s(s['time_to_target_s'][p][0])}, {fmt_s(s['time_to_target_s'][p][2])}]"
                               for p in targets)
            g, e = s["gap_points"], s["end_s"]
            cut = f" ({s['cut']}/{s['seeds']} cut at max_checks)" if s.get("cut") else ""
            if args.horizon_waves and s.get("ran_out"):
                cut += f" ({s['ran_out']}/{s['seeds']} ran out of trials before the horizon)"
            lines.append(f"| {workers} | {s['method']}{cut} | {s['num_samples']} | {s.get('started_median', math.nan):.0f} | "
                         f"{s['concurrency']} | {times} | "
                         f"{g[1]:.2f} [{g[0]:.2f}, {g[2]:.2f}] | {fmt_s(e[1])} | {s['worker_s_median']:,.0f} | "
                         + " | ".join(fmt_proposals(s.get("proposals", {}))) + " |")
    return "\n".join(lines) + "\n"


def main():
    args = _parser().parse_args()
    for m in args.methods:
        parse_method(m)
    args.table = tuple(args.table)
    try:
        table = _load(args.table, args.clock)
    except ValueError as e:
        print(f"error: --table: {e}", file=sys.stderr)
        sys.exit(2)
    done = _earlier_runs(args) if args.resume else []
    jobs = _jobs(args, table_spec(table.meta), {(r["method"], r["workers"], r["seed"], r["num_samples"]) for r in done})
    started, rows = time.perf_counter(), list(done)
    summary = _write(args, table, rows, started, final=not jobs)
    with Pool(args.jobs) if args.jobs > 1 else _Serial() as pool:
        for left, row in enumerate(pool.imap(run_one, jobs, chunksize=1), start=1 - len(jobs)):
            rows.append(row)  # written after every replay: a stopped grid keeps what finished
            summary = _write(args, table, rows, started, final=left == 0)
    print(markdown(summary, args.table, args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", required=True, nargs="+",
                        help="curves JSON written by bench/record_curves.py (several: one table, same setup)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--methods", nargs="+", default=list(BASE_METHODS))
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--trials-per-worker", type=float, default=4.0,
                        help="trials per search: this x workers, at least the spec's num_samples")
    parser.add_argument("--num-samples", type=int, default=None, help="trials per search, for every worker count")
    parser.add_argument("--targets", type=float, nargs="+", default=list(TARGETS),
                        help="points below the table's best check that count as reached")
    parser.add_argument("--clock", choices=("seconds", "cpu_seconds"), default="seconds",
                        help="a check's duration: the recorded wall seconds, or the recorder's CPU seconds "
                             "(not inflated by the load of a shared machine; tables recorded since it was added)")
    parser.add_argument("--fresh-rows", action="store_true",
                        help="a proposal whose nearest row is already replayed gets the nearest row not replayed "
                             "yet (a new configuration is a new draw, not the same curve again)")
    parser.add_argument("--horizon-waves", type=float, default=None,
                        help="equal time: every search ends after this many x the table's median full-trial time "
                             "(simulated seconds, the product's --time-budget); give --trials-per-worker large "
                             "enough that no method runs out of trials before it")
    parser.add_argument("--start-overhead", type=float, default=0.0, help="simulated seconds to start a trial")
    parser.add_argument("--jobs", type=int, default=1, help="processes")
    parser.add_argument("--resume", action="store_true",
                        help="keep the replays already in --output (same table and targets) and run only the others")
    parser.add_argument("--output", required=True, help="NAME.json: the per-seed numbers; the report goes to NAME.md")
    return parser


def _jobs(args, spec, finished: set) -> list:
    """run_one's arguments for each replay of the grid not in `finished` (method, workers, seed, trials)."""
    jobs = []
    for workers in args.workers:  # the worker counts in the order given; within one, seed by seed over
        # the methods, so that a grid stopped early holds about as many seeds of every method
        n = args.num_samples or max(spec.num_samples, math.ceil(args.trials_per_worker * workers))
        jobs += [(args.table, args.clock, m, workers, n, seed, args.start_overhead, tuple(args.targets),
                  args.fresh_rows, args.horizon_waves)
                 for seed in range(args.seeds) for m in args.methods if (m, workers, seed, n) not in finished]
    return jobs


def _write(args, table, rows: list, started: float, final: bool) -> dict:
    """--output's JSON and its .md report of the replays in `rows`; the summary."""
    summary = summarise(rows, table, [str(p) for p in args.targets])
    summary["command"] = " ".join(sys.argv)
    summary["table"] = list(args.table)
    summary["clock"] = args.clock
    summary["fresh_rows"] = args.fresh_rows
    summary["horizon_waves"] = args.horizon_waves
    summary["horizon_s"] = horizon(table, args.horizon_waves)
    summary["cpu_s"] = time.perf_counter() - started
    summary["complete"] = final
    write_text(args.output, json.dumps({"summary": summary, "runs": rows}, separators=(",", ":")))
    write_text(os.path.splitext(args.output)[0] + ".md", markdown(summary, args.table, args))
    return summary


def _earlier_runs(args) -> list:
    """The replays an earlier run of the same table and targets wrote to --output."""
    if not os.path.exists(args.output):
        return []
    earlier = json.loads(open(args.output, encoding="utf-8").read())
    same = (earlier["summary"]["table"] == list(args.table)
            and earlier["summary"]["targets_points"] == [str(p) for p in args.targets]
            and earlier["summary"].get("clock", "seconds") == args.clock
            and earlier["summary"].get("fresh_rows", False) == args.fresh_rows
            and earlier["summary"].get("horizon_waves") == args.horizon_waves)
    if not same:
        raise SystemExit(f"error: --resume: {args.output} holds replays of another table, targets, --clock, "
                         f"--fresh-rows or --horizon-waves")
    return earlier["runs"]


class _Serial:
    """Pool's imap in this process (--jobs 1)."""
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def imap(function, items, chunksize=1):
        return map(function, items)


if __name__ == "__main__":
    main()
