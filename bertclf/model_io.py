"""A trained model on disk: Hugging Face encoder folder (when fine-tuned), head, labels, settings.

Everything is safetensors or JSON; nothing is unpickled when loading.
"""
import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from .errors import UserError
from .model import load_encoder, load_tokenizer, resolve_model

META = "bert_hpo_model.json"


def save_model(folder, model, tokenizer, meta: dict) -> None:
    """meta: task, bert_name, max_length, dropout_p, finetuned, and the task's own settings."""
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
    """Put a saved model's weights into an already built model (a resume, or prediction)."""
    folder = Path(folder)
    model.head.load_state_dict(load_file(str(folder / "head.safetensors")))
    encoder_file = folder / "encoder" / "model.safetensors"
    if model.encoder is not None and encoder_file.exists():
        model.encoder.load_state_dict(load_file(str(encoder_file)), strict=False)


def load_model(folder, encoder_path=None):
    """(model in eval mode, tokenizer, meta) for prediction and scoring.

    encoder_path: where a frozen encoder's weights are, when not at the model's bert_name (a copy
    of that folder on another machine)."""
    meta = read_meta(folder)
    source = str(Path(folder) / "encoder") if meta["finetuned"] else encoder_path or resolve_model(meta["bert_name"])[0]
    encoder, tokenizer = load_encoder(source), load_tokenizer(source)
    from .tasks import task_kind
    model = task_kind(meta["task"]).model_from_meta(encoder, meta)
    load_weights(model, folder)
    return model.eval(), tokenizer, meta
