"""Encoder (any Hugging Face BERT-like AutoModel, SDPA attention) + dropout + linear head."""
import os

import torch
from torch import nn

from .errors import UserError
from .tensor_cache import digest


def _load(loader, name: str, what: str, **kwargs):
    try:
        return loader(name, **kwargs)
    except (OSError, ValueError) as e:
        local = os.path.isdir(name)
        if local:
            raise UserError(f"--bert_name {name}: this folder holds no loadable {what} "
                            f"({str(e).splitlines()[0]})") from None
        raise UserError(f"--bert_name {name}: no such model in the local Hugging Face cache and it "
                        f"could not be downloaded (offline?); pass --bert_name with a local folder "
                        f"that holds config.json, vocab/tokenizer files and the weights") from None


def _quiet_transformers() -> None:
    from transformers.utils import logging
    logging.disable_progress_bar()  # its per-load bars would bury our own progress
    logging.set_verbosity_error()


def load_tokenizer(name: str):
    from transformers import AutoTokenizer
    _quiet_transformers()
    return _load(AutoTokenizer.from_pretrained, name, "tokenizer")


def load_encoder(name: str):
    from transformers import AutoModel
    _quiet_transformers()
    return _load(AutoModel.from_pretrained, name, "model", attn_implementation="sdpa")


def position_limit(encoder) -> int:
    return int(getattr(encoder.config, "max_position_embeddings", 512))


def encoder_fingerprint(encoder) -> str:
    """Identity of the weights themselves: a cache key that no renamed folder can fool."""
    state = encoder.state_dict()
    return digest(*(part for name in sorted(state) for part in (name, state[name])))


def drop_pooler(encoder) -> None:
    """Remove the [CLS] pooler of an encoder whose pooled output is not used: it would cost compute,
    and under DDP its parameters would get no gradient, which DDP refuses."""
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None


class BertClassifier(nn.Module):
    def __init__(self, encoder, n_labels: int, dropout_p: float, pooling: str, hidden_size=None):
        super().__init__()
        if encoder is not None and pooling == "mean":
            drop_pooler(encoder)
        self.encoder = encoder  # None when only the head is trained on cached features
        self.pooling = pooling
        hidden = hidden_size or encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout_p)
        self.head = nn.Linear(hidden, n_labels)

    def features(self, input_ids, attention_mask):
        trainable = next(self.encoder.parameters()).requires_grad
        with torch.set_grad_enabled(trainable and torch.is_grad_enabled()):
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        if self.pooling == "cls":
            if getattr(out, "pooler_output", None) is None:
                raise UserError("--pooling cls needs an encoder with a pooler; use --pooling mean")
            return out.pooler_output
        mask = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
        return (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def classify(self, features):
        return self.head(self.dropout(features))

    def forward(self, input_ids=None, attention_mask=None, features=None):
        if features is None:
            features = self.features(input_ids, attention_mask)
        return self.classify(features)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return torch.device(name)
