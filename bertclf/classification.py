"""Text classification as a Task: texts and labels, [CLS]/mean pooling, accuracy."""
from functools import partial

import torch
import torch.nn.functional as F

from .batching import eval_batches, feature_inputs, token_inputs
from .data import load_splits
from .feature_cache import frozen_features
from .model import BertClassifier, encoder_fingerprint
from .task import Task
from .tokenization import tokenize_cached


def classification_task(config, tokenizer, encoder, device, say, show_progress, features_only=False):
    splits = load_splits(config.train_path, config.valid_path, valid_fraction=config.valid_fraction,
                         seed=config.seed, max_train_samples=config.max_train_samples,
                         max_valid_samples=config.max_valid_samples)
    empty = splits.train.empty_texts + splits.valid.empty_texts
    if empty:
        say(f"note: {empty} example(s) have an empty text; they are kept and read as [CLS] [SEP]")
    say(f"data: {len(splits.train)} train / {len(splits.valid)} valid ({splits.valid_source}); "
        f"labels {splits.label_names}")
    tokens = {split: tokenize_cached(tokenizer, texts, config.max_length, config.truncation, config.cache_dir)
              for split, texts in (("train", splits.train.texts), ("valid", splits.valid.texts))}
    say(f"tokens: {int(tokens['train'].lengths.sum())} train tokens, mean length "
        f"{tokens['train'].lengths.float().mean():.0f}")
    labels = {"train": torch.tensor(splits.train_labels), "valid": torch.tensor(splits.valid_labels)}
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if features_only and not config.uses_feature_cache:
        return None

    torch.manual_seed(config.seed)  # the head's initialisation
    model = BertClassifier(encoder, len(splits.label_names), config.dropout_p, config.pooling)
    features, encoder_id = None, None
    if config.uses_feature_cache:
        encoder_id = encoder_fingerprint(encoder)
        model.encoder.to(device)
        features = {}
        for split in ("train", "valid"):
            features[split], hit, path = frozen_features(
                model, tokens[split], encoder_id=encoder_id, device=device,
                batch_size=config.eval_batch_size, cache_dir=config.cache_dir, pad_id=pad_id,
                progress=show_progress, desc=f"boost: encoding {split}")
            say(f"boost: {split} features {'loaded from cache' if hit else 'computed and cached'} "
                f"({len(tokens[split])} x {features[split].shape[1]}, {path})")
        if features_only:
            return None
        model.encoder = None  # only the head trains; the encoder is not needed any more

    def batch_inputs(split):
        if features is not None:
            return partial(feature_inputs, features[split])
        return partial(token_inputs, tokens[split], pad_id, 8 if device.type == "cuda" else 1)

    def loss(logits, indices):
        return F.cross_entropy(logits.float(), labels["train"][indices].to(logits.device), reduction="sum")

    def evaluate(run, rank, world, reduce):
        loss_sum = correct = count = 0.0
        batches = eval_batches(tokens["valid"].lengths.tolist(), config.eval_batch_size)[rank::world]
        for indices, logits in run(batches):
            y = labels["valid"][indices]
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(-1) == y).sum().item()
            count += len(indices)
        loss_sum, correct, count = reduce([loss_sum, correct, count])
        return {"valid_loss": loss_sum / count, "valid_accuracy": correct / count}

    meta = {"task": "classification", "label_names": splits.label_names, "pooling": config.pooling,
            "truncation": config.truncation, "encoder_fingerprint": encoder_id}
    return Task(kind="classification", metrics=["valid_accuracy"], model=model,
                train_lengths=tokens["train"].lengths.tolist(), batch_inputs=batch_inputs,
                parallel_inputs=features is None, loss=loss, evaluate=evaluate, meta=meta)
