"""Multi-label prediction: each new text's (or text pair's) label set, every label whose probability reaches
its saved threshold, with the probabilities (--predict)."""
from typing import List

import torch

from ...data.label_values import label_text
from ..classification.predict import texts_to_predict, text_outputs


def predict_sets(model, tokenizer, meta, texts, batch_size: int = 64, device="cpu", pairs=None) -> List[dict]:
    """Per text: `labels`, {label as written: probability} of the labels at or above their thresholds
    (most probable first), and `probabilities` of every label, from a loaded saved model."""
    names = [label_text(n) for n in meta["label_names"]]
    thresholds = model.head.thresholds.cpu()
    probabilities = torch.sigmoid(text_outputs(model, tokenizer, meta, texts, pairs, batch_size, device))
    results = []
    for i, p in enumerate(probabilities):
        chosen = sorted((k for k in range(len(names)) if p[k] >= thresholds[k]), key=lambda k: -float(p[k]))
        results.append({"text": texts[i], "labels": {names[k]: float(p[k]) for k in chosen},
                        "probabilities": {name: float(p[k]) for k, name in enumerate(names)}})
        if pairs:
            results[i]["text_pair"] = pairs[i]
    return results


def predict(args, model, tokenizer, meta) -> List[dict]:
    """--predict with --text (repeatable; --text_pair for pair models) and/or --input FILE: per text its
    label set with the probabilities (4 decimals; an empty set where no label reaches its threshold)."""
    texts, pairs = texts_to_predict(args, meta)
    rows = []
    for r in predict_sets(model, tokenizer, meta, texts, pairs=pairs):
        row = {"labels": {name: round(p, 4) for name, p in r["labels"].items()}, "text": r["text"][:80]}
        if pairs:
            row["text_pair"] = r["text_pair"][:80]
        rows.append(row)
    return rows
