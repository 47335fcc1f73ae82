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


def score_file(model_dir, path, batch_size: int = 64, device="cpu") -> dict:
    """Accuracy of a saved model on a labelled file: how a search re-scores its best model on test."""
    from .data import encode_labels, read_examples
    from .model_io import read_meta
    examples = read_examples(path, "test data")
    gold = encode_labels(examples, read_meta(model_dir)["label_names"], "test data")
    predicted = predict_texts(model_dir, examples.texts, batch_size, device)
    names = read_meta(model_dir)["label_names"]
    correct = sum(names.index(p["label"]) == y for p, y in zip(predicted, gold))
    return {"accuracy": correct / len(gold), "examples": len(gold), "path": str(path)}
