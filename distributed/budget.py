"""--time-budget SECONDS: after the budget no new trial starts, and each running trial stops at its
next check (reported, so it counts like any trial's); the outputs are written as usual.

Ray Tune's own TuneConfig(time_budget_s) is not used: when it runs out, Tune ends the experiment and
kills running trials in the middle of an epoch. Here the searcher stops proposing trials (so Tune
sees the search finish), a Stopper ends each running trial at its next report, and the scheduler
stops the trials proposed before the budget that have not started (on a cluster every trial of the
count is in flight: Tune would start each of them after the budget, for one check).

The budget counts from the start of the trials, as Ray's time_budget_s and Optuna's timeout do
(reading the data, feature passes and Ray's start are not in it; repeats, test score and refit
come after it); a --resume gets a budget of its own. Tune pickles its searcher and stoppers with the
experiment and restores them on --resume, so neither holds the budget: both ask `current()`, this
process's budget.
"""
import time
from typing import Callable, Optional, Set

from ray.tune.progress_reporter import TrialProgressCallback
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, PopulationBasedTraining
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.stopper import Stopper

from . import ray_compat


class TimeBudget:
    """seconds: None for no budget; started: clock() when the trials started; clock: time.time, or
    the search simulator's simulated seconds (bench/replay.py replays searches under a budget)."""

    def __init__(self, seconds: Optional[float] = None, started: float = 0.0, clock: Callable[[], float] = time.time):
        self.seconds, self.started, self.clock = seconds, started, clock
        self.stopped: Set[str] = set()  # ids of the trials it stopped before they were done
        self.unstarted: Set[str] = set()  # ids of the trials proposed before it ran out, never started

    def over(self) -> bool:
        return self.seconds is not None and self.clock() - self.started >= self.seconds

    def left(self) -> Optional[float]:
        """Seconds left (0 when over), None without a budget."""
        return None if self.seconds is None else max(0.0, self.seconds - (self.clock() - self.started))


_current = TimeBudget()


def start(seconds: Optional[float], started: float, clock: Callable[[], float] = time.time) -> TimeBudget:
    """This process's budget, from now on what current() returns."""
    global _current
    _current = TimeBudget(seconds, started, clock)
    return _current


def current() -> TimeBudget:
    return _current


class BudgetStopper(Stopper):
    """Stops a trial at its first report after the budget ran out."""

    def __call__(self, trial_id: str, result: dict) -> bool:
        budget = current()
        if not budget.over():
            return False
        if not result.get("done"):
            budget.stopped.add(trial_id)
        return True

    def stop_all(self) -> bool:
        return False  # running trials end at their own next check, see __call__


class BudgetLimiter(ConcurrencyLimiter):
    """A searcher (TPE) under the ConcurrencyLimiter that Tune adds for max_concurrent_trials (pass
    the same limit), proposing nothing once the budget ran out."""

    def suggest(self, trial_id: str):
        return Searcher.FINISHED if current().over() else super().suggest(trial_id)


class BudgetVariants(BasicVariantGenerator):
    """PBT's random population, with no new member once the budget ran out."""

    def next_trial(self):
        if current().over():
            self.set_finished()
            return None
        return super().next_trial()


class StopsPendingAtBudget(ray_compat.StopsWaitingTrials):
    """A Tune scheduler that, once the budget ran out, starts nothing: it stops every trial waiting
    to start or to go on instead of choosing one (ray_compat.StopsWaitingTrials). A trial that never
    ran is recorded as unstarted, one that did as stopped by the budget. Tune may still start an
    actor that became ready within the same loop step: the stopper then ends that trial at its first
    check."""

    def stops_waiting(self) -> bool:
        return current().over()

    def stopped_waiting(self, trial_id: str, started: bool) -> None:
        budget = current()
        (budget.stopped if started else budget.unstarted).add(trial_id)


class ReportsStartedTrials(TrialProgressCallback):
    """Ray's own trial console callback (what Tune adds when the run has none), silent on a trial that
    never ran: Tune prints "Trial ... completed. Last result: " for each trial stopped before it
    started, whatever the verbosity."""

    def on_trial_complete(self, iteration, trials, trial, **info):
        if ray_compat.trial_started(trial):
            super().on_trial_complete(iteration, trials, trial, **info)


class BudgetFIFO(StopsPendingAtBudget, FIFOScheduler):
    pass


class BudgetASHA(StopsPendingAtBudget, AsyncHyperBandScheduler):
    pass


class BudgetPBT(StopsPendingAtBudget, PopulationBasedTraining):
    pass
