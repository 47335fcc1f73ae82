"""A trained model's files: Hugging Face encoder folder (when fine-tuned), head, labels, settings.

Everything is safetensors or JSON; nothing is unpickled when loading. It knows no task: building
the model a folder holds is bertclf.predict.load_model's job (it asks the task registry).
"""
import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from ..errors import UserError
from .encoders import load_encoder, load_tokenizer, resolve_model
from .lora import is_lora, load_adapters, merged, merged_from, save_adapters

META = "bert_hpo_model.json"


def save_model(folder, model, tokenizer, meta: dict, merge_lora: bool = True) -> None:
    """meta: task, bert_name, max_length, dropout_p, finetuned, lora (its settings, with LoRA), and the
    task's own settings. A LoRA model saves its adapters, and with merge_lora also its encoder with them
    merged in; without (a trial's checkpoint: a few MB) its encoder is the base model's and the adapters."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lora = meta.get("lora")
    if lora:
        save_adapters(model.encoder, folder)
    if meta["finetuned"] and (merge_lora or not lora):
        (merged(model.encoder) if lora else model.encoder).save_pretrained(folder / "encoder")
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
    either side (a fine-tuned encoder that did not use it is saved without it). A model being trained
    with LoRA takes the saved adapters; a LoRA folder of adapters alone has none to check here (its
    encoder, loaded by load_encoder_of, has them merged in). Raises UserError naming the folder and the
    first weights that do not fit."""
    folder, meta = Path(folder), read_meta(folder)
    _load_strictly(model.head, folder / "head.safetensors", folder, "head")
    encoder_file = folder / "encoder" / "model.safetensors"
    if model.encoder is not None and is_lora(model.encoder):
        load_adapters(model.encoder, folder)
    elif model.encoder is not None and meta["finetuned"] and not adapters_only(folder, meta):
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


def adapters_only(folder, meta: dict) -> bool:
    """A LoRA model folder without its merged encoder (a trial's checkpoint): the adapters and the head."""
    return bool(meta.get("lora")) and not (Path(folder) / "encoder").is_dir()


def encoder_source(folder, meta: dict, encoder_path=None) -> str:
    """Where a saved model's encoder and tokenizer load from: its own encoder/ folder when fine-tuned,
    else (frozen, or a LoRA checkpoint of adapters alone) `encoder_path` (a copy of bert_name's folder
    on another machine) or bert_name itself."""
    if meta["finetuned"] and not adapters_only(folder, meta):
        return str(Path(folder) / "encoder")
    return encoder_path or resolve_model(meta["bert_name"])[0]


def load_encoder_of(folder, meta: dict, encoder_path=None):
    """(encoder, tokenizer) of a saved model: a LoRA checkpoint's adapters merged into its base encoder."""
    source = encoder_source(folder, meta, encoder_path)
    # a saved encoder's config says its layer count; a base model is cut as the model was trained
    own = meta["finetuned"] and not adapters_only(folder, meta)
    encoder = load_encoder(source, None if own else meta.get("encoder_layers"))
    tokenizer = load_tokenizer(source)
    return (merged_from(encoder, folder) if adapters_only(folder, meta) else encoder), tokenizer


def write_merged_encoder(folder, encoder_path=None) -> None:
    """Complete a LoRA folder of adapters alone with its merged encoder (and tokenizer) in encoder/, so
    that it loads as a fine-tuned model does, without peft."""
    meta = read_meta(folder)
    if adapters_only(folder, meta):
        encoder, tokenizer = load_encoder_of(folder, meta, encoder_path)
        encoder.save_pretrained(Path(folder) / "encoder")
        tokenizer.save_pretrained(Path(folder) / "encoder")
