"""Classification's model and loss: a head on the (frozen or fine-tuned) encoder, cross-entropy, and
the Task the training loop runs; a saved model rebuilt from its metadata."""
from functools import partial

import torch
import torch.nn.functional as F

from .batching import feature_inputs, token_inputs
from .classification_eval import METRICS, degenerate, evaluate
from .classification_inputs import ClassificationInputs
from .encoders import encoder_fingerprint
from .errors import UserError
from .inference import pad_multiple
from .heads import BertClassifier, drop_pooler, uses_pooler
from .task import Task


def check_options(config) -> None:
    """Every classification option is checked by TrainConfig itself."""


def build(config, inputs: ClassificationInputs, encoder, device) -> Task:
    torch.manual_seed(config.training_seed)  # the head's initialisation
    boost = inputs.features is not None  # then `encoder` is None: the features are all it needs
    if config.bert_finetuning and not uses_pooler(config.pooling, config.layers):
        drop_pooler(encoder)
    model = BertClassifier(encoder, len(inputs.label_names), config.dropout_p, config.pooling, config.layers,
                           config.head, feature_dim=inputs.features["train"].shape[1] if boost else None)
    if boost:
        model.head.standardise_with(inputs.features["train"])
    labels = inputs.labels
    valid = labels.get("valid")

    def batch_inputs(split):
        if boost:
            return partial(feature_inputs, inputs.features[split])
        return partial(token_inputs, inputs.tokens[split], inputs.pad_id, pad_multiple(device))

    def loss(logits, indices):
        return F.cross_entropy(logits.float(), labels["train"][indices].to(logits.device), reduction="sum")

    meta = {"task": "classification", "label_names": inputs.label_names, "pooling": config.pooling,
            "layers": config.layers, "head": config.head, "truncation": config.truncation,
            "feature_size": model.head.in_features, "cached_features": boost, "columns": inputs.columns,
            "pairs": inputs.pairs, "dataset": inputs.dataset,
            # a boost head knows its encoder only by its features: the weights that computed them
            **({"encoder_fingerprint": inputs.encoder_id} if boost else {})}
    chosen = config.metric or METRICS[0]
    return Task(kind="classification", metrics=[chosen, *(m for m in METRICS if m != chosen)], model=model,
                train_lengths=inputs.tokens["train"].lengths.tolist(), batch_inputs=batch_inputs,
                parallel_inputs=not boost, loss=loss,
                evaluate=partial(evaluate, inputs.tokens.get("valid"), valid, len(inputs.label_names),
                                 config.eval_batch_size),
                degenerate=partial(degenerate, valid, len(inputs.label_names)), meta=meta)


def model_from_meta(encoder, meta) -> BertClassifier:
    """The saved model's architecture on `encoder`. Raises UserError when a boost head was trained on
    another encoder's features (the hub model changed, or another folder was given)."""
    if meta.get("encoder_fingerprint") and encoder_fingerprint(encoder) != meta["encoder_fingerprint"]:
        raise UserError(f"this boost model's head was trained on the features of other {meta['bert_name']} weights "
                        f"than those loaded now (their fingerprint differs: the hub model changed, or another copy); "
                        f"load the encoder it was trained with, or train the head again")
    model = BertClassifier(encoder, len(meta["label_names"]), meta["dropout_p"], meta["pooling"],
                           meta["layers"], meta["head"])
    model.round_features = meta["cached_features"]
    return model
