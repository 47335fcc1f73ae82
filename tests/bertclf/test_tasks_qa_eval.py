"""QA evaluation (bertclf/tasks/qa/eval.py): each worker decodes its share, the best valid span wins."""
import pytest
import torch

from bertclf.tasks.qa.eval import decode
from bertclf.tasks.qa.inputs import Windows, windows
from bertclf.data.squad import read_squad


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
    from bertclf.models.encoders import load_tokenizer
    tokenizer = load_tokenizer(korean["model"])
    examples = read_squad(korean["path"])[:1]
    win = Windows(windows(tokenizer, examples, max_length=64, doc_stride=16, cache_dir=tmp_path))
    s, e = int(win.tensors["starts"][0]), int(win.tensors["ends"][0])
    logits = torch.zeros(int(win.ids.lengths[0]), 2)
    logits[s, 0] = logits[e, 1] = 5.0
    logits[1, 0] = 9.0  # a high start in the question: not a valid answer position
    assert decode(examples, win, {0: logits}) == {examples[0].qid: examples[0].answers[0]}
