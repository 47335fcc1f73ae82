"""Classification's prediction: label and probability of new texts by a saved model (--predict)."""
from functools import partial
from pathlib import Path
from typing import List

import torch

from .batching import eval_batches, token_inputs
from .errors import UserError
from .inference import run_batches
from .tokenization import TokenIds, encode, pack


def predict_texts(model, tokenizer, meta, texts, batch_size: int = 64, device="cpu") -> List[dict]:
    """Label and probability of each text, from a loaded saved model (bertclf.predict.load_model)."""
    tokens = TokenIds(*pack(encode(tokenizer, texts, meta["max_length"], meta["truncation"])))
    device = torch.device(device)
    model.to(device)
    results = [None] * len(texts)
    batches = eval_batches(tokens.lengths.tolist(), batch_size)
    make = partial(token_inputs, tokens, tokenizer.pad_token_id or 0, 1)
    for idx, _, logits in run_batches(model, batches, map(make, batches), device=device, bf16=False):
        probs = logits.float().softmax(-1).cpu()
        for row, i in enumerate(idx):
            k = int(probs[row].argmax())
            results[i] = {"text": texts[i], "label": meta["label_names"][k], "probability": float(probs[row, k])}
    return results


def predict(args, model, tokenizer, meta) -> List[dict]:
    """--predict with --text (repeatable) and/or --input FILE (one text per line), by the loaded model."""
    texts = list(args.text or [])
    if args.input:
        path = Path(args.input)
        if not path.is_file():
            raise UserError(f"--input {path}: no such file")
        texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise UserError("--predict needs --text \"...\" or --input FILE")
    return [{"label": r["label"], "probability": round(r["probability"], 4), "text": r["text"][:80]}
            for r in predict_texts(model, tokenizer, meta, texts)]
