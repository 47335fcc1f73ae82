"""Replay one search over a curve table in simulated time, through Ray Tune's own objects.

Ray Tune has no simulator backend, so this file plays the part of Tune's TuneController: it asks the
search algorithm for trials (Tune's SearchGenerator over a ConcurrencyLimiter, as `tune.run` wraps a
Searcher given max_concurrent_trials; a BasicVariantGenerator as is), hands them to the scheduler
(on_trial_add, choose_trial_to_run, on_trial_result, on_trial_complete), and runs them on `workers`
simulated workers with an event queue: a trial's next check lands the table's seconds for it (its `clock`:
wall `seconds` or `cpu_seconds`) after the previous one. The trials are real `ray.tune.experiment.Trial` objects; no Ray cluster is started.

What a trial reports is the table row nearest to its configuration (curve_table.Table.nearest),
check by check, with the engine's own stops (patience, chance level) applied to the curve as
bertclf.train.check applies them. PBT's checkpoint is a Position on the table: an exploited trial
continues on its donor's row from the donor's saved check (its weights are the donor's; the
mutated hyperparameters are not modelled: they change only lr, weight decay and dropout by small
factors, and no table row has a curve that switches configuration mid-way).
"""
import heapq
import itertools
import math
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
from ray.tune.experiment import Experiment, Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import ConcurrencyLimiter, SearchAlgorithm, SearchGenerator

from bertclf.train import DEGENERATE_AT
from bert_hpo_distributed import budget, ray_compat
from bert_hpo_distributed.searchers import TIME_ATTR

# tune_controller._get_max_pending_trials for a BasicVariantGenerator: "at least 200 pending trials
# to trigger fast autoscaling", or 1.1 x the cluster's CPUs (one per worker here)
MIN_AUTOSCALING_PENDING = 200

# PBT's debug messages cost most of a replay (cProfile, 256 trials); a short state repr changes no
# decision. A trial's name is likewise its id (what Tune's trial_name_creator would set).
ray_compat.short_pbt_state_repr()


@dataclass(frozen=True)
class Position:
    """Where a trial is on the table, and the engine's state there: PBT's checkpoint."""
    row: int
    done: int  # checks done on the row
    best: Optional[Tuple[float, float]] = None  # (metric, -valid_loss) of the best check
    bad_checks: int = 0


@dataclass(frozen=True)
class Rules:
    """The engine's own stops (bertclf.train.check), from the spec's fixed options."""
    patience: int  # early_stop; <= 0: off
    degenerate_check: bool
    n_epochs: float
    valid_size: int
    majority: float = 0.5  # IMDB's splits are balanced and stratified
    n_labels: int = 2

    def done(self, checks: List[dict], done: int, bad_checks: int, metric: str) -> bool:
        """Does the engine stop after check number `done` (1-based) of this curve?"""
        if done >= len(checks):
            return True
        if self.patience > 0 and bad_checks >= self.patience:
            return True
        epoch = checks[done - 1]["epoch"]
        first_judged = all(c["epoch"] < DEGENERATE_AT * self.n_epochs for c in checks[:done - 1])
        if self.degenerate_check and first_judged and epoch >= DEGENERATE_AT * self.n_epochs:
            noise = 2 * math.sqrt(self.majority * (1 - self.majority) / self.valid_size)
            return (checks[done - 1][metric] <= self.majority + noise
                    and checks[done - 1]["train_loss"] >= 0.97 * math.log(self.n_labels))
        return False


@dataclass
class Outcome:
    trace: List[Tuple[float, float]]  # (simulated s, best reported check so far), at each improvement
    end_s: float  # when the last trial ended
    trials: int
    checks: int
    worker_s: float  # busy worker-seconds
    exploits: int = 0
    cut: bool = False  # the replay hit max_checks (PBT restoring donors' earlier checks without end)
    # per trial, in the order started: (table row that answers it, trials the searcher had seen
    # complete when it proposed it): what a searcher proposes and how informed it was
    proposals: List[Tuple[int, int]] = field(default_factory=list)
    starts: List[float] = field(default_factory=list)  # simulated s at which each trial started, as proposals
    started: int = 0  # trials that started (under a horizon, fewer than those proposed)
    unstarted: int = 0  # trials proposed before the horizon that no worker took before it

    def time_to(self, target: float) -> float:
        return next((t for t, v in self.trace if v >= target), math.inf)

    @property
    def final(self) -> float:
        return self.trace[-1][1] if self.trace else -math.inf


def as_search_alg(searcher, concurrency: int) -> SearchAlgorithm:
    """What tune.run makes of a search_alg with max_concurrent_trials (ray/tune/tune.py)."""
    if isinstance(searcher, SearchAlgorithm):
        return searcher  # a BasicVariantGenerator: Tune ignores max_concurrent_trials for it
    return SearchGenerator(ConcurrencyLimiter(searcher, max_concurrent=concurrency))


def max_pending(search_alg, workers: int) -> int:
    """tune_controller._get_max_pending_trials, with the cluster's CPUs = workers."""
    if isinstance(search_alg, SearchGenerator):
        return search_alg.searcher.max_concurrent
    return autoscaling_pending(workers)


def autoscaling_pending(cpus: int) -> int:
    """The pending trials Tune keeps for its own random generator on a cluster of `cpus` CPUs."""
    return max(MIN_AUTOSCALING_PENDING, int(cpus * 1.1))


@dataclass
class Controller:
    """The TuneController stand-in: what Tune's schedulers call back on."""
    search_alg: SearchAlgorithm
    scheduler: TrialScheduler
    trials: List[Trial] = field(default_factory=list)
    positions: Dict[Trial, Position] = field(default_factory=dict)

    def get_trials(self):
        return self.trials

    def get_live_trials(self):
        return [t for t in self.trials if not t.is_finished()]

    def _schedule_trial_save(self, trial, result=None):
        return self.positions[trial]

    def pause_trial(self, trial, should_checkpoint: bool = True):
        trial.set_status(Trial.PAUSED)

    def stop_trial(self, trial):
        """Tune's stop_trial for a trial that is not running (what the product's scheduler calls on
        the trials still waiting when the time budget runs out, distributed/budget.py)."""
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            self.scheduler.on_trial_remove(self, trial)
            self.search_alg.on_trial_complete(trial.trial_id)
            trial.set_status(Trial.TERMINATED)


def replay(table, searcher, scheduler, *, workers: int, concurrency: int, num_samples: int, rules: Rules,
           seed: int, param_space: Optional[dict] = None, start_overhead_s: float = 0.0,
           max_checks: Optional[int] = None, fresh_rows: bool = False,
           horizon_s: Optional[float] = None) -> Outcome:
    """One search of `num_samples` trials on `workers` workers, `concurrency` trials in flight.
    `fresh_rows`: a proposal whose nearest row an earlier trial already replays gets the nearest row
    not replayed yet (a new configuration is a new draw of its curve, not the same curve again).
    PBT moves an exploited trial back to its donor's saved check, so its total checks are not
    bounded by the table: the replay stops after `max_checks` checks (default: 4 x every trial
    running the longest curve) and says so in `Outcome.cut`.
    `horizon_s`: a time budget in simulated seconds, the product's own (distributed/budget.py on the
    simulated clock): its searchers propose nothing after it, and its stopper ends a running trial at
    the trial's first check after it, and its scheduler starts no trial after it: a trial proposed
    before it that no worker took is stopped (budget.StopsPendingAtBudget) and counted in
    `Outcome.unstarted`."""
    if horizon_s is not None and not isinstance(scheduler, budget.StopsPendingAtBudget):
        raise ValueError("a replay under a horizon needs the product's budget-aware scheduler "
                         "(distributed/searchers.scheduler): another would start every waiting trial after it")
    longest = max(len(r["checks"]) for r in table.rows)
    max_checks = max_checks or 4 * num_samples * longest
    random.seed(seed)  # PBT's donor choice and mutations
    np.random.seed(seed)  # ASHA's bracket choice
    metric = table.metric
    ray_compat.skip_policy_logs(scheduler)
    storage = tempfile.mkdtemp(prefix="sim-")  # Trial objects want an experiment folder (PBT logs there)
    try:
        search_alg = as_search_alg(searcher, concurrency)
        search_alg.add_configurations([Experiment("sim", _never_run, config=param_space or {},
                                                  num_samples=num_samples, storage_path=storage)])
        sim = Controller(search_alg, scheduler)
        pending_cap = max_pending(search_alg, workers)
        events, order = [], itertools.count()
        running, iterations, applied = set(), {}, {}
        never_started = set()  # the PENDING trials, kept as a set: counting them over all trials at each
        # fill made a 256-trial replay quadratic
        out = Outcome(trace=[], end_s=0.0, trials=0, checks=0, worker_s=0.0)
        completed = [0]  # trials the searcher was told are complete
        seen = {}  # trial -> completed trials when it was proposed
        taken = set()  # rows proposed so far (fresh_rows)
        now = 0.0
        clock = [now]  # the simulated seconds the budget reads
        budget.start(horizon_s, 0.0, clock=lambda: clock[0])
        stopper = budget.BudgetStopper()

        def start(trial, at, overhead):
            trial.set_status(Trial.RUNNING)
            running.add(trial)
            if trial in never_started:
                never_started.discard(trial)
                out.started += 1
                out.proposals.append((sim.positions[trial].row, seen[trial]))
                out.starts.append(at)
            pos = sim.positions[trial]
            seconds = overhead + table.rows[pos.row]["checks"][pos.done][table.clock]
            heapq.heappush(events, (at + seconds, next(order), trial, seconds))

        def fill(at):
            while not search_alg.is_finished() and len(never_started) < pending_cap:
                trial = search_alg.next_trial()
                if trial is None:
                    break
                trial.custom_trial_name = trial.trial_id
                sim.trials.append(trial)
                never_started.add(trial)
                row = table.nearest(trial.config, taken if fresh_rows else frozenset())
                taken.add(row)
                sim.positions[trial] = Position(row=row, done=0)
                seen[trial] = completed[0]
                iterations[trial] = 0
                scheduler.on_trial_add(sim, trial)
                out.trials += 1
            while len(running) < workers or budget.current().over():
                # after the horizon the product's scheduler stops the waiting trials instead of choosing one
                trial = scheduler.choose_trial_to_run(sim)
                if trial is None:
                    break
                start(trial, at, start_overhead_s)  # a fresh trial, or one restored from a checkpoint
            never_started.difference_update([t for t in never_started if t.status == Trial.TERMINATED])

        fill(now)
        while events and out.checks < max_checks:
            now, _, trial, seconds = heapq.heappop(events)
            clock[0] = now
            out.worker_s += seconds
            pos = sim.positions[trial]
            checks = table.rows[pos.row]["checks"]
            check = checks[pos.done]
            score = (check[metric], -check["valid_loss"])
            better = pos.best is None or score > pos.best
            pos = Position(pos.row, pos.done + 1, score if better else pos.best, 0 if better else pos.bad_checks + 1)
            sim.positions[trial] = pos
            iterations[trial] += 1
            out.checks += 1
            if not out.trace or check[metric] > out.trace[-1][1]:
                out.trace.append((now, check[metric]))
            result = {TIME_ATTR: check["epoch"], metric: check[metric], f"best_{metric}": pos.best[0],
                      "valid_loss": check["valid_loss"], "train_loss": check["train_loss"],
                      "training_iteration": iterations[trial], "time_total_s": now}
            engine_done = rules.done(checks, pos.done, pos.bad_checks, metric)
            ray_compat.keep_last_result(trial, result)
            search_alg.on_trial_result(trial.trial_id, result)
            # Tune asks its stoppers first and the scheduler only about a trial they let run on
            over = stopper(trial.trial_id, {**result, "done": engine_done})
            decision = TrialScheduler.STOP if over else scheduler.on_trial_result(sim, trial, result)
            latest = ray_compat.latest_checkpoint_result(trial)
            if latest is not None and isinstance(latest.checkpoint, Position) and applied.get(trial) is not latest:
                applied[trial] = latest  # PBT exploited: continue from the donor's saved check
                sim.positions[trial] = latest.checkpoint
                engine_done = sim.positions[trial].done >= len(table.rows[latest.checkpoint.row]["checks"])
                out.exploits += 1
            running.discard(trial)
            if engine_done or decision == TrialScheduler.STOP:
                search_alg.on_trial_complete(trial.trial_id, result=result)
                completed[0] += 1
                scheduler.on_trial_complete(sim, trial, result)
                trial.set_status(Trial.TERMINATED)
            elif trial.status == Trial.PAUSED or decision == TrialScheduler.PAUSE:
                trial.set_status(Trial.PAUSED)
            else:
                start(trial, now, 0.0)
            fill(now)
        out.cut = bool(events)
        out.end_s = now
        out.unstarted = len(budget.current().unstarted)
        return out
    finally:
        budget.start(None, 0.0)  # the process's budget is the simulated one only while it replays
        shutil.rmtree(storage, ignore_errors=True)


def _never_run(config):
    """The trainable Tune's Experiment requires; the simulator runs none."""
    raise RuntimeError("the simulator replays recorded curves; no trainable runs")
