"""A search's inputs (distributed/inputs.py): prepare runs the search's plan line between tokenising and
featurising, and counts only their time."""
import time
from types import SimpleNamespace

from bert_hpo_distributed import inputs


def test_prepare_runs_its_callback_between_tokenise_and_featurise_and_does_not_time_it(monkeypatch):
    calls = []
    groups = [("config", SimpleNamespace(description="10 train texts"), {"key"})]
    monkeypatch.setattr(inputs, "tokenise", lambda plan, configs, say: calls.append("tokenise") or groups)
    monkeypatch.setattr(inputs, "featurise", lambda plan, got, say: calls.append(("featurise", got is groups))
                        or ({"key": "ready"}, []))
    plan = SimpleNamespace(spec=SimpleNamespace(tokenize_on="driver"))
    lines = []
    ready, pending, data, seconds = inputs.prepare(
        plan, ["config"], lines.append, lambda got: calls.append(("plan", got is groups)) or time.sleep(0.3))
    assert calls == ["tokenise", ("plan", True), ("featurise", True)]
    assert (ready, pending, data) == ({"key": "ready"}, [], "10 train texts") and seconds < 0.3
    assert lines == ["inputs ready in 0 s, prepared once"]
