"""A trained model on disk: Hugging Face encoder folder (when fine-tuned), head, labels, settings.

Everything is safetensors or JSON; nothing is unpickled when loading.
"""
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import UserError
from .model import BertClassifier, load_encoder, load_tokenizer

META = "bert_hpo_model.json"


def save_model(folder, model, tokenizer, meta: dict) -> None:
    """meta: task, bert_name, max_length, dropout_p, finetuned, hidden_size, and the task's own."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if meta["finetuned"]:
        model.encoder.save_pretrained(folder / "encoder")
        tokenizer.save_pretrained(folder / "encoder")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()},
              str(folder / "head.safetensors"))
    (folder / META).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")


def read_meta(folder) -> dict:
    path = Path(folder) / META
    if not path.exists():
        raise UserError(f"--model {folder}: not a bert-hpo model folder (no {META})")
    return json.loads(path.read_text(encoding="utf-8"))


def load_weights(model, folder) -> None:
    """Put a saved checkpoint's weights into an already built model (used to resume a run)."""
    folder = Path(folder)
    model.head.load_state_dict(load_file(str(folder / "head.safetensors")))
    encoder_file = folder / "encoder" / "model.safetensors"
    if model.encoder is not None and encoder_file.exists():
        model.encoder.load_state_dict(load_file(str(encoder_file)), strict=False)


def load_model(folder):
    """(model in eval mode, tokenizer, meta) for prediction."""
    meta = read_meta(folder)
    source = str(Path(folder) / "encoder") if meta["finetuned"] else meta["bert_name"]
    encoder, tokenizer = load_encoder(source), load_tokenizer(source)
    if meta.get("task") == "qa":
        from .qa import BertSpanQA
        model = BertSpanQA(encoder, meta["dropout_p"])
    else:
        model = BertClassifier(encoder, len(meta["label_names"]), meta["dropout_p"], meta["pooling"])
    model.head.load_state_dict(load_file(str(Path(folder) / "head.safetensors")))
    return model.eval(), tokenizer, meta


def save_trainer_state(path, state: dict) -> None:
    torch.save(state, path)


def load_trainer_state(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
