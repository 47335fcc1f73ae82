"""A trained model's files: Hugging Face encoder folder (when fine-tuned), head, labels, settings.

Everything is safetensors or JSON; nothing is unpickled when loading. It knows no task: building
the model a folder holds is bertclf.predict.load_model's job (it asks the task registry).
"""
import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from ..errors import UserError
from .encoders import resolve_model

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
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:  # not UTF-8, or not JSON: a damaged copy
        raise UserError(f"--model {folder}: {META} is not readable JSON ({e}); copy the model folder again") from None


def load_weights(model, folder) -> None:
    """Put a saved model's weights into an already built model (a resume, or prediction).

    Every weight must match by name and shape; only the encoder's [CLS] pooler may be absent on
    either side (a fine-tuned encoder that did not use it is saved without it). Raises UserError
    naming the folder and the first weights that do not fit."""
    folder = Path(folder)
    _load_strictly(model.head, folder / "head.safetensors", folder, "head")
    encoder_file = folder / "encoder" / "model.safetensors"
    if model.encoder is not None and read_meta(folder)["finetuned"]:
        if not encoder_file.exists():
            raise UserError(f"{folder}: a fine-tuned model without its encoder weights ({encoder_file} is missing)")
        _load_strictly(model.encoder, encoder_file, folder, "encoder")


def _load_strictly(module, path: Path, folder: Path, what: str) -> None:
    try:
        result = module.load_state_dict(load_file(str(path)), strict=False)
    except RuntimeError as e:  # a shape mismatch
        raise UserError(f"{folder}: the saved {what} does not fit this model: {str(e).splitlines()[-1].strip()}") from None
    misfits = [k for k in result.missing_keys + result.unexpected_keys if not k.startswith("pooler.")]
    if misfits:
        raise UserError(f"{folder}: the saved {what} does not fit this model: {len(misfits)} weight(s) missing or "
                        f"unexpected, e.g. {misfits[0]}")


def encoder_source(folder, meta: dict, encoder_path=None) -> str:
    """Where a saved model's encoder and tokenizer load from: its own encoder/ folder when fine-tuned,
    else `encoder_path` (a copy of bert_name's folder on another machine) or bert_name itself."""
    if meta["finetuned"]:
        return str(Path(folder) / "encoder")
    return encoder_path or resolve_model(meta["bert_name"])[0]
