"""A search's inputs (distributed/inputs.py): prepare runs the search's plan line between tokenising and
featurising, and counts only their time; tokenise says the data and their notes once per search."""
import time
from types import SimpleNamespace

from bertclf.config import TrainConfig
from bert_hpo_distributed import inputs
from tests.helpers import sentiment_rows, write_csv


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


def test_a_search_over_lengths_and_depths_says_its_data_and_notes_once(toy, tmp_path):
    """Six boost keys (max_length 16, 32, 64 x encoder_layers 1, 2) over data whose valid file repeats
    train texts: the leak note, the data line and the test note are each said once, and the two depths
    of one max_length share one tokenisation."""
    train = [(f"{text} {text} {text} {text}", label) for text, label in sentiment_rows(60, seed=4)]  # 16 < length < 64
    valid = train[:3] + sentiment_rows(20, seed=5)
    paths = {name: write_csv(tmp_path / f"{name}.csv", rows, header=("text", "label"))
             for name, rows in (("train", train), ("valid", valid), ("test", train[:2] + valid[5:9]))}
    configs = [TrainConfig(train_path=paths["train"], valid_path=paths["valid"], bert_name=toy["model"],
                           boost=True, bert_finetuning=False, max_length=length, encoder_layers=layers,
                           cache_dir=str(tmp_path / "cache"), progress=False)
               for length in (16, 32, 64) for layers in (1, 2)]
    plan = SimpleNamespace(opts=SimpleNamespace(share_inputs=True), spec=SimpleNamespace(tokenize_on="driver"),
                           models={toy["model"]: SimpleNamespace(source=toy["model"])}, test_path=paths["test"])
    lines = []
    groups = inputs.tokenise(plan, configs, lines.append)
    assert len(groups) == 6 and len({id(prepared) for _, prepared, _ in groups}) == 3
    assert [line.split(" of the")[0] for line in lines if "also appear in train" in line] == ["note: 3", "note: 2"]
    data = [line for line in lines if line.startswith("data: ")]
    assert len(data) == 1 and data[0].endswith(" (at max_length 64; also searched: 16, 32)"), data
    assert data[0] == f"data: {groups[-1][1].description} (at max_length 64; also searched: 16, 32)"
