"""Classification's model and loss: a head on the (frozen or fine-tuned) encoder, cross-entropy, and
the Training the loop runs; a saved model rebuilt from its metadata."""
from dataclasses import dataclass
from functools import partial
from typing import List, Optional

import torch
import torch.nn.functional as F

from ...batching import feature_inputs, forward_pieces, token_inputs
from ...errors import UserError
from ...inference import pad_multiple
from ...models.encoders import encoder_fingerprint
from ...models.heads import BertClassifier, drop_pooler, uses_pooler
from ..task import Training
from .eval import METRICS, degenerate, evaluate
from .inputs import ClassificationInputs
from .threshold import tunes_threshold
from .weights import class_weights


@dataclass
class ClassificationTraining(Training):
    """A classifier bound to one run's inputs (with boost: their frozen features, and no encoder)."""
    model: BertClassifier
    inputs: ClassificationInputs
    metrics: List[str]
    meta: dict
    pad_multiple: int  # of the device the batches go to
    eval_batch_size: int
    weights: Optional[torch.Tensor] = None  # each class's weight in the loss (class_weight), None: all 1
    kind = "classification"

    @property
    def boost(self) -> bool:
        return self.inputs.features is not None

    @property
    def train_lengths(self) -> List[int]:
        return self.inputs.tokens["train"].lengths.tolist()

    @property
    def parallel_inputs(self) -> bool:
        return not self.boost  # features are one tensor slice: no work to share

    def batch_inputs(self, split):
        if self.boost:
            return partial(feature_inputs, self.inputs.features[split])
        return partial(token_inputs, self.inputs.tokens[split], self.inputs.pad_id, self.pad_multiple)

    def pieces(self, indices):
        # a text's features are one row: only fine-tuning reads its windows
        return [indices] if self.boost else forward_pieces(self.inputs.tokens["train"], indices)

    def loss(self, logits, indices):
        labels = self.inputs.labels["train"][indices].to(logits.device)
        weights = None if self.weights is None else self.weights.to(logits.device)
        return F.cross_entropy(logits.float(), labels, weight=weights, reduction="sum")

    def evaluate(self, run, rank, world, reduce) -> dict:
        n_labels = len(self.inputs.label_names)
        return evaluate(self.inputs.tokens.get("valid"), self.inputs.labels.get("valid"), n_labels,
                        self.eval_batch_size, run, rank, world, reduce,
                        tuned=self.metric if tunes_threshold(n_labels, self.metric) else None)

    def decision(self, check: Optional[dict]) -> dict:
        """The decision threshold tuned at `check` (threshold.py), for the model saved of that check."""
        return {"threshold": check["valid_threshold"]} if check and "valid_threshold" in check else {}

    def degenerate(self, metrics) -> bool:
        return degenerate(self.inputs.labels.get("valid"), len(self.inputs.label_names), metrics)


def build(config, inputs: ClassificationInputs, encoder, device, training=ClassificationTraining,
          metrics=METRICS) -> ClassificationTraining:
    """`training` (ClassificationTraining or a task's subclass of it, reporting `metrics`) of a head with one
    output per label name on the encoder."""
    torch.manual_seed(config.training_seed)  # the head's initialisation
    boost = inputs.features is not None  # then `encoder` is None: the features are all it needs
    if config.bert_finetuning and not uses_pooler(config.pooling, config.layers):
        drop_pooler(encoder)
    documents = config.truncation == "chunks"
    model = BertClassifier(encoder, len(inputs.label_names), config.dropout_p, config.pooling, config.layers,
                           config.head, feature_dim=inputs.features["train"].shape[1] if boost else None,
                           documents=documents)
    if boost:
        model.head.standardise_with(inputs.features["train"])
    meta = {"task": training.kind, "label_names": inputs.label_names, "pooling": config.pooling,
            "layers": config.layers, "head": config.head, "truncation": config.truncation,
            "feature_size": model.head.in_features, "cached_features": boost, "columns": inputs.columns,
            "pairs": inputs.pairs, "dataset": inputs.dataset,
            # how a text is cut into the windows the model reads
            **({"doc_stride": config.doc_stride, "max_chunks": config.max_chunks} if documents else {}),
            # a boost head knows its encoder only by its features: the weights that computed them
            **({"encoder_fingerprint": inputs.encoder_id} if boost else {})}
    weights = class_weights(inputs.labels["train"], len(inputs.label_names), config.class_weight)
    if weights is not None:  # saved for the model card: what the loss made of each class
        meta.update(class_weight=config.class_weight, class_weights=[round(float(w), 4) for w in weights])
    chosen = config.metric or metrics[0]
    return training(model=model, inputs=inputs, metrics=[chosen, *(m for m in metrics if m != chosen)],
                    meta=meta, pad_multiple=pad_multiple(device), eval_batch_size=config.eval_batch_size,
                    weights=weights)


def model_from_meta(encoder, meta) -> BertClassifier:
    """The saved model's architecture on `encoder`. Raises UserError when a boost head was trained on
    another encoder's features (the hub model changed, or another folder was given)."""
    if meta.get("encoder_fingerprint") and encoder_fingerprint(encoder) != meta["encoder_fingerprint"]:
        raise UserError(f"this boost model's head was trained on the features of other {meta['bert_name']} weights "
                        f"than those loaded now (their fingerprint differs: the hub model changed, or another copy); "
                        f"load the encoder it was trained with, or train the head again")
    model = BertClassifier(encoder, len(meta["label_names"]), meta["dropout_p"], meta["pooling"],
                           meta["layers"], meta["head"], documents=meta["truncation"] == "chunks")
    model.round_features = meta["cached_features"]
    return model
