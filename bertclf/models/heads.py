"""Pooling an encoder's output into one vector per text (per window, then per text, for truncation chunks),
and the classifier head on it."""
import torch
from torch import nn


MLP_HIDDEN = 512


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

    cls on the last layer is the pooled [CLS] output (tanh pooler), as Pytorch-BERT-Classification had, or, for an
    encoder without a pooler (DistilBERT, ELECTRA, DeBERTa), the first token's hidden state, which is
    what those families' own classification heads read; with last4 it is the first token's vector
    of each layer. mean and max skip padding."""
    if uses_pooler(pooling, layers) and getattr(out, "pooler_output", None) is not None:
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


def pool_documents(features: torch.Tensor, doc_index: torch.Tensor) -> torch.Tensor:
    """[texts, 2 x dim]: the mean and the max of each text's window vectors `features` [windows, dim]
    (doc_index [windows]: the text of each window, 0, 1, ...; every text has one window or more).

    Built of comparisons, a product and a max rather than scatters, so that the ONNX copy's graph holds
    it as it is and any runtime runs it."""
    member = doc_index[None, :] == torch.arange(doc_index.max() + 1, device=doc_index.device)[:, None]
    weights = member.to(features.dtype)
    mean = (weights @ features) / weights.sum(1, keepdim=True)
    most = features[None].masked_fill(~member[..., None], torch.finfo(features.dtype).min).amax(1)
    return torch.cat([mean, most], dim=-1)


def pool_windows(features: torch.Tensor, counts: torch.Tensor, block: int = 4) -> torch.Tensor:
    """pool_documents over a whole split: `features` [windows, dim] of texts with `counts` [texts] windows
    each (a text's windows next to each other), `block` texts at a time. pool_documents' mask and max
    span every text x every window of its block, so the work and memory per text grow with the block:
    small blocks."""
    counts = counts.to(torch.int64)
    ends = torch.cumsum(counts, 0)
    parts = []
    for begin in range(0, len(counts), block):
        first = int(ends[begin] - counts[begin])
        part = counts[begin:begin + block]
        doc_index = torch.repeat_interleave(torch.arange(len(part)), part)
        parts.append(pool_documents(features[first:first + len(doc_index)], doc_index))
    return torch.cat(parts) if parts else features.new_zeros((0, 2 * features.shape[1]))


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


def takes_token_types(encoder) -> bool:
    """The encoder has more than one token type embedding. A BERT-style tokenizer makes token types for
    a text pair, but a model trained with one type (type_vocab_size 1) or none must not receive them:
    type 1 would index past its embedding table."""
    return getattr(encoder.config, "type_vocab_size", 0) > 1


def for_encoder(encoder, inputs: dict) -> dict:
    """inputs (input_ids, attention_mask [B, T], maybe token_type_ids [B, T]) without token_type_ids
    (or a None one) unless the encoder takes token types."""
    if inputs.get("token_type_ids") is None or not takes_token_types(encoder):
        return {k: v for k, v in inputs.items() if k != "token_type_ids"}
    return inputs


class BertClassifier(nn.Module):
    """Encoder, pooling and head. documents: the inputs are windows of texts (truncation chunks), and
    forward's doc_index says each window's text: the window vectors are pooled per text (pool_documents)."""

    def __init__(self, encoder, n_labels: int, dropout_p: float, pooling: str, layers: str = "last",
                 head: str = "linear", feature_dim=None, documents: bool = False):
        super().__init__()
        self.encoder = encoder  # None when only the head is trained on cached features (feature_dim given)
        self.pooling, self.which_layers = pooling, layers
        self.round_features = False
        feature_dim = feature_dim or feature_size(encoder.config, pooling, layers) * (2 if documents else 1)
        self.head = Head(feature_dim, n_labels, dropout_p, head)

    def features(self, input_ids, attention_mask, token_type_ids=None):
        trainable = any(p.requires_grad for p in self.encoder.parameters())  # with LoRA: its adapters alone
        with torch.set_grad_enabled(trainable and torch.is_grad_enabled()):
            out = self.encoder(**for_encoder(self.encoder, {"input_ids": input_ids, "attention_mask": attention_mask,
                                                            "token_type_ids": token_type_ids}),
                               output_hidden_states=self.which_layers == "last4")
        return pool(out, attention_mask, self.pooling, self.which_layers)

    def forward(self, input_ids=None, attention_mask=None, features=None, token_type_ids=None, doc_index=None):
        if features is None:
            features = self._rounded(self.features(input_ids, attention_mask, token_type_ids))
            if doc_index is not None:
                features = self._rounded(pool_documents(features.float(), doc_index))
        return self.head(features)

    def _rounded(self, features):
        # boost trained the head on features from the fp16 cache (window vectors, and for chunks their
        # pooling per text too): rounded the same way here, a saved model predicts exactly what it was
        # evaluated on
        return features.to(torch.float16).float() if self.round_features else features
