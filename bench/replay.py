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
from typing import Dict, Iterator, List, Optional, Tuple

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
    ray_compat.skip_policy_logs(scheduler)
    storage = tempfile.mkdtemp(prefix="sim-")  # Trial objects want an experiment folder (PBT logs there)
    try:
        search_alg = as_search_alg(searcher, concurrency)
        search_alg.add_configurations([Experiment("sim", _never_run, config=param_space or {},
                                                  num_samples=num_samples, storage_path=storage)])
        run = _Run(table=table, sim=Controller(search_alg, scheduler), rules=rules, workers=workers,
                   pending_cap=max_pending(search_alg, workers), start_overhead_s=start_overhead_s,
                   fresh_rows=fresh_rows, out=Outcome(trace=[], end_s=0.0, trials=0, checks=0, worker_s=0.0))
        budget.start(horizon_s, 0.0, clock=lambda: run.now)  # the simulated seconds the budget reads
        run.stopper = budget.BudgetStopper()
        run.fill(run.now)
        while run.events and run.out.checks < max_checks:
            run.step()
        run.out.cut = bool(run.events)
        run.out.end_s = run.now
        run.out.unstarted = len(budget.current().unstarted)
        return run.out
    finally:
        budget.start(None, 0.0)  # the process's budget is the simulated one only while it replays
        shutil.rmtree(storage, ignore_errors=True)


@dataclass
class _Run:
    """One replay under way: Tune's loop over the simulated workers, a check per event."""
    table: object
    sim: Controller
    rules: Rules
    workers: int
    pending_cap: int
    start_overhead_s: float
    fresh_rows: bool
    out: Outcome
    stopper: object = None
    now: float = 0.0  # simulated seconds
    events: list = field(default_factory=list)  # (at, order, trial, seconds) of each running trial's next check
    order: Iterator[int] = field(default_factory=itertools.count)
    running: set = field(default_factory=set)
    iterations: dict = field(default_factory=dict)
    applied: dict = field(default_factory=dict)  # trial -> the PBT checkpoint result it continued from
    # the PENDING trials, kept as a set: counting them over all trials at each fill made a 256-trial
    # replay quadratic
    never_started: set = field(default_factory=set)
    completed: int = 0  # trials the searcher was told are complete
    seen: dict = field(default_factory=dict)  # trial -> completed trials when it was proposed
    taken: set = field(default_factory=set)  # rows proposed so far (fresh_rows)

    def start(self, trial, at, overhead):
        trial.set_status(Trial.RUNNING)
        self.running.add(trial)
        if trial in self.never_started:
            self.never_started.discard(trial)
            self.out.started += 1
            self.out.proposals.append((self.sim.positions[trial].row, self.seen[trial]))
            self.out.starts.append(at)
        pos = self.sim.positions[trial]
        seconds = overhead + self.table.rows[pos.row]["checks"][pos.done][self.table.clock]
        heapq.heappush(self.events, (at + seconds, next(self.order), trial, seconds))

    def fill(self, at):
        search_alg, scheduler = self.sim.search_alg, self.sim.scheduler
        while not search_alg.is_finished() and len(self.never_started) < self.pending_cap:
            trial = search_alg.next_trial()
            if trial is None:
                break
            trial.custom_trial_name = trial.trial_id
            self.sim.trials.append(trial)
            self.never_started.add(trial)
            row = self.table.nearest(trial.config, self.taken if self.fresh_rows else frozenset())
            self.taken.add(row)
            self.sim.positions[trial] = Position(row=row, done=0)
            self.seen[trial] = self.completed
            self.iterations[trial] = 0
            scheduler.on_trial_add(self.sim, trial)
            self.out.trials += 1
        while len(self.running) < self.workers or budget.current().over():
            # after the horizon the product's scheduler stops the waiting trials instead of choosing one
            trial = scheduler.choose_trial_to_run(self.sim)
            if trial is None:
                break
            self.start(trial, at, self.start_overhead_s)  # a fresh trial, or one restored from a checkpoint
        self.never_started.difference_update([t for t in self.never_started if t.status == Trial.TERMINATED])

    def step(self):
        """The next check to land: reported to the searcher, the stopper and the scheduler, and the
        trial then ended, paused or run on."""
        self.now, _, trial, seconds = heapq.heappop(self.events)
        self.out.worker_s += seconds
        result, engine_done = self.check(trial)
        search_alg, scheduler = self.sim.search_alg, self.sim.scheduler
        ray_compat.keep_last_result(trial, result)
        search_alg.on_trial_result(trial.trial_id, result)
        # Tune asks its stoppers first and the scheduler only about a trial they let run on
        over = self.stopper(trial.trial_id, {**result, "done": engine_done})
        decision = TrialScheduler.STOP if over else scheduler.on_trial_result(self.sim, trial, result)
        latest = ray_compat.latest_checkpoint_result(trial)
        if latest is not None and isinstance(latest.checkpoint, Position) and self.applied.get(trial) is not latest:
            self.applied[trial] = latest  # PBT exploited: continue from the donor's saved check
            self.sim.positions[trial] = latest.checkpoint
            engine_done = self.sim.positions[trial].done >= len(self.table.rows[latest.checkpoint.row]["checks"])
            self.out.exploits += 1
        self.running.discard(trial)
        if engine_done or decision == TrialScheduler.STOP:
            search_alg.on_trial_complete(trial.trial_id, result=result)
            self.completed += 1
            scheduler.on_trial_complete(self.sim, trial, result)
            trial.set_status(Trial.TERMINATED)
        elif trial.status == Trial.PAUSED or decision == TrialScheduler.PAUSE:
            trial.set_status(Trial.PAUSED)
        else:
            self.start(trial, self.now, 0.0)
        self.fill(self.now)

    def check(self, trial) -> Tuple[dict, bool]:
        """(the result trial reports at its next check on the table, whether the engine stops there)."""
        metric = self.table.metric
        pos = self.sim.positions[trial]
        checks = self.table.rows[pos.row]["checks"]
        check = checks[pos.done]
        score = (check[metric], -check["valid_loss"])
        better = pos.best is None or score > pos.best
        pos = Position(pos.row, pos.done + 1, score if better else pos.best, 0 if better else pos.bad_checks + 1)
        self.sim.positions[trial] = pos
        self.iterations[trial] += 1
        self.out.checks += 1
        if not self.out.trace or check[metric] > self.out.trace[-1][1]:
            self.out.trace.append((self.now, check[metric]))
        result = {TIME_ATTR: check["epoch"], metric: check[metric], f"best_{metric}": pos.best[0],
                  "valid_loss": check["valid_loss"], "train_loss": check["train_loss"],
                  "training_iteration": self.iterations[trial], "time_total_s": self.now}
        return result, self.rules.done(checks, pos.done, pos.bad_checks, metric)


def _never_run(config):
    """The trainable Tune's Experiment requires; the simulator runs none."""
    raise RuntimeError("the simulator replays recorded curves; no trainable runs")
