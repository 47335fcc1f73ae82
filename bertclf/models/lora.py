"""LoRA: low-rank adapters (the peft library) in an encoder's layers, trained in place of its weights.

Which linear layers get adapters is read from the model itself, never from a list per family: the
linear modules inside its repeated layers (a numbered part of the module name), those under a part
named like attention (attention, attn) for `attention`, and all of them for `attention+ffn`. The
adapters are saved in peft's own format (adapter_config.json, adapter_model.safetensors), and merged
into the encoder's weights for a model folder that loads without peft."""
import copy
from contextlib import contextmanager
import importlib.util
import warnings
from pathlib import Path
from typing import List

from ..errors import UserError

TARGETS = ("attention", "attention+ffn")
ADAPTER = "adapter"  # a model folder's sub-folder of the adapters, in peft's format
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PEFT_MISSING = "--lora True needs the peft library: pip install 'bert-hpo[lora]'"


def peft_installed() -> bool:
    return importlib.util.find_spec("peft") is not None


def target_modules(model, which: str) -> List[str]:
    """The full names of the linear modules `which` (one of TARGETS) puts adapters on: inside the
    model's repeated layers, attention's alone or every one."""
    from torch import nn
    names = []
    for name, module in model.named_modules():
        parts = name.split(".")
        layer = next((i for i, part in enumerate(parts) if part.isdigit()), None)
        if not isinstance(module, nn.Linear) or layer is None:
            continue
        in_attention = any("attention" in part.lower() or "attn" in part.lower() for part in parts[layer + 1:])
        if in_attention or which == "attention+ffn":
            names.append(name)
    return names


def adapter_width(model, which: str) -> int:
    """The adapters' parameters per unit of rank on `which` modules of `model`: an adapted linear layer
    of in x out gets A [r, in] and B [out, r]."""
    modules = dict(model.named_modules())
    return sum(modules[name].in_features + modules[name].out_features for name in target_modules(model, which))


def no_targets(which: str, model: str) -> UserError:
    return UserError(f"--lora_targets {which}: {model} has no linear modules of that kind inside numbered layers")


def with_lora(encoder, r: int, alpha: float, dropout: float, which: str):
    """`encoder` (a transformers model) wrapped with fresh adapters of rank r on its `which` modules; only
    the adapters train. Raises UserError when the model has no such modules."""
    from peft import LoraConfig, get_peft_model
    targets = target_modules(encoder, which)
    if not targets:
        raise no_targets(which, type(encoder).__name__)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
    with _quiet_peft():
        return get_peft_model(encoder, config)


def is_lora(encoder) -> bool:
    return hasattr(encoder, "peft_config")


def save_adapters(encoder, folder) -> None:
    encoder.save_pretrained(str(Path(folder) / ADAPTER))


def load_adapters(encoder, folder) -> None:
    """Put the adapters saved in `folder` (a model folder) into `encoder`, a model wrapped by with_lora
    with the same settings. Raises UserError when they do not fit."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file
    path = Path(folder) / ADAPTER / ADAPTER_WEIGHTS
    if not path.exists():
        raise UserError(f"{folder}: a LoRA model without its adapters ({path} is missing)")
    try:
        result = set_peft_model_state_dict(encoder, load_file(str(path)))
    except RuntimeError as e:  # a shape mismatch: another rank
        raise UserError(f"{folder}: the saved adapters do not fit this model: {str(e).splitlines()[-1].strip()}") \
            from None
    if result.unexpected_keys:
        raise UserError(f"{folder}: the saved adapters do not fit this model: {len(result.unexpected_keys)} "
                        f"unexpected weight(s), e.g. {result.unexpected_keys[0]}")


def merged(encoder):
    """A plain transformers encoder with the adapters' product added into its weights (a copy: `encoder`
    keeps training)."""
    return copy.deepcopy(encoder).merge_and_unload()


def merged_from(base, folder):
    """The base encoder with the adapters saved in `folder` (a model folder) merged in."""
    from peft import PeftModel
    with _quiet_peft():
        return PeftModel.from_pretrained(base, str(Path(folder) / ADAPTER)).merge_and_unload()


@contextmanager
def _quiet_peft():
    """peft asks transformers 5 a deprecated question (is_gradient_checkpointing) on every wrap."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield
