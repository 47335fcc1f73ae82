"""The searcher and the schedulers judge a trial by the score the search ranks it on: its best check."""
from types import SimpleNamespace

import pytest

from bert_hpo_distributed.searchers import scheduler, search_algorithm, warm_start_points
from bert_hpo_distributed.spec.load import load_spec
from bertclf.errors import UserError


def test_asha_judges_a_trial_whose_latest_check_dips_on_its_best():
    spec = load_spec("imdb", ["scheduler={type: asha, grace_period: 1, reduction_factor: 2}"], profile=["smoke"])
    asha = scheduler(spec, max_epochs=4)
    trials = {name: SimpleNamespace(trial_id=name) for name in ("steady", "better", "dipped")}
    for trial in trials.values():
        asha.on_trial_add(None, trial)
    results = {"steady": (0.70, 0.70), "better": (0.80, 0.80), "dipped": (0.60, 0.95)}  # (latest, best)
    actions = {}
    for name, (latest, best) in results.items():
        actions[name] = asha.on_trial_result(None, trials[name], {"epoch": 1, "valid_accuracy": latest,
                                                                   "best_valid_accuracy": best})
    assert actions["dipped"] == "CONTINUE", "ASHA cut a trial whose best check is the best of the rung"


def test_tpe_pbt_and_checkpoints_share_one_score():
    asha_spec = load_spec("imdb", profile=["smoke"])
    pbt_spec = load_spec("imdb", ["scheduler={type: pbt}"], profile=["smoke"])
    assert asha_spec.score_key == "best_valid_accuracy"
    assert search_algorithm(asha_spec, 1, []).metric == asha_spec.score_key
    assert scheduler(pbt_spec, max_epochs=4)._metric == pbt_spec.score_key


def test_pbt_never_mutates_lora_s_rank_or_scale():
    spec = load_spec("imdb", ["scheduler={type: pbt}", "smoke.space.mode.choice=[lora]",
                              "smoke.space.lora_r={int: [2, 8]}", "smoke.space.lora_alpha={uniform: [4, 32]}"],
                     profile=["smoke"])
    mutated = scheduler(spec, max_epochs=4)._hyperparam_mutations
    assert "lora_alpha" not in mutated and "lora_r" not in mutated


@pytest.mark.parametrize("content, expected", [
    ("trial,best_valid_accuracy,lr\nt1,0.9,1e-5\ncaf\xe9,0.8,2e-5\n".encode("cp1252"), "not UTF-8 text"),
    (b"", "the file is empty"),
    (b"trial,best_valid_accuracy\nt1,high\n", "column best_valid_accuracy holds a value that is not a number"),
])
def test_a_warm_start_file_gets_the_readers_one_line_errors(tmp_path, content, expected):
    (tmp_path / "results.csv").write_bytes(content)
    with pytest.raises(UserError, match=f"^--warm-start {tmp_path / 'results.csv'}: {expected}"):
        warm_start_points(tmp_path, load_spec("imdb", profile=["smoke"]))


def _costs(spec, latency_by_length: dict, constraints: dict):
    from bert_hpo_distributed.costs import SearchCosts
    from bertclf.cost import COST_FIELDS, Cost, cost_key
    configs = [spec.trial_config(p) for p in spec.corners(COST_FIELDS)]
    return SearchCosts({cost_key(c): Cost(latency_by_length[c.max_length], 1.5 * latency_by_length[c.max_length],
                                          100.0, 10.0, 3.0, "a test CPU") for c in configs}, constraints,
                       "a test CPU", "cpu")


def test_a_cost_objective_makes_the_search_multi_objective_and_asha_keeps_the_score_alone():
    import optuna
    spec = load_spec("imdb-deploy", profile=["smoke"])
    searcher = search_algorithm(spec, 1, [], _costs(spec, {32: 1.0, 64: 2.0}, {})).searcher
    assert searcher.metric == ["best_valid_accuracy", "latency_ms"] and searcher.mode == ["max", "min"]
    config = searcher.suggest("a")
    searcher.on_trial_complete("a", {"best_valid_accuracy": 0.8, "latency_ms": 1.0, "training_iteration": 1})
    told = searcher._ot_study.trials[0]
    assert told.state == optuna.trial.TrialState.COMPLETE and told.values == [0.8, 1.0]
    assert told.user_attrs["latency_ms"] == {32: 1.0, 64: 2.0}[config["max_length"]]
    assert scheduler(spec, max_epochs=1)._metric == "best_valid_accuracy"


def test_a_configuration_that_breaks_a_constraint_is_never_proposed_and_optuna_judges_the_rest():
    import optuna
    spec = load_spec("imdb-deploy", ["constraints={latency_ms: 2}"], profile=["smoke"])
    searcher = search_algorithm(spec, 8, [spec.default_point()], _costs(spec, {32: 1.0, 64: 5.0}, {"latency_ms": 2})
                                ).searcher
    proposed = [searcher.suggest(f"t{i}") for i in range(6)]  # TPE's start-up at random, then modelling
    assert {p["max_length"] for p in proposed} == {32}
    trials = searcher._ot_study.trials
    skipped = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert skipped and all(t.user_attrs["skipped"] == "breaks the constraints: latency_ms 5 > 2" and
                           t.constraints == {"latency_ms": 3.0} for t in skipped)
    assert trials[-1].constraints == {"latency_ms": 1.0 - 2}  # met: at most 0


def searcher_in_study(tmp_path):
    """A new TPE searcher of the smoke spec whose study "s" is in tmp_path/optuna.db (the same study
    for each call: a restored searcher goes on in it)."""
    import optuna
    spec = load_spec("imdb", profile=["cpu", "smoke"])
    return search_algorithm(spec, 2, [], storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}"),
                            study_name="s").searcher


def study_trials(tmp_path) -> list:
    import optuna
    return optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}").trials


def test_a_restored_searcher_goes_on_in_its_study_as_the_study_stands(tmp_path):
    """Tune saves the searcher with its state; a killed driver's last state can be older than the
    study in the database. Restored from it, the searcher writes the same study: a trial closed after
    the state keeps its result (its re-run reports are ignored), a trial asked after it (never run
    again) is failed, not left running, and the trials in flight go on."""
    before = searcher_in_study(tmp_path)
    key = before.metric
    for trial in ("closed", "running"):
        before.suggest(trial)
        before.on_trial_result(trial, {key: 0.5, "training_iteration": 1})
    before.save(str(tmp_path / "state.pkl"))
    before.on_trial_complete("closed", {key: 0.6, "training_iteration": 2})
    before.suggest("asked late")

    after = searcher_in_study(tmp_path)
    after.restore(str(tmp_path / "state.pkl"))
    after.on_trial_result("closed", {key: 0.9, "training_iteration": 2})  # the re-run of a closed trial
    after.on_trial_complete("closed", {key: 0.9, "training_iteration": 3})
    after.on_trial_result("running", {key: 0.7, "training_iteration": 2})
    after.on_trial_complete("running", {key: 0.7, "training_iteration": 2})
    after.suggest("next")
    assert [(t.user_attrs["tune_trial"], t.state.name, t.values, t.intermediate_values) for t in study_trials(tmp_path)] == [
        ("closed", "COMPLETE", [0.6], {1: 0.5, 2: 0.6}), ("running", "COMPLETE", [0.7], {1: 0.5, 2: 0.7}),
        ("asked late", "FAIL", None, {}), ("next", "RUNNING", None, {})]


@pytest.mark.parametrize("first_report", ["a check", "its last"])
@pytest.mark.parametrize("state_saved", ["after the failure", "before it", "before the trial"])
def test_a_failed_trial_run_again_is_a_new_optuna_trial_with_its_parameters(tmp_path, state_saved, first_report):
    """search.fit runs a trial again from its start when a resume lost its checkpoint: Tune reports it
    under the same id, to the searcher that told the study it failed, or to one restored from a state
    saved before that (or before the trial); the run reports a check, or is stopped at its first (Tune passes that report to
    on_trial_complete alone)."""
    searcher = searcher_in_study(tmp_path)
    key = searcher.metric
    if state_saved == "before the trial":
        searcher.save(str(tmp_path / "state.pkl"))
    config = searcher.suggest("lost")
    if state_saved == "before it":
        searcher.save(str(tmp_path / "state.pkl"))
    searcher.on_trial_complete("lost", error=True)
    if state_saved != "after the failure":
        searcher = searcher_in_study(tmp_path)
        searcher.restore(str(tmp_path / "state.pkl"))
    if first_report == "a check":
        searcher.on_trial_result("lost", {key: 0.6, "training_iteration": 1})
    searcher.on_trial_complete("lost", {key: 0.7, "training_iteration": 2})
    failed, again = study_trials(tmp_path)
    assert (failed.state.name, again.state.name, again.values) == ("FAIL", "COMPLETE", [0.7])
    assert again.intermediate_values == ({1: 0.6, 2: 0.7} if first_report == "a check" else {2: 0.7})
    assert again.params == failed.params == config
    assert again.user_attrs == {"tune_trial": "lost", "retry_of": 0}


def test_the_check_that_stops_a_trial_is_among_its_intermediate_values(tmp_path):
    """Tune gives the report that stops a trial (ASHA's cut, the budget, the end) to on_trial_complete
    alone: the study gets it as the trial's last check all the same, once."""
    import warnings
    searcher = searcher_in_study(tmp_path)
    key = searcher.metric
    for trial in ("cut", "cut at once", "ended"):
        searcher.suggest(trial)
    searcher.on_trial_result("cut", {key: 0.5, "training_iteration": 1})
    searcher.on_trial_complete("cut", {key: 0.55, "training_iteration": 2})
    searcher.on_trial_complete("cut at once", {key: 0.6, "training_iteration": 1})
    searcher.on_trial_result("ended", {key: 0.7, "training_iteration": 1})
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        searcher.on_trial_complete("ended", {key: 0.7, "training_iteration": 1})  # Tune's repeat of the last report
    assert not warned, [str(w.message) for w in warned]
    assert [(t.values, t.intermediate_values) for t in study_trials(tmp_path)] == [
        ([0.55], {1: 0.5, 2: 0.55}), ([0.6], {1: 0.6}), ([0.7], {1: 0.7})]


def test_a_failed_trial_run_again_never_takes_a_waiting_points_optuna_trial(tmp_path):
    """Points to evaluate wait in the study as enqueued trials; asking for a retry would pop the oldest of
    them, so while one waits a re-run's reports are ignored and the study keeps the failure."""
    import optuna
    spec = load_spec("imdb", profile=["cpu", "smoke"])
    points = [spec.default_point(), {**spec.default_point(), "lr": 0.02}]
    searcher = search_algorithm(spec, 2, points, storage=optuna.storages.RDBStorage(
        f"sqlite:///{tmp_path / 'optuna.db'}"), study_name="s").searcher
    key = searcher.metric
    searcher.suggest("lost")  # the first point
    searcher.on_trial_complete("lost", error=True)
    searcher.on_trial_result("lost", {key: 0.6, "training_iteration": 1})
    searcher.on_trial_complete("lost", {key: 0.7, "training_iteration": 2})
    states = [(t.state.name, {**t.system_attrs.get("fixed_params", {}), **t.params}.get("lr"))
              for t in study_trials(tmp_path)]  # a waiting trial holds its point as fixed_params
    assert states == [("FAIL", points[0]["lr"]), ("WAITING", 0.02)]
