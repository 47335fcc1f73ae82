"""Regression's prediction: the number of new texts (or text pairs) by a saved model (--predict), in the
units of the file it was trained on."""
from typing import List

from ..classification.predict import text_outputs, texts_to_predict


def predict_numbers(model, tokenizer, meta, texts, pairs=None, batch_size: int = 64, device="cpu") -> List[float]:
    """Each text's (or text pair's) number: the model's output * target_scale + target_mean."""
    outputs = text_outputs(model, tokenizer, meta, texts, pairs, batch_size, device)[:, 0].double()
    return (outputs * meta["target_scale"] + meta["target_mean"]).tolist()


def predict(args, model, tokenizer, meta) -> List[dict]:
    """--predict with --text (repeatable; --text_pair for pair models) and/or --input FILE, by the loaded model."""
    texts, pairs = texts_to_predict(args, meta)
    rows = []
    for i, number in enumerate(predict_numbers(model, tokenizer, meta, texts, pairs)):
        rows.append({meta["label_names"][0]: round(number, 4), "text": texts[i][:80],
                     **({"text_pair": pairs[i][:80]} if pairs else {})})
    return rows
