"""The search's console across a resume: the count goes on, the best found before is remembered."""
from types import SimpleNamespace

from bert_hpo_distributed.progress import Progress
from bert_hpo_distributed.spec import load_spec


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
