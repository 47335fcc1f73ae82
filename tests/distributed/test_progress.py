"""The search's console across a resume: the count goes on, the best found before is remembered; a
long phase before the trials says its time left."""
from types import SimpleNamespace

from bert_hpo_distributed import progress
from bert_hpo_distributed.progress import PhaseProgress, Progress
from bert_hpo_distributed.spec.load import load_spec


def _finish(progress, trials, trial_id, score):
    trial = SimpleNamespace(trial_id=trial_id, status="TERMINATED", config={"lr": 0.01}, path="/x", local_path="/x")
    trials.append(trial)
    progress.on_trial_result(0, trials, trial, {"epoch": 1, "best_valid_accuracy": score, "done_reason": "completed"})
    progress.on_trial_complete(0, trials, trial)


def test_a_resumed_console_continues_the_count_and_remembers_the_best():
    spec = load_spec("imdb", profile=["smoke"])
    before, after = [], []
    first = Progress(spec, 1, before.append)
    _finish(first, [], "a", 0.9)
    state = first.get_state()
    # a resumed search: Tune rebuilds the callback from its pickle and hands it the saved state
    resumed = Progress(spec, 1, after.append)
    resumed.set_state(state)
    resumed.setup()
    restored = [SimpleNamespace(trial_id="a", status="TERMINATED")]
    _finish(resumed, restored, "b", 0.8)
    assert after[0].startswith("resumed: 1/4 trials finished before, best 0.9000"), after
    assert after[1].startswith("trial 2/4 (b)") and not any("new best" in line for line in after), after


def test_a_resumed_search_continues_the_count_and_remembers_the_best():
    from types import SimpleNamespace

    from bert_hpo_distributed.progress import Progress
    from bert_hpo_distributed.spec.load import load_spec
    spec = load_spec("imdb", ["num_samples=4"], profile=["cpu", "smoke"])
    lines = []
    earlier = Progress(spec, 1, lines.append)

    def trial(trial_id, status, score):
        return SimpleNamespace(trial_id=trial_id, status=status, config={k: 1 for k in spec.space},
                               last_result={"best_valid_accuracy": score, "epoch": 3}, path="/x", local_path="/x")
    before = [trial("a", "TERMINATED", 0.9), trial("b", "TERMINATED", 0.7), trial("c", "RUNNING", None)]
    for done in before[:2]:
        earlier.on_trial_result(0, before, done, {**done.last_result, "done_reason": "completed", "time_total_s": 5.0})
        earlier.on_trial_complete(0, before, done)
    lines.clear()
    progress = Progress(spec, 1, lines.append)  # as Tune restores it with the experiment (--resume)
    progress.set_state(earlier.get_state())
    assert lines == ["resumed: 2/4 trials finished before, best 0.9000"]
    progress.on_trial_result(0, before, before[2], {"best_valid_accuracy": 0.8, "epoch": 3, "done_reason": "completed",
                                                    "time_total_s": 5.0})
    before[2].status = "TERMINATED"
    progress.on_trial_complete(0, before, before[2])
    assert lines[1].startswith("trial 3/4 (c) completed at epoch 3, valid accuracy 0.8000")
    assert not any("new best" in line for line in lines)  # 0.8 is below the earlier session's 0.9


def test_seed_repeats_count_to_their_own_total():
    spec = load_spec("imdb", profile=["smoke"])
    lines = []
    repeats = Progress(spec, 1, lines.append, total=6)
    _finish(repeats, [], "a", 0.9)
    assert lines[0].startswith("trial 1/6 (a)") and spec.num_samples == 4, lines


def test_a_minimised_metric_is_a_new_best_when_it_is_lower():
    spec = load_spec("regress", ["metric=valid_rmse"], profile=["smoke"])
    lines, trials = [], []
    progress = Progress(spec, 1, lines.append)
    for trial_id, rmse in (("a", 0.5), ("b", 0.9), ("c", 0.3)):
        trial = SimpleNamespace(trial_id=trial_id, status="TERMINATED", config={}, path="/x", local_path="/x")
        trials.append(trial)
        progress.on_trial_result(0, trials, trial, {"epoch": 1, "best_valid_rmse": rmse, "done_reason": "completed"})
        progress.on_trial_complete(0, trials, trial)
    bests = [line for line in lines if "new best" in line]
    assert [b.split("valid rmse ")[1][:6] for b in bests] == ["0.5000", "0.3000"], lines


def test_with_folds_a_finished_trial_says_its_folds_and_their_mean():
    from types import SimpleNamespace

    from bert_hpo_distributed.progress import Progress
    from bert_hpo_distributed.spec.load import load_spec
    spec = load_spec("imdb", ["num_samples=2", "fixed.cv_folds=5"], profile=["cpu", "smoke"])
    lines = []
    progress = Progress(spec, 1, lines.append)
    trial = SimpleNamespace(trial_id="a", status="TERMINATED", config={k: 1 for k in spec.space}, path="/x",
                            local_path="/x")
    progress.on_trial_result(0, [trial], trial, {"best_valid_accuracy": 0.75, "epoch": 4, "folds_done": 2,
                                                 "done_reason": "", "time_total_s": 5.0})
    progress.on_trial_complete(0, [trial], trial)
    assert lines[0].startswith("trial 1/2 (a) pruned (asha) after 2 of 5 folds, mean valid accuracy 0.7500"), lines


def test_a_long_phase_says_its_time_left_after_the_first_step_then_every_half_minute(monkeypatch):
    clock = iter([0.0, 20.0, 40.0, 55.0, 75.0])  # the start, then each step's end
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    lines = []
    phase = PhaseProgress("inference cost: measured", 5, lines.append)
    for _ in range(4):
        phase.step_done()
    assert lines == ["inference cost: measured 1 of 5 in 20s, ~1m20s left",  # known early
                     "inference cost: measured 3 of 5 in 55s, ~37s left"]  # 30 s after the last line


def test_a_short_phase_is_quiet():
    lines = []
    phase = PhaseProgress("inference cost: measured", 3, lines.append)
    for _ in range(3):
        phase.step_done()
    assert lines == []
