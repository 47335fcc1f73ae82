"""Label and probability for new texts, from a saved model folder."""
from typing import List, Sequence

import torch

from .batching import eval_batches, pad_batch
from .model_io import load_model
from .tokenization import TokenIds, encode, pack


def predict_texts(model_dir, texts: Sequence[str], batch_size: int = 64, device="cpu") -> List[dict]:
    model, tokenizer, meta = load_model(model_dir)
    model.to(device)
    tokens = TokenIds(*pack(encode(tokenizer, texts, meta["max_length"], meta["truncation"])))
    pad_id = tokenizer.pad_token_id or 0
    results = [None] * len(texts)
    with torch.inference_mode():
        for idx in eval_batches(tokens.lengths.tolist(), batch_size):
            ids, mask = pad_batch(tokens, idx, pad_id)
            probs = model(ids.to(device), mask.to(device)).float().softmax(-1).cpu()
            for row, i in enumerate(idx):
                k = int(probs[row].argmax())
                results[i] = {"text": texts[i], "label": meta["label_names"][k],
                              "probability": float(probs[row, k])}
    return results


def score_file(model_dir, path, batch_size: int = 64, device="cpu", max_examples=None) -> dict:
    """Accuracy of a saved model on a labelled file: how a search re-scores its best model on test.

    max_examples: a seeded random subset (stated in the result), for CPU-sized searches.
    """
    from .data import encode_labels, read_examples, seeded_subset
    from .model_io import read_meta
    examples = read_examples(path, "test data")
    examples = examples.subset(seeded_subset(len(examples), max_examples, 0))
    names = read_meta(model_dir)["label_names"]
    gold = encode_labels(examples, names, "test data")
    predicted = predict_texts(model_dir, examples.texts, batch_size, device)
    correct = sum(names.index(p["label"]) == y for p, y in zip(predicted, gold))
    return {"accuracy": correct / len(gold), "examples": len(gold), "path": str(path)}


def _qa_predictions(model_dir, examples, batch_size: int, device, cache_dir=None):
    """{question id: answer text} of a saved QA model over SQuAD-style examples."""
    import tempfile
    from .qa import Windows, decode, window_inputs, windows
    model, tokenizer, meta = load_model(model_dir)
    model.to(device)
    win = Windows(windows(tokenizer, examples, meta["max_length"], meta["doc_stride"],
                          cache_dir or tempfile.mkdtemp(prefix="bert-hpo-qa-")))
    by_window = {}
    with torch.inference_mode():
        for idx in eval_batches(win.ids.lengths.tolist(), batch_size):
            inputs = window_inputs(win, tokenizer.pad_token_id or 0, 1, idx)
            logits = model(**{k: v.to(device) for k, v in inputs.items()}).float().cpu()
            by_window.update({w: logits[row] for row, w in enumerate(idx)})
    return decode(examples, win, by_window, max_answer_length=meta["max_answer_length"])


def answer_questions(model_dir, pairs, batch_size: int = 64, device="cpu") -> List[dict]:
    """[(question, context)] -> [{"question", "answer"}] with a saved QA model."""
    from .squad import QAExample
    examples = [QAExample(str(i), q, c, [""], 0, "") for i, (q, c) in enumerate(pairs)]
    answers = _qa_predictions(model_dir, examples, batch_size, device)
    return [{"question": e.question, "answer": answers[e.qid]} for e in examples]


def score_qa_file(model_dir, path, batch_size: int = 64, device="cpu", max_examples=None) -> dict:
    """KorQuAD EM / F1 (percent) of a saved QA model on a SQuAD-format file."""
    from .data import seeded_subset
    from .qa import answers_of
    from .qa_metrics import score
    from .squad import read_squad
    examples = read_squad(path, "test data")
    examples = [examples[i] for i in seeded_subset(len(examples), max_examples, 0)]
    predictions = _qa_predictions(model_dir, examples, batch_size, device)
    return {**score(predictions, answers_of(examples)), "examples": len(examples), "path": str(path)}
