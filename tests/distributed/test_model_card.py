"""The model card's loading snippets run as written beside the model folder, without this project, and
answer what --predict answers: a text-pair classifier (token types as an ONNX input), a classifier of texts
cut into windows (doc_index as an ONNX input) and a QA model."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bert_hpo_distributed.model_card import cost_lines, how_to_load, served_here, stopped_early
from bert_hpo_distributed.spec.load import load_spec
from bertclf.int8_copy import Int8Check
from bertclf.tasks.classification.predict import predict_texts
from bertclf.config import TrainConfig
from bertclf.models.model_io import read_meta
from bertclf.portable import write_portable
from bertclf.predict import load_model
from bertclf.tasks.qa.predict import answer_questions
from bertclf.tasks.regression.predict import predict_numbers
from bertclf.train import train
from tests.helpers import sentiment_rows, write_csv


def snippets(folder) -> list:
    card = "\n".join(how_to_load(Path(folder), write_portable(folder), read_meta(folder)))
    return [block.split("```")[0] for block in card.split("```python\n")[1:]]


def run_beside(folder, code: str) -> str:
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=Path(folder).parent, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_pair_classifier_card_runs_with_its_second_text(config_for, tmp_path):
    rows = [(f"about the film number {i}", text, label) for i, (text, label) in enumerate(sentiment_rows(64, 1))]
    train_path = write_csv(tmp_path / "pairs.csv", rows, ["sentence1", "sentence2", "label"])
    # one epoch: that ONNX and transformers give --predict's probabilities on pairs is test_portable's;
    # here the snippets' calls are checked, as written
    folder = train(config_for(train_path=train_path, valid_path=None, n_epochs=1), log=lambda s: None)["run_dir"]
    hf, onnx = snippets(folder)
    assert '"text_pair": "its second text"' in hf and '["an example text"], ["its second text"]' in onnx
    pair = ("about the film", "loved it, a superb and wonderful film")
    want = predict_texts(*load_model(folder), [pair[0]], pairs=[pair[1]])[0]
    got = run_beside(folder, onnx.replace("an example text", pair[0]).replace("its second text", pair[1]))
    assert got == f"['{want['label']}']"
    assert f"'label': '{want['label']}'" in run_beside(folder, hf.replace("an example text", pair[0]).replace(
        "its second text", pair[1]))


def test_a_qa_card_runs_and_finds_the_answer(tmp_path):
    from bertclf.smoke import synthetic_korquad
    from bertclf.data.squad import read_squad
    from bertclf.models.tiny_model import build_tiny_bert
    path = synthetic_korquad(tmp_path / "qa.json", 2)
    examples = read_squad(path)
    model = build_tiny_bert(tmp_path / "tiny", [e.context + " " + e.question for e in examples], vocab_size=300,
                            hidden=64, intermediate=128)
    folder = train(TrainConfig(task="qa", train_path=path, valid_path=path, bert_name=model, max_length=64,
                               doc_stride=16, batch_size=8, n_epochs=40, lr=3e-3, lr_main=3e-3, dropout_p=0.0,
                               warmup_ratio=0.0, save_path=str(tmp_path), run_name="qa", cache_dir=str(tmp_path / "c"),
                               progress=False, early_stop=5), log=lambda s: None)["run_dir"]
    (onnx,) = snippets(folder)
    example = examples[0]
    assert answer_questions(*load_model(folder), [(example.question, example.context)])[0]["answer"] == \
        example.answers[0]  # the model answers right: the snippet's answer can be checked against it
    code = onnx.replace('"a question"', repr(example.question)).replace('"the passage that holds the answer"',
                                                                       repr(example.context))
    assert run_beside(folder, code) == example.answers[0]


@pytest.mark.parametrize("options", [dict(), dict(bert_finetuning=False, boost=True, pooling="mean+max")])
def test_a_chunks_card_cuts_windows_and_answers_as_predict(config_for, options):
    # the ONNX copy takes windows and doc_index: the card's lines cut texts as the model read them (a text
    # of 20 windows, of which max_chunks 5 are kept; one of exactly one window; an empty one)
    folder = train(config_for(n_epochs=1, max_length=16, doc_stride=4, max_chunks=5, truncation="chunks", **options),
                   log=lambda s: None)["run_dir"]
    (onnx,) = snippets(folder)  # no transformers copy: its classes do not pool windows
    texts = ["great " + "the movie was a story with actors and a plot " * 20 + "awful", "a superb film", ""]
    code = onnx.replace('["an example text"]', repr(texts)).replace(
        "print([labels[int(i)] for i in logits.argmax(-1)])",
        "p = np.exp(logits - logits.max(-1, keepdims=True)); print((p / p.sum(-1, keepdims=True)).max(-1).tolist())")
    got = json.loads(run_beside(folder, code))
    want = [r["probability"] for r in predict_texts(*load_model(folder), texts)]
    assert got == pytest.approx(want, abs=1e-4)


def test_a_regression_card_of_windows_gives_predicts_numbers(config_for, tmp_path):
    # regression's copies are classification's with one output: with chunks its ONNX copy takes doc_index too
    rows = [(("good " if i % 2 else "bad ") + "the story and the actors " * (i % 7), f"{i % 2 * 2.5:.1f}")
            for i in range(80)]
    train_path = write_csv(tmp_path / "scores.csv", rows, ["text", "score"])
    folder = train(config_for(task="regression", train_path=train_path, valid_path=None, n_epochs=1, max_length=16,
                              doc_stride=4, max_chunks=5, truncation="chunks"), log=lambda s: None)["run_dir"]
    (onnx,) = snippets(folder)
    texts = ["good " + "the story and the actors " * 20 + "bad", "good", ""]
    got = json.loads(run_beside(folder, onnx.replace('["an example text"]', repr(texts))))
    want = predict_numbers(*load_model(folder), texts)
    assert got == pytest.approx(want, abs=1e-4)


def test_a_thresholded_classifier_card_decides_by_its_threshold(config_for):
    folder = train(config_for(metric="valid_macro_f1", n_epochs=1), log=lambda s: None)["run_dir"]
    threshold = read_meta(folder)["threshold"]
    hf, onnx = snippets(folder)
    assert f">= {threshold!r}" in onnx
    texts = ["loved it, a superb and wonderful film", "awful, boring", "a film", "the plot", "great"]
    got = run_beside(folder, onnx.replace('["an example text"]', repr(texts)))
    assert got == repr([r["label"] for r in predict_texts(*load_model(folder), texts)])


def test_an_int8_card_s_snippet_runs_the_int8_copy_and_answers_as_predict(config_for):
    from bert_hpo_distributed.model_card import int8_usage
    from bertclf.inputs import prepare_inputs
    from bertclf.int8_copy import check_int8
    config = config_for(n_epochs=6, precision="int8")
    folder = train(config, log=lambda s: None)["run_dir"]
    (hf, onnx) = snippets(folder)
    # a generous tolerance: the snippet is the test here, the decision is test_int8_copy's
    check = check_int8(folder, prepare_inputs(config, lambda s: None), "valid_accuracy", tolerance=5)
    assert check.kept
    usage = "\n".join(int8_usage(Path(folder).name, check))
    (int8_line,) = [block.split("```")[0] for block in usage.split("```python\n")[1:]]
    assert int8_line.strip() == f'session = onnxruntime.InferenceSession("{Path(folder).name}/onnx/model_int8.onnx")'
    text = "a wonderful and superb film"
    want = predict_texts(*load_model(folder), [text])[0]["label"]
    code = onnx.replace("an example text", text).replace(
        [line for line in onnx.splitlines() if line.startswith("session = ")][0], int8_line.strip())
    assert run_beside(folder, code) == f"['{want}']"


def test_the_cards_cost_line_names_the_copy_measured_and_an_int8_copy_not_kept():
    cost = {"hardware": "a test CPU", "device": "cpu", "latency_ms": 2.0, "latency_p95_ms": 3.0, "throughput": 500.0,
            "model_mb": 20.0, "model_mb_int8": 20.0}
    check = Int8Check(metric="valid_accuracy", fp32=0.90, int8=0.85, tolerance=0.5, fp32_mb=80.0, int8_mb=20.0)
    assert "the fp32 ONNX copy below" in cost_lines(cost)[0] and "not kept" not in cost_lines(cost)[0]
    kept = cost_lines(cost, Int8Check("valid_accuracy", 0.90, 0.899, 0.5, 80.0, 20.0))[0]
    assert "the int8 ONNX copy" in kept and "not kept" not in kept
    dropped = cost_lines(cost, check)[0]
    assert "The int8 copy was not kept (below): the fp32 copy that ships is 80 MB" in dropped
    assert cost_lines(None) == []


def test_the_card_says_what_stopped_trials_early_by_the_scheduler():
    assert stopped_early("asha") == "the asha scheduler stopped weak ones early"
    assert stopped_early("none") == "no scheduler stopped a trial early"


def test_front_members_are_scored_as_served_only_where_a_valid_split_and_a_label_exist():
    assert served_here(load_spec("imdb-deploy", profile=["smoke"]))
    assert not served_here(load_spec("imdb-deploy", ["fixed.cv_folds=3", "space.precision={choice: [fp32]}"],
                                     profile=["smoke"]))  # no valid split of its own
    assert not served_here(load_spec("genres", profile=["smoke"]))  # several labels: onnx_metric scores one


@pytest.mark.parametrize("kept, said", [
    (True, "trial_1: int8 copy kept as onnx/model_int8.onnx (1.0 MB beside fp32's 2.0 MB): "),
    (False, "trial_1: int8 copy passes its check, so int8 would ship (1.0 MB against fp32's 2.0 MB): "),
])
def test_the_int8_line_of_a_front_member_says_kept_only_where_its_folder_stays(tmp_path, monkeypatch, kept, said):
    """Without --export-front a member is scored in a folder removed afterwards: the console does not say
    its int8 copy is kept."""
    from types import SimpleNamespace
    from bert_hpo_distributed import model_card
    check = Int8Check("valid_accuracy", fp32=0.9, int8=0.9, tolerance=0.5, fp32_mb=2.0, int8_mb=1.0)
    monkeypatch.setattr(model_card, "check_int8", lambda *args: check)
    monkeypatch.setattr(model_card, "valid_split", lambda plan, config: None)
    folder = tmp_path / "trial_1"
    folder.mkdir()
    (folder / "search_config.json").write_text(json.dumps({"train_options": {"precision": "int8"}}))
    monkeypatch.setattr(model_card, "portable_copies", lambda plan, folder: SimpleNamespace(onnx="onnx/model.onnx"))
    monkeypatch.setattr(model_card, "model_card", lambda *args: "the card")
    # a task scored otherwise than as served: the int8 check alone speaks
    plan = SimpleNamespace(spec=SimpleNamespace(metric="valid_accuracy", task="regression", cv_folds=0),
                           opts=SimpleNamespace(int8_tolerance=0.5))
    lines = []
    model_card.publish_member(plan, folder, SimpleNamespace(eval_batch_size=8), None, lines.append, kept)
    assert len(lines) == 1 and lines[0].startswith(said), lines
