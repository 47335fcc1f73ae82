"""TPE over proposals that break the constraints (distributed/tolerant_optuna.py): its random start-up
counts trained trials only, and a space whose proposals all break them ends in one error line."""
from types import SimpleNamespace

import optuna
import pytest

from bert_hpo_distributed import tolerant_optuna
from bert_hpo_distributed.tolerant_optuna import TolerantOptunaSearch, TrainedStartupTPE
from bertclf.errors import UserError


def closed(study, state, skipped=False, value=None):
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    if skipped:
        trial.set_user_attr("skipped", "breaks the constraints: latency_ms 5 > 2")
    study.tell(trial, value, state=state)


def test_skipped_proposals_leave_tpe_in_its_random_start_up(monkeypatch):
    def modelled(*args, **kwargs):
        raise AssertionError("TPE modelled before 3 trials trained")
    monkeypatch.setattr(optuna.samplers.TPESampler, "_sample", modelled)
    study = optuna.create_study(sampler=TrainedStartupTPE(n_startup_trials=3, seed=0), direction="maximize")
    for _ in range(10):
        closed(study, optuna.trial.TrialState.PRUNED, skipped=True)
    closed(study, optuna.trial.TrialState.COMPLETE, value=0.5)
    closed(study, optuna.trial.TrialState.PRUNED)  # pruned by the scheduler: it trained
    assert study.sampler.starting(study)
    closed(study, optuna.trial.TrialState.COMPLETE, value=0.7)  # drawn at random: _sample is not called
    assert not study.sampler.starting(study)
    monkeypatch.undo()
    closed(study, optuna.trial.TrialState.COMPLETE, value=0.6)  # TPE models from here


def test_a_space_whose_proposals_all_break_the_constraints_is_one_error(monkeypatch):
    monkeypatch.setattr(tolerant_optuna, "MAX_SKIPPED", 5)
    searcher = TolerantOptunaSearch(space={"x": optuna.distributions.FloatDistribution(0, 1)},
                                    metric="best_valid_accuracy", mode="max")
    cost = SimpleNamespace(values=lambda: {"latency_ms": 5.0})
    searcher.spec = SimpleNamespace(trial_config=lambda config: config)
    searcher.costs = SimpleNamespace(of=lambda config: cost, constraints={"latency_ms": 2.0},
                                     why_not=lambda config: ["latency_ms 5 > 2"])
    with pytest.raises(UserError) as e:
        searcher.suggest("t0")
    assert str(e.value) == ("constraints latency_ms <= 2 (the spec's constraints, --max-latency-ms, --max-model-mb): "
                            "5 proposals in a row broke them; loosen them, or narrow the space to the architectures "
                            "that meet them")
    assert len(searcher._ot_study.trials) == 5


@pytest.mark.ray
def test_the_error_reaches_the_driver_from_tuner_fit_as_it_was_raised(tmp_path, monkeypatch):
    """Tune's loop asks the searcher in the driver and re-raises what suggest raises, unwrapped: the
    search's UserError path (search_cli.run) prints it as one line."""
    import ray
    from ray import tune

    from bert_hpo_distributed import ray_compat
    monkeypatch.setattr(tolerant_optuna, "MAX_SKIPPED", 3)
    searcher = TolerantOptunaSearch(space={"x": optuna.distributions.FloatDistribution(0, 1)}, metric="score",
                                    mode="max")
    cost = SimpleNamespace(values=lambda: {"latency_ms": 5.0})
    searcher.spec = SimpleNamespace(trial_config=lambda config: config)
    searcher.costs = SimpleNamespace(of=lambda config: cost, constraints={"latency_ms": 2.0},
                                     why_not=lambda config: ["latency_ms 5 > 2"])
    ray.init(num_cpus=1, include_dashboard=False, **ray_compat.local_init_options(), log_to_driver=False)
    try:
        tuner = tune.Tuner(lambda config: {"score": config["x"]}, tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=2), run_config=tune.RunConfig(storage_path=str(tmp_path), name="s"))
        with pytest.raises(UserError, match="3 proposals in a row broke them"):
            tuner.fit()
    finally:
        ray.shutdown()
