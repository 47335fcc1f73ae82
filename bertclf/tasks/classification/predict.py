"""Classification's prediction: label and probability of new texts (or text pairs) by a saved model (--predict)."""
from functools import partial
from pathlib import Path
from typing import List

import torch

from ...batching import text_batches, token_inputs
from ...data.examples import read_examples
from ...data.readers import format_of, read_text
from ...errors import UserError
from ...inference import run_batches
from ...tokenization import encode
from .inputs import saved_columns, saved_windowing
from .threshold import decide


def text_outputs(model, tokenizer, meta, texts, pairs=None, batch_size: int = 64, device="cpu") -> torch.Tensor:
    """[texts, outputs] of a loaded saved model (bertclf.predict.load_model) on `texts` (with `pairs`: text
    pairs), in their order. UserError when pairs are given to a single-text model or missing for a pair model."""
    if bool(pairs) != bool(meta.get("pairs")):
        raise UserError("this model reads text pairs: give each --text a --text_pair (or an --input table with "
                        "both columns)" if meta.get("pairs") else
                        "this model reads single texts: --text_pair (or a second text column) is not for it")
    tokens = encode(tokenizer, texts, meta["max_length"], meta["truncation"], pairs, *saved_windowing(meta))
    device = torch.device(device)
    model.to(device)
    batches = text_batches(tokens, batch_size)
    make = partial(token_inputs, tokens, tokenizer.pad_token_id or 0, 1)
    outputs = [None] * len(texts)
    for idx, _, logits in run_batches(model, batches, map(make, batches), device=device, bf16=False):
        for row, i in enumerate(idx):
            outputs[i] = logits[row].float().cpu()
    return torch.stack(outputs)


def predict_texts(model, tokenizer, meta, texts, batch_size: int = 64, device="cpu", pairs=None) -> List[dict]:
    """Label and probability of each text (with `pairs`: of each text pair), from a loaded saved model: the
    most probable label, or where the model has a decision threshold, the second label if its probability
    reaches it (threshold.py)."""
    probs = text_outputs(model, tokenizer, meta, texts, pairs, batch_size, device).softmax(-1)
    results = []
    for i, (row, k) in enumerate(zip(probs, decide(probs, meta.get("threshold")).tolist())):
        results.append({"text": texts[i], "label": meta["label_names"][k], "probability": float(row[k])})
        if pairs:
            results[i]["text_pair"] = pairs[i]
    return results


def texts_to_predict(args, meta):
    """(texts, pairs or None) from --text/--text_pair and --input: a table (.csv, .tsv, .jsonl, .parquet,
    with the model's columns; a label column is not needed) or a plain file of one text per line."""
    texts, pairs = list(args.text or []), list(getattr(args, "text_pair", None) or [])
    if pairs and len(pairs) != len(texts):
        raise UserError(f"--text_pair: {len(pairs)} given for {len(texts)} --text; give one per --text")
    if args.input:
        path = Path(args.input)
        if meta.get("pairs") or format_of(path) not in (".txt", ""):
            table = read_examples(path, "input", saved_columns(meta), need_labels=False,
                                  need_pair=meta.get("pairs", False))
            texts += table.texts
            pairs += table.pairs or []
        else:
            texts += [line for line in read_text(path, "input").splitlines() if line.strip()]
    if not texts:
        raise UserError("--predict needs --text \"...\" or --input FILE")
    return texts, pairs or None


def predict(args, model, tokenizer, meta) -> List[dict]:
    """--predict with --text (repeatable; --text_pair for pair models) and/or --input FILE, by the loaded model."""
    texts, pairs = texts_to_predict(args, meta)
    rows = []
    for r in predict_texts(model, tokenizer, meta, texts, pairs=pairs):
        row = {"label": r["label"], "probability": round(r["probability"], 4), "text": r["text"][:80]}
        if pairs:
            row["text_pair"] = r["text_pair"][:80]
        rows.append(row)
    return rows


def predict_example(meta) -> str:
    """The options of an example --predict with the model of `meta`."""
    return '--text "an example text"' + (' --text_pair "its second text"' if meta.get("pairs") else "")
