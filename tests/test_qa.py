"""KorQuAD-style extractive QA: official EM/F1, windows, decoding, and a tiny model that learns."""
import json

import pytest
import torch

from bertclf.errors import UserError
from bertclf.qa_eval import decode
from bertclf.qa_inputs import Windows, windows
from bertclf.qa_metrics import exact_match, f1, korquad_scores, normalize_answer
from bertclf.smoke import FRUITS, PEOPLE
from bertclf.squad import QAExample, read_squad, split_by_article

def korean_squad(path, n_articles=4):
    """Korean questions whose answers sit at a different place in each context (bertclf.smoke)."""
    from bertclf.smoke import synthetic_korquad
    return synthetic_korquad(path, n_articles)


@pytest.mark.parametrize("prediction, truth, em, f1_value", [
    ("《세종대왕》", "세종대왕", 1.0, 1.0),            # KorQuAD's extra brackets are dropped
    ("세종 대왕", "세종대왕", 0.0, 1.0),                # F1 counts characters, spaces ignored
    ("대왕", "세종대왕", 0.0, 2 * 1.0 * 0.5 / 1.5),     # P = 2/2, R = 2/4
    ("The (Cat)!", "the cat", 1.0, 1.0),              # lower case, ASCII punctuation removed
    ("‘1997년’", "1997년", 1.0, 1.0),
    ("사과", "바나나", 0.0, 0.0),
])
def test_korquad_exact_match_and_f1(prediction, truth, em, f1_value):
    assert exact_match(prediction, truth) == em
    assert f1(prediction, truth) == pytest.approx(f1_value)


def test_score_takes_the_best_gold_answer_and_reports_percent():
    result = korquad_scores({"q1": "세종", "q2": "없음"}, {"q1": ["세종대왕", "세종"], "q2": ["바나나"]})
    assert result == {"exact_match": 50.0, "f1": 50.0}
    assert normalize_answer("  《가》 나  ") == "가 나"


@pytest.fixture(scope="module")
def korean(tmp_path_factory):
    from bertclf.tiny_model import build_tiny_bert
    root = tmp_path_factory.mktemp("qa")
    path = korean_squad(root / "qa.json")
    texts = [p["context"] + " " + q["question"] for a in json.load(open(path))["data"]
             for p in a["paragraphs"] for q in p["qas"]]
    model = build_tiny_bert(root / "tiny", texts, vocab_size=300, hidden=64, intermediate=128)
    return {"root": root, "path": path, "model": model}


def test_windows_hold_the_answer_where_it_fits(korean, tmp_path):
    from bertclf.encoders import load_tokenizer
    tokenizer = load_tokenizer(korean["model"])
    long_context = " ".join(f"{p}는 {f}를 좋아한다." for p, f in zip(PEOPLE * 3, FRUITS * 3))
    answer_at = long_context.rindex("자두")
    examples = [QAExample("x", "미나가 좋아하는 과일은?", long_context, ["자두"], answer_at, "t")]
    win = Windows(windows(tokenizer, examples, max_length=32, doc_stride=8, cache_dir=tmp_path))
    assert len(win) > 2  # the context was cut into several overlapping windows
    found = 0
    for w in range(len(win)):
        s, e = int(win.tensors["starts"][w]), int(win.tensors["ends"][w])
        if s == 0:
            continue
        offsets = win.offsets(w)
        # the start and end tokens are the ones that hold the answer's first and last character
        assert offsets[s, 0] <= answer_at < offsets[s, 1]
        assert offsets[e, 0] < answer_at + len("자두") <= offsets[e, 1]
        assert "자두" in long_context[int(offsets[s, 0]):int(offsets[e, 1])]
        found += 1
    assert found >= 1


def test_doc_stride_is_the_overlap_of_neighbouring_windows(korean, tmp_path):
    from bertclf.encoders import load_tokenizer
    tokenizer = load_tokenizer(korean["model"])
    long_context = " ".join(f"{p}는 {f}를 좋아한다." for p, f in zip(PEOPLE * 3, FRUITS * 3))
    examples = [QAExample("x", "미나가 좋아하는 과일은?", long_context, ["자두"], long_context.rindex("자두"), "t")]
    win = Windows(windows(tokenizer, examples, max_length=32, doc_stride=8, cache_dir=tmp_path))
    spans = [[tuple(o) for o in win.offsets(w).tolist() if o[0] != -1] for w in range(2)]
    assert len(set(spans[0]) & set(spans[1])) == 8  # the context tokens both windows hold


def test_a_question_too_long_for_a_window_is_refused_naming_it(korean, tmp_path):
    from bertclf.encoders import load_tokenizer
    tokenizer = load_tokenizer(korean["model"])
    example = read_squad(korean["path"])[0]
    long = QAExample("long-q", " ".join([example.question] * 12), example.context, example.answers,
                     example.answer_start, example.article)
    with pytest.raises(UserError, match=r"question long-q is \d+ tokens long: with --max_length 32 and --doc_stride 8"):
        windows(tokenizer, [example, long], max_length=32, doc_stride=8, cache_dir=tmp_path)


def test_each_worker_decodes_only_its_share_of_the_questions(korean, tmp_path):
    from functools import partial
    from bertclf.config import TrainConfig
    from bertclf.train import run_valid, set_up
    config = TrainConfig(task="qa", train_path=korean["path"], valid_path=korean["path"], bert_name=korean["model"],
                         max_length=64, doc_stride=16, batch_size=8, eval_batch_size=4, save_path=str(tmp_path),
                         cache_dir=str(tmp_path / "c"), progress=False)
    run = set_up(config, None, None, lambda m: None)
    seen, sums = {}, []

    def runner(rank, batches):
        seen[rank] = [w for batch in batches for w in batch]
        return run_valid(run, batches)

    def keep(values):
        sums.append(values)
        return values
    whole = run.task.evaluate(partial(runner, "all"), 0, 1, lambda values: values)
    for rank in (0, 1):
        run.task.evaluate(partial(runner, rank), rank, 2, keep)
    assert not set(seen[0]) & set(seen[1]) and sorted(seen[0] + seen[1]) == sorted(seen["all"])
    loss, f1_sum, em_sum, questions = (a + b for a, b in zip(*sums))
    assert loss / len(seen["all"]) == pytest.approx(whole["valid_loss"], rel=1e-5)
    assert f1_sum / questions == pytest.approx(whole["valid_f1"]) and em_sum / questions == pytest.approx(whole["valid_exact_match"])


def test_decode_picks_the_best_valid_span(korean, tmp_path):
    from bertclf.encoders import load_tokenizer
    tokenizer = load_tokenizer(korean["model"])
    examples = read_squad(korean["path"])[:1]
    win = Windows(windows(tokenizer, examples, max_length=64, doc_stride=16, cache_dir=tmp_path))
    s, e = int(win.tensors["starts"][0]), int(win.tensors["ends"][0])
    logits = torch.zeros(int(win.ids.lengths[0]), 2)
    logits[s, 0] = logits[e, 1] = 5.0
    logits[1, 0] = 9.0  # a high start in the question: not a valid answer position
    assert decode(examples, win, {0: logits}) == {examples[0].qid: examples[0].answers[0]}


def test_split_by_article_keeps_articles_whole(korean):
    train, held = split_by_article(read_squad(korean["path"]), 0.5, seed=0)
    assert len(train) == len(held) == 4
    assert not {e.article for e in train} & {e.article for e in held}


def test_bad_squad_file_names_article_and_question(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "abc", "qas": [
        {"id": "q7", "question": "?", "answers": [{"text": "zz", "answer_start": 1}]}]}]}]}))
    with pytest.raises(UserError, match=r"article 0 \(t\), paragraph 0, question q7: answer_start 1"):
        read_squad(path)
    path.write_text("[1, 2]")
    with pytest.raises(UserError, match="not SQuAD-format JSON"):
        read_squad(path)


def test_boost_is_refused_for_qa_with_the_reason():
    from bertclf.config import TrainConfig
    from bertclf.task_registry import check_task_options
    with pytest.raises(UserError, match="every token's vector"):
        check_task_options(TrainConfig(task="qa", train_path="x.json", bert_finetuning=False, boost=True).validate())


def test_tiny_model_learns_a_handful_of_questions_to_em_100(korean, tmp_path):
    from bertclf.config import TrainConfig
    from bertclf.train import train
    result = train(TrainConfig(task="qa", train_path=korean["path"], valid_path=korean["path"],
                               bert_name=korean["model"], max_length=64, doc_stride=16, batch_size=8,
                               n_epochs=40, lr=3e-3, lr_main=3e-3, dropout_p=0.0, warmup_ratio=0.0,
                               save_path=str(tmp_path), run_name="qa", cache_dir=str(tmp_path / "c"),
                               progress=False, early_stop=5))
    assert result["best"]["valid_exact_match"] == 100.0 and result["best"]["valid_f1"] == 100.0
    table = open(f"{result['run_dir']}/results.md").read()
    assert "| valid EM | valid F1 |" in table and "| 100.00 | 100.00 |" in table


def test_predict_answers_with_a_saved_qa_model(korean, tmp_path, capsys):
    from launch import main  # the user-facing parser
    from bertclf.config import TrainConfig
    from bertclf.predict import score_model, test_inputs
    from bertclf.train import train
    result = train(TrainConfig(task="qa", train_path=korean["path"], valid_path=korean["path"],
                               bert_name=korean["model"], max_length=64, doc_stride=16, batch_size=8,
                               n_epochs=40, lr=3e-3, lr_main=3e-3, dropout_p=0.0, warmup_ratio=0.0,
                               save_path=str(tmp_path), run_name="qa", cache_dir=str(tmp_path / "c"),
                               progress=False, early_stop=5), log=lambda s: None)
    inputs = test_inputs(result["run_dir"], korean["path"], cache_dir=tmp_path / "c")
    assert score_model(result["run_dir"], inputs, cache_dir=tmp_path / "c") == {
        "exact_match": 100.0, "f1": 100.0, "examples": 8}
    example = read_squad(korean["path"])[0]
    capsys.readouterr()
    assert main(["--predict", "--model", result["run_dir"], "--question", example.question,
                 "--context", example.context]) == 0
    assert json.loads(capsys.readouterr().out) == {"question": example.question, "answer": example.answers[0]}
    assert main(["--predict", "--model", result["run_dir"], "--text", "x"]) == 2
