"""Optuna's TPE as Tune's searcher, made to hold through what a search meets: reports of trials it has
closed, a study in a database that outlives the driver, and architectures that break the constraints
(closed untrained: the searcher asks again, and TPE's random start-up counts trained trials only)."""
import warnings

import optuna
from ray.tune.search.optuna import OptunaSearch

from bertclf.cost import beyond_limits, said_limits
from bertclf.errors import UserError

from . import ray_compat

# proposals of architectures the constraints rule out, in a row, before the search gives up: the measured
# costs showed a feasible one (costs.measure_costs), so only a space almost wholly infeasible gets here
MAX_SKIPPED = 1000


class TrainedStartupTPE(optuna.samplers.TPESampler):
    """TPE whose random start-up counts trained trials only. Optuna's TPESampler counts every COMPLETE
    and PRUNED trial toward n_startup_trials, and a proposal that breaks the constraints is closed as
    PRUNED, untrained (TolerantOptunaSearch.suggest; user attribute skipped): with many of them, TPE
    would model the space before any trial trained. Once it models, the skipped trials inform it as
    pruned ones do (ranked below every trained trial)."""

    def __init__(self, *, n_startup_trials: int = 10, seed=None, **options):
        super().__init__(n_startup_trials=0, seed=seed, **options)
        self.startup, self.random = n_startup_trials, optuna.samplers.RandomSampler(seed=seed)

    def starting(self, study) -> bool:
        """Fewer trials trained to their end (COMPLETE, or PRUNED by the scheduler) than the start-up's."""
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        trained = [t for t in study.get_trials(deepcopy=False, states=states) if "skipped" not in t.user_attrs]
        return len(trained) < self.startup

    def sample_relative(self, study, trial, search_space):
        return {} if self.starting(study) else super().sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        if self.starting(study):
            return self.random.sample_independent(study, trial, param_name, param_distribution)
        return super().sample_independent(study, trial, param_name, param_distribution)

    def reseed_rng(self) -> None:
        super().reseed_rng()
        self.random.reseed_rng()


class TolerantOptunaSearch(OptunaSearch):
    """OptunaSearch that ignores reports of trials it has already closed: a trial re-run after a
    crash (see search.fit) reports again, and stock OptunaSearch fails with a KeyError on that.
    Given costs (costs.SearchCosts), each Optuna trial holds its architecture's measured cost (user
    attributes) and how far it lies beyond each constraint (Optuna's constraint values: TPE ranks an
    infeasible trial below every feasible one); a proposal whose architecture breaks the constraints
    is closed as pruned, untrained (TPE learns where the infeasible region is), and another is asked for.

    Its study outlives the driver in a database (study.py), and a killed driver's last saved
    state can be older than the study: a trial closed there after that state is run again (its
    reports are ignored, the study keeps its first result), and a trial asked there after it is
    never run (it is marked failed on restore: left running, TPE's constant liar would count it
    as a trial in flight for the rest of the search). Each Optuna trial holds its Tune trial id
    (user attribute tune_trial), so the dashboard's trials read against results.csv. A failed
    trial that Tune runs again from its start (search.fit) is a new Optuna trial with the same
    parameters (user attribute retry_of: the failed one's number), where this searcher hears of the
    run again (_reports_to says when it does not)."""
    spec, costs = None, None

    def suggest(self, trial_id):
        for _ in range(MAX_SKIPPED):
            config = super().suggest(trial_id)
            if config is None:
                return config
            asked = ray_compat.optuna_trial_of(self, trial_id)
            asked.set_user_attr("tune_trial", trial_id)
            if self.costs is None:
                return config
            trial_config = self.spec.trial_config(config)
            values = self.costs.of(trial_config).values()
            for key, value in values.items():
                asked.set_user_attr(key, value)
            for name, amount in beyond_limits(values, self.costs.constraints).items():
                asked.set_constraint(name, amount)
            why = self.costs.why_not(trial_config)
            if not why:
                return config
            asked.set_user_attr("skipped", f"breaks the constraints: {', '.join(why)}")
            ray_compat.close_optuna_trial_unrun(self, trial_id)
        raise UserError(f"constraints {said_limits(self.costs.constraints)} (the spec's constraints, --max-latency-ms, "
                        f"--max-model-mb): {MAX_SKIPPED} proposals in a row broke them; loosen them, or narrow the "
                        f"space to the architectures that meet them")

    def on_trial_result(self, trial_id, result):
        asked = self._reports_to(trial_id)
        if asked is None:
            return
        try:
            super().on_trial_result(trial_id, result)
        except optuna.exceptions.UpdateFinishedTrialError:  # closed in the study after Tune's saved state
            if self._reports_to(trial_id, check=True) is not asked:
                super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id, result=None, error=False):
        asked = self._reports_to(trial_id, check=bool(result))  # a run's end: maybe its first report
        if asked is None:
            return
        if result and not ray_compat.optuna_told(self, trial_id):
            _report_last(asked, result, self.metric)
        super().on_trial_complete(trial_id, result, error)

    def _reports_to(self, trial_id, check=False):
        """The Optuna trial that `trial_id` reports to: the one asked for it, or, where the study
        failed that one and Tune runs the trial again (also under a searcher restored from a state
        that predates the failure, or that does not know the trial), a new one with its
        parameters (unless points to evaluate still wait in the study: then its reports are ignored,
        and the study keeps the failure); None for a trial this searcher and the study do not hold.
        Ray's concurrency limiter gives this searcher no reports of a trial it no longer counts as
        live, so after a killed driver the study keeps the failure too (docs/search.md)."""
        asked = ray_compat.optuna_trial_of(self, trial_id)
        if asked is not None and not check and not ray_compat.optuna_told(self, trial_id):
            return asked
        study, _ = ray_compat.optuna_study_of(self)
        last = next((t for t in reversed(study.get_trials(deepcopy=False))
                     if t.user_attrs.get("tune_trial") == trial_id), None)
        if last is None or last.state != optuna.trial.TrialState.FAIL:
            return asked
        if study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.WAITING]):
            return asked  # ask() would pop the oldest waiting trial (a warm-start point), not the retry
        study.enqueue_trial(last.params, user_attrs={**last.user_attrs, "retry_of": last.number})
        again = study.ask(fixed_distributions=last.distributions)
        ray_compat.optuna_retry(self, trial_id, again)
        return again

    def restore(self, checkpoint_path):
        super().restore(checkpoint_path)
        study, asked = ray_compat.optuna_study_of(self)
        known = {t.number for t in asked}
        for trial in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.RUNNING]):
            if trial.number not in known:
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def _report_last(asked, result: dict, metric) -> None:
    """The last check of a trial as its intermediate value: Tune passes the report that stops a trial
    (ASHA's cut, the budget, its end) to on_trial_complete alone. Optuna keeps no intermediate values
    of several objectives, and ignores a step reported already (with a warning, silenced here)."""
    if not isinstance(metric, str) or result.get(metric) is None or "training_iteration" not in result:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            asked.report(result[metric], result["training_iteration"])
        except optuna.exceptions.UpdateFinishedTrialError:
            pass


