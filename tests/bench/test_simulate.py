"""The search simulator (bench/replay.py) on a tiny synthetic curve table: a replay is deterministic
for a seed, and runs the product's own searcher and scheduler objects (TPE stops nothing itself,
ASHA stops trials, PBT exploits)."""
import json
import math
import subprocess
import sys

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT))

from bench.curve_table import load_table  # noqa: E402
from bench.replay import replay  # noqa: E402
from bench.simulate import setting, table_spec  # noqa: E402

SPACE = """name: tiny
dataset: imdb
fixed: {n_epochs: 4, early_stop: -1, evals_per_epoch: 1, degenerate_check: false}
space:
  lr: {loguniform: [1.0e-4, 1.0e-1]}
  head: {choice: [linear, mlp]}
num_samples: 12
startup_trials: 3
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
"""


def curve(lr: float, head: str):
    """Accuracy that rises fastest and highest near lr = 1e-2; mlp a little better."""
    quality = 0.9 - 0.08 * abs(math.log10(lr) + 2) + (0.01 if head == "mlp" else 0.0)
    return [{"epoch": e, "valid_accuracy": round(0.5 + (quality - 0.5) * (1 - 0.5 ** e), 4),
             "valid_loss": 1.0 / e, "train_loss": 0.7 / e, "seconds": 2.0 if head == "mlp" else 1.0}
            for e in range(1, 5)]


@pytest.fixture
def table(tmp_path):
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(SPACE)
    rows = [{"config": {"lr": 10 ** (-4 + 3 * i / 11), "head": head}, "checks": curve(10 ** (-4 + 3 * i / 11), head)}
            for i in range(12) for head in ("linear", "mlp")]
    meta = {"search": str(spec_path), "profile": [], "overrides": [], "metric": "valid_accuracy",
            "inputs": {"128/head": "40 train / 20 valid"}}
    path = tmp_path / "curves.json"
    path.write_text(json.dumps({"meta": meta, "rows": rows}))
    return load_table([path], table_spec(meta).space)


def run(table, method, workers=4, seed=0, num_samples=12):
    searcher, sched, concurrency, space, rules = setting(table_spec(table.meta), method, workers, num_samples,
                                                         seed, 20)
    return replay(table, searcher, sched, workers=workers, concurrency=concurrency, num_samples=num_samples,
                  rules=rules, seed=seed, param_space=space), searcher, sched


def test_replay_is_deterministic_and_uses_the_shipped_objects(table):
    first, searcher, sched = run(table, "default")
    again, _, _ = run(table, "default")
    assert (first.trace, first.end_s, first.checks) == (again.trace, again.end_s, again.checks)
    # the product's TPE comes under its time-budget limiter (distributed/budget.py), as in a search
    assert type(searcher).__name__ == "BudgetLimiter" and type(searcher.searcher).__name__ == "TolerantOptunaSearch"
    assert type(sched).__name__ == "BudgetASHA"  # the shipped ASHA: AsyncHyperBandScheduler under the time budget
    assert first.trials == 12
    assert first.checks < 12 * 4  # ASHA stopped some trials before their last epoch
    full, _, _ = run(table, "tpe_nostop")
    assert full.checks == 12 * 4  # no scheduler, no patience: every trial runs all its checks
    other_seed, _, _ = run(table, "default", seed=1)
    assert other_seed.trace != first.trace


def test_workers_share_the_simulated_time_and_pbt_exploits(table):
    one, _, _ = run(table, "random", workers=1)
    four, _, _ = run(table, "random", workers=4)
    assert one.end_s == pytest.approx(one.worker_s)  # one worker: the search is as long as all its checks
    assert four.end_s < one.end_s / 2
    pbt, _, sched = run(table, "pbt", workers=4)
    assert type(sched).__name__ == "BudgetPBT" and pbt.exploits > 0
    assert pbt.final <= table.best
    again, _, _ = run(table, "pbt", workers=4)  # PBT's donor choice too is fixed by the seed
    assert (again.trace, again.exploits, again.checks) == (pbt.trace, pbt.exploits, pbt.checks)
    assert not pbt.cut
    # PBT sends exploited trials back to a donor's earlier check, so a replay is cut at max_checks
    searcher, sched, concurrency, space, rules = setting(table_spec(table.meta), "pbt", 4, 12, 0, 20)
    cut = replay(table, searcher, sched, workers=4, concurrency=concurrency, num_samples=12, rules=rules, seed=0,
                 param_space=space, max_checks=10)
    assert cut.cut and cut.checks == 10


def test_proposals_say_what_the_searcher_knew_and_fresh_rows_never_repeat_a_curve(table):
    """Each trial's row and the trials the searcher had seen complete when it proposed it: with every
    trial in flight TPE proposes all before any result; with fresh_rows no row is replayed twice."""
    all_in_flight, _, _ = run(table, "default", workers=2, num_samples=20)
    assert len(all_in_flight.proposals) == 20 and {seen for _, seen in all_in_flight.proposals} == {0}
    quarter, _, _ = run(table, "default@inflight=quarter", workers=2, num_samples=20)  # 5 in flight
    assert [seen for _, seen in quarter.proposals][:5] == [0] * 5 and quarter.proposals[-1][1] >= 10
    searcher, sched, concurrency, space, rules = setting(table_spec(table.meta), "tpe_nostop", 2, 20, 0, 20)
    fresh = replay(table, searcher, sched, workers=2, concurrency=concurrency, num_samples=20, rules=rules, seed=0,
                   fresh_rows=True)
    rows = [row for row, _ in fresh.proposals]
    assert len(set(rows)) == 20  # 24 rows in the table: every trial a curve of its own
    repeated, _, _ = run(table, "tpe_nostop", workers=2, num_samples=20)
    assert len({row for row, _ in repeated.proposals}) < 20  # TPE's proposals cluster on the best rows


def test_the_readme_commands_run(table, tmp_path):
    """bench/README.md's simulator commands: both --help, and simulate.py on the tiny table."""
    for script in ("bench/record_curves.py", "bench/simulate.py"):
        proc = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0 and "--output" in proc.stdout, proc.stderr
    table_path = tmp_path / "curves.json"
    proc = subprocess.run([sys.executable, "bench/simulate.py", "--table", str(table_path), "--workers", "1", "2",
                           "--seeds", "2", "--methods", "default", "random", "default@inflight=workers,startup=3,grace=2",
                           "--output", str(tmp_path / "sim.json")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    runs = json.loads((tmp_path / "sim.json").read_text())["runs"]
    assert len(runs) == 2 * 2 * 3
    assert "| 2 | default |" in (tmp_path / "sim.md").read_text()
    # --resume keeps the replays already written and runs only the new seed
    proc = subprocess.run([sys.executable, "bench/simulate.py", "--table", str(table_path), "--workers", "1", "2",
                           "--seeds", "3", "--methods", "default", "random", "default@inflight=workers,startup=3,grace=2",
                           "--resume", "--output", str(tmp_path / "sim.json")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    resumed = json.loads((tmp_path / "sim.json").read_text())
    assert resumed["runs"][:len(runs)] == runs and len(resumed["runs"]) == 3 * 2 * 3
    assert {r["seed"] for r in resumed["runs"][len(runs):]} == {2} and resumed["summary"]["complete"]
    # equal time (--horizon-waves): the report says the horizon, and the trial count did not bind
    proc = subprocess.run([sys.executable, "bench/simulate.py", "--table", str(table_path), "--workers", "4", "--seeds", "1",
                           "--horizon-waves", "4", "--trials-per-worker", "15", "--methods", "default", "random",
                           "default@inflight=tune", "--output", str(tmp_path / "equal.json")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    equal = json.loads((tmp_path / "equal.json").read_text())
    assert equal["summary"]["horizon_s"] == 24.0 and "horizon of 24.00 s" in (tmp_path / "equal.md").read_text()
    assert all(r["started"] < r["num_samples"] == 60 for r in equal["runs"]) and equal["runs"][2]["concurrency"] == 60


def test_the_clock_is_the_recorded_wall_or_cpu_seconds(table, tmp_path):
    """--clock cpu_seconds replays each check for its recorded CPU seconds; a table recorded before
    cpu_seconds existed is refused with one error line, not replayed on a mixture of clocks."""
    path = tmp_path / "curves_cpu.json"
    rows = [{"config": r["config"], "checks": [{**c, "cpu_seconds": c["seconds"] / 2} for c in r["checks"]]}
            for r in table.rows]
    path.write_text(json.dumps({"meta": table.meta, "rows": rows}))
    ends = {}
    for clock in ("seconds", "cpu_seconds"):
        halved = load_table([path], table.space, clock)
        searcher, sched, concurrency, space, rules = setting(table_spec(table.meta), "random", 4, 12, 0, 20)
        ends[clock] = replay(halved, searcher, sched, workers=4, concurrency=concurrency, num_samples=12,
                             rules=rules, seed=0, param_space=space).end_s
    assert ends["cpu_seconds"] == pytest.approx(ends["seconds"] / 2) and ends["seconds"] > 0
    old = tmp_path / "curves.json"  # the fixture's table: wall seconds only
    proc = subprocess.run([sys.executable, "bench/simulate.py", "--table", str(path), str(old), "--clock", "cpu_seconds",
                           "--workers", "1", "--seeds", "1", "--output", str(tmp_path / "sim.json")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == \
        f"error: --table: {old}: row 1 has no `cpu_seconds` at every check", proc.stderr
    assert not (tmp_path / "sim.json").exists()


def test_equal_time_every_method_gets_the_same_seconds_and_asha_looks_at_more_configurations(table):
    """--horizon-waves: under the product's time budget on the simulated clock no trial starts after
    the horizon (those proposed but not started are dropped), running trials stop at their next
    check, and with no trial count that binds ASHA's early cuts buy more trials than FIFO random."""
    from bench.simulate import horizon
    limit = horizon(table, 4)
    assert limit == 4 * 6.0  # the median full trial: 4 checks of 1 s (linear) or 2 s (mlp), 6 s between them
    outs = {}
    for method in ("random", "asha_random", "default"):
        searcher, sched, concurrency, space, rules = setting(table_spec(table.meta), method, 4, 60, 0, 20)
        outs[method] = replay(table, searcher, sched, workers=4, concurrency=concurrency, num_samples=60,
                              rules=rules, seed=0, param_space=space, horizon_s=limit)
    for out in outs.values():
        assert out.starts and max(out.starts) < limit and len(out.starts) == out.started < 60
        assert limit <= out.end_s <= limit + 2.0  # each running trial ends at its first check after the horizon
        assert out.started + out.unstarted == out.trials  # every trial in flight: the rest were proposed, not started
    assert outs["asha_random"].started > outs["random"].started and outs["default"].started > outs["random"].started
    fixed, _, _ = run(table, "random", workers=4, num_samples=40)  # no horizon: the count ends the search
    assert fixed.started == 40 and fixed.unstarted == 0 and fixed.end_s > limit
