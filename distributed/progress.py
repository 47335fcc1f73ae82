"""The console during a search: one line per finished trial, a line when the best changes, and a
heartbeat while nothing finishes; before the trials, a line every PHASE_EVERY_S seconds of a long phase
of many steps (PhaseProgress). Tracebacks stay in each trial's folder (error.txt, trial.log)."""
import time
from pathlib import Path
from typing import Optional

from ray.tune import Callback

from bertclf.results_table import format_epoch

from . import budget

HEARTBEAT_S = 300
PHASE_EVERY_S = 30
REASONS = {"completed": "completed", "early stop": "early stop (patience)", "degenerate": "stopped at chance level"}
BUDGET_STATUS = "stopped (time budget)"


def trial_status(last: dict, errored: bool, scheduler: str, over_budget: bool = False) -> str:
    """completed | early stop (patience) | stopped at chance level | stopped (time budget) |
    pruned (asha/pbt) | error. over_budget: the time budget's stopper ended the trial."""
    if errored:
        return "error"
    reason = (last or {}).get("done_reason") or ""
    if reason not in REASONS and over_budget:
        return BUDGET_STATUS
    return REASONS.get(reason, f"pruned ({scheduler})" if scheduler != "none" else "stopped")


def error_line(trial_dir) -> str:
    """The exception's own message, from the last line of a trial's error.txt."""
    path = Path(trial_dir) / "error.txt"
    if not path.exists():
        return "failed (no error file)"
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "failed"
    # "bertclf.errors.UserError: --max_length ..." -> "--max_length ..."
    head, sep, message = last.partition(": ")
    return message if sep and head.replace(".", "").replace("_", "").isalnum() else last


def duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class PhaseProgress:
    """A long phase of `total` steps (the inference costs: an architecture each): '<what> 3 of 12 in
    1m02s, ~2m04s left' (the steps left at the mean step's time so far), after the first step when the
    time left is PHASE_EVERY_S or more (the phase's length, known early), then once PHASE_EVERY_S seconds
    have passed since the last line."""

    def __init__(self, what: str, total: int, say):
        self.what, self.total, self.say = what, total, say
        self.done = 0
        self.started = self.last_line = time.perf_counter()

    def step_done(self) -> None:
        self.done += 1
        now = time.perf_counter()
        spent = now - self.started
        left = spent / self.done * (self.total - self.done)
        if self.done < self.total and (now - self.last_line >= PHASE_EVERY_S or
                                       (self.done == 1 and left >= PHASE_EVERY_S)):
            self.last_line = now
            self.say(f"{self.what} {self.done} of {self.total} in {duration(spent)}, ~{duration(left)} left")


class Progress(Callback):
    """Tune pickles its callbacks with the experiment and checkpoints their state (get_state): a
    resumed search continues the trial count and remembers the best found before; setup() only
    restarts the clock of this session. total: the trials to count to (spec.num_samples by default; seed
    repeats run their own number)."""

    def __init__(self, spec, concurrency: int, say, total: Optional[int] = None):
        self.spec, self.concurrency, self.say = spec, concurrency, say
        self.total = spec.num_samples if total is None else total
        self.finished = 0
        self.best = None  # (score, trial id, sampled)
        self.seconds = []  # run time of each finished trial
        self.setup()

    def setup(self, **info):
        self.started = self.last_line = time.time()
        self.last = {}  # trial id -> last result
        self.budget_said = False  # the time budget's line, once per session

    def get_state(self) -> dict:
        return {"finished": self.finished, "best": self.best, "seconds": list(self.seconds)}

    def set_state(self, state: dict) -> None:
        self.finished, self.best, self.seconds = state["finished"], state["best"], list(state["seconds"])
        self._say(f"resumed: {self.finished}/{self.total} trials finished before{self._best_text()}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.last[trial.trial_id] = result

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._finished(trials, trial, errored=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._finished(trials, trial, errored=True)

    def on_step_end(self, iteration, trials, **info):
        if budget.current().over() and not self.budget_said:
            self.budget_said = True
            running = sum(t.status == "RUNNING" for t in trials)
            self._say(f"time budget of {duration(budget.current().seconds)} reached: no new trial starts"
                      + (f"; {running} running trial(s) stop at their next check" if running else ""))
        if time.time() - self.last_line > HEARTBEAT_S:
            running = sum(t.status == "RUNNING" for t in trials)
            self._say(f"{self.finished}/{self.total} trials finished, {running} running, "
                      f"{duration(time.time() - self.started)} elapsed{self._best_text()}")

    def _finished(self, trials, trial, errored: bool):
        unstarted = budget.current().unstarted
        if trial.trial_id in unstarted:
            return  # stopped by the time budget before it started: the summary counts these
        self.finished = sum(t.status in ("TERMINATED", "ERROR") and t.trial_id not in unstarted for t in trials) + (
            trial.status not in ("TERMINATED", "ERROR"))
        last = self.last.get(trial.trial_id, {})
        status = trial_status(last, errored, self.spec.scheduler.type, trial.trial_id in budget.current().stopped)
        seconds = last.get("time_total_s", 0.0)
        self.seconds.append(seconds)
        metric = self.spec.metric
        if errored:
            message = error_line(trial.local_path)  # Tune copies the trial's folder to trial.path later
            what = f"error: {message} (log: {Path(trial.path) / 'error.txt'})"
        else:
            score = last.get(f"best_{metric}")
            # with folds a trial's score is the mean over the folds it finished
            when = (f"after {last.get('folds_done', 0)} of {self.spec.cv_folds} folds, mean" if self.spec.cv_folds
                    else f"at epoch {format_epoch(last.get('epoch', 0))},")
            what = (f"{status} {when} {metric.replace('_', ' ')} {score:.4f}" if score is not None else status)
            if score is not None and (self.best is None or self.spec.signed(score) > self.spec.signed(self.best[0])):
                self.best = (score, trial.trial_id, {k: trial.config.get(k) for k in self.spec.space})
        running = sum(t.status == "RUNNING" for t in trials) - (trial.status == "RUNNING")
        self._say(f"trial {self.finished}/{self.total} ({trial.trial_id}) {what}, {duration(seconds)}"
                  f" | {running} running, {duration(time.time() - self.started)} elapsed{self._eta()}")
        if self.best and self.best[1] == trial.trial_id:
            shown = ", ".join(f"{k}={short(v)}" for k, v in self.best[2].items())
            self._say(f"  new best: {metric.replace('_', ' ')} {self.best[0]:.4f} ({shown})")

    def _eta(self) -> str:
        left = self.total - self.finished
        if not left or not self.seconds:
            return ""
        mean = sum(self.seconds) / len(self.seconds)
        estimate = left * mean / max(1, self.concurrency)
        budget_left = budget.current().left()
        if budget_left is not None and budget_left < estimate:
            return f", {duration(budget_left)} of the time budget left"
        return f", ~{duration(estimate)} left"

    def _best_text(self) -> str:
        return f", best {self.best[0]:.4f}" if self.best else ""

    def _say(self, message: str) -> None:
        self.last_line = time.time()
        self.say(message)


def short(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
