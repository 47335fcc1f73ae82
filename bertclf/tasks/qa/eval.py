"""QA's evaluation: every window of a question votes with its best span (n-best over start + end
logits), the best-scoring span wins; KorQuAD EM and F1 on valid at a check and on a test split."""
import math
from typing import Dict, List

import torch

from ...batching import eval_batches
from ...inference import run_batches
from .inputs import NO_OFFSET, QAInputs, Windows, window_inputs
from .metrics import korquad_scores
from .model import span_loss


def decode(examples, win: Windows, logits_by_window: Dict[int, torch.Tensor], n_best: int = 20,
           max_answer_length: int = 30) -> Dict[str, str]:
    """The best span text of each question over all its windows (start + end logit, n-best search)."""
    best: Dict[int, tuple] = {}
    owners = win.tensors["owners"].tolist()
    for w, logits in logits_by_window.items():
        offsets = win.offsets(w)
        in_context = offsets[:, 0] != NO_OFFSET
        start_logits = logits[:len(offsets), 0].masked_fill(~in_context, float("-inf"))
        end_logits = logits[:len(offsets), 1].masked_fill(~in_context, float("-inf"))
        k = min(n_best, int(in_context.sum()))
        if k == 0:
            continue
        top_starts = start_logits.topk(k).indices.tolist()
        top_ends = end_logits.topk(k).indices.tolist()
        for s in top_starts:
            for e in top_ends:
                if e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(start_logits[s] + end_logits[e])
                owner = owners[w]
                if owner not in best or score > best[owner][0]:
                    best[owner] = (score, int(offsets[s, 0]), int(offsets[e, 1]))
    return {e.qid: e.context[best[i][1]:best[i][2]] if i in best else "" for i, e in enumerate(examples)}


def answers_of(examples) -> Dict[str, List[str]]:
    return {e.qid: e.answers for e in examples}


def evaluate(inputs, valid, max_answer_length: int, batch_size: int, run, rank: int, world: int, reduce) -> dict:
    """{"valid_loss", "valid_f1", "valid_exact_match"} over the valid questions (`valid`: their Windows).

    Each of the `world` workers decodes its share of the questions (all windows of a question, so
    that they meet in one place); `reduce` sums the workers' totals."""
    owners = valid.tensors["owners"].tolist()
    mine = [w for w, owner in enumerate(owners) if owner % world == rank]
    lengths = valid.ids.lengths.tolist()
    loss_sum, by_window = 0.0, {}
    batches = [[mine[i] for i in batch] for batch in eval_batches([lengths[w] for w in mine], batch_size)]
    for indices, logits in run(batches):
        loss_sum += span_loss(logits, valid.tensors["starts"][indices], valid.tensors["ends"][indices]).item()
        by_window.update({w: logits[row] for row, w in enumerate(indices)})
    examples = inputs.examples["valid"]
    asked = [e for i, e in enumerate(examples) if i % world == rank]
    scores = korquad_scores(decode(examples, valid, by_window, max_answer_length=max_answer_length),
                            answers_of(asked))
    loss_sum, f1_sum, em_sum, questions = reduce([loss_sum, scores["f1"] * len(asked),
                                                  scores["exact_match"] * len(asked), len(asked)])
    return {"valid_loss": loss_sum / len(valid), "valid_f1": f1_sum / questions,
            "valid_exact_match": em_sum / questions}


def degenerate(train, metrics: dict) -> bool:
    """Almost no answer overlap, and a span loss still at the level of guessing among a window's tokens
    (`train`: the training Windows)."""
    chance = math.log(train.ids.lengths.float().mean().item())
    return metrics["valid_f1"] < 5.0 and metrics["train_loss"] >= 0.97 * chance


def predictions(model, meta, inputs: QAInputs, split: str, *, device, bf16: bool, batch_size: int) -> Dict[str, str]:
    """{question id: answer text} of a model over the questions of `split`."""
    win = Windows(inputs.windows[split])
    model.to(device)
    batches = eval_batches(win.ids.lengths.tolist(), batch_size)
    by_window = {}
    for idx, _, logits in run_batches(model, batches, (window_inputs(win, inputs.pad_id, 1, b) for b in batches),
                                      device=device, bf16=bf16):
        logits = logits.float().cpu()
        by_window.update({w: logits[row] for row, w in enumerate(idx)})
    return decode(inputs.examples[split], win, by_window, max_answer_length=meta["max_answer_length"])


def test_em_f1(model, meta, inputs: QAInputs, *, device, bf16: bool, batch_size: int) -> dict:
    """KorQuAD EM / F1 (percent) on inputs' test questions."""
    examples = inputs.examples["test"]
    predicted = predictions(model, meta, inputs, "test", device=device, bf16=bf16, batch_size=batch_size)
    return {**korquad_scores(predicted, answers_of(examples)), "examples": len(examples)}
