"""Text classification as a task: labelled texts -> token ids (-> frozen features) -> head; accuracy."""
import math
from pathlib import Path
from dataclasses import dataclass, replace
from functools import partial
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from .batching import eval_batches, feature_inputs, token_inputs
from .errors import UserError
from .data import encode_labels, load_splits, read_examples, seeded_subset, describe_test_data
from .feature_cache import frozen_features
from .model import BertClassifier, autocast, drop_pooler, encoder_fingerprint, uses_pooler
from .task import Task
from .tokenization import TokenIds, tokenize_cached


def check_options(config, bad) -> None:
    """Every classification option is checked by TrainConfig itself."""


@dataclass
class ClassificationInputs:
    """What a run reads, prepared once; picklable, so a search ships it to every trial."""
    label_names: List
    tokens: Dict[str, TokenIds]  # split -> token ids
    labels: Dict[str, torch.Tensor]  # split -> label ids
    pad_id: int
    description: str
    features: Optional[Dict[str, torch.Tensor]] = None  # boost: split -> [N, dim] fp16
    variant: Optional[tuple] = None  # boost: the (pooling, layers) of `features`

    @property
    def splits(self):
        return [s for s in ("train", "valid") if s in self.tokens]


def prepare(config, tokenizer, log) -> ClassificationInputs:
    splits = load_splits(config.train_path, config.valid_path, valid_fraction=config.valid_fraction,
                         seed=config.seed, max_train_samples=config.max_train_samples,
                         max_valid_samples=config.max_valid_samples)
    empty = splits.train.empty_texts + splits.valid.empty_texts
    if empty:
        log(f"note: {empty} example(s) have an empty text; they are kept and read as [CLS] [SEP]")
    parts = {"train": (splits.train.texts, splits.train_labels)}
    if len(splits.valid):
        parts["valid"] = (splits.valid.texts, splits.valid_labels)
    tokens = {split: tokenize_cached(tokenizer, texts, config.max_length, config.truncation, config.cache_dir)
              for split, (texts, _) in parts.items()}
    description = (f"{len(splits.train)} train / {len(splits.valid)} valid ({splits.valid_source}); "
                   f"labels {splits.label_names}; mean length {tokens['train'].lengths.float().mean():.0f} tokens")
    return ClassificationInputs(
        label_names=splits.label_names, tokens=tokens,
        labels={split: torch.tensor(labels) for split, (_, labels) in parts.items()},
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0, description=description)


def feature_variant(config) -> tuple:
    return (config.pooling, config.layers)


def with_features(inputs: ClassificationInputs, config, encoder, device, bf16: bool, variants, log):
    """{variant: inputs with that variant's frozen features}; one encoder pass per split for all."""
    encoder_id = encoder_fingerprint(encoder)
    encoder.to(device)
    by_split = {}
    for split in inputs.splits:
        by_split[split], computed = frozen_features(
            encoder, inputs.tokens[split], variants, encoder_id=encoder_id, device=device, bf16=bf16,
            batch_size=config.eval_batch_size, cache_dir=config.cache_dir, pad_id=inputs.pad_id,
            progress=config.progress, desc=f"boost: encoding {split}", log=log)
        log(f"boost: {split} features {'computed and cached' if computed else 'loaded from cache'} "
            f"({len(inputs.tokens[split])} texts; {', '.join('/'.join(v) for v in variants)})")
    return {v: replace(inputs, features={split: by_split[split][v] for split in inputs.splits}, variant=v)
            for v in variants}


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

    def batch_inputs(split):
        if boost:
            return partial(feature_inputs, inputs.features[split])
        return partial(token_inputs, inputs.tokens[split], inputs.pad_id, 8 if device.type == "cuda" else 1)

    def loss(logits, indices):
        return F.cross_entropy(logits.float(), labels["train"][indices].to(logits.device), reduction="sum")

    def evaluate(run, rank, world, reduce):
        loss_sum = correct = count = 0.0
        batches = eval_batches(inputs.tokens["valid"].lengths.tolist(), config.eval_batch_size)[rank::world]
        for indices, logits in run(batches):
            y = labels["valid"][indices]
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(-1) == y).sum().item()
            count += len(indices)
        loss_sum, correct, count = reduce([loss_sum, correct, count])
        return {"valid_loss": loss_sum / count, "valid_accuracy": correct / count}

    def degenerate(metrics) -> bool:
        """Accuracy within two standard errors of always answering the majority label, and a training
        loss that has not left the chance level ln(number of labels)."""
        valid = labels["valid"]
        majority = torch.bincount(valid).max().item() / len(valid)
        noise = 2 * math.sqrt(majority * (1 - majority) / len(valid))
        return (metrics["valid_accuracy"] <= majority + noise
                and metrics["train_loss"] >= 0.97 * math.log(len(inputs.label_names)))

    meta = {"task": "classification", "label_names": inputs.label_names, "pooling": config.pooling,
            "layers": config.layers, "head": config.head, "truncation": config.truncation,
            "feature_size": model.head.in_features, "cached_features": boost}
    return Task(kind="classification", metrics=["valid_accuracy"], model=model,
                train_lengths=inputs.tokens["train"].lengths.tolist(), batch_inputs=batch_inputs,
                parallel_inputs=not boost, loss=loss, evaluate=evaluate, degenerate=degenerate, meta=meta)


def model_from_meta(encoder, meta) -> BertClassifier:
    model = BertClassifier(encoder, len(meta["label_names"]), meta["dropout_p"], meta["pooling"],
                           meta["layers"], meta["head"])
    model.round_features = meta["cached_features"]
    return model


def prepare_test(path, meta, tokenizer, cache_dir, max_examples=None) -> ClassificationInputs:
    """The test split tokenised as the model was trained (a seeded subset when max_examples is set)."""
    examples = read_examples(path, "test data")
    there = len(examples)
    examples = examples.subset(seeded_subset(len(examples), max_examples, 0))
    names = meta["label_names"]
    tokens = tokenize_cached(tokenizer, examples.texts, meta["max_length"], meta["truncation"], cache_dir)
    return ClassificationInputs(label_names=names, tokens={"test": tokens},
                                labels={"test": torch.tensor(encode_labels(examples, names, "test data"))},
                                pad_id=tokenizer.pad_token_id or 0,
                                description=describe_test_data(len(examples), there, "examples", path))


def predict_texts(model_dir, texts, batch_size: int = 64, device="cpu") -> List[dict]:
    """Label and probability of each text, from a saved model folder."""
    from .model_io import load_model
    from .tokenization import encode, pack
    model, tokenizer, meta = load_model(model_dir)
    tokens = TokenIds(*pack(encode(tokenizer, texts, meta["max_length"], meta["truncation"])))
    model.to(device)
    results = [None] * len(texts)
    with torch.inference_mode():
        for idx in eval_batches(tokens.lengths.tolist(), batch_size):
            batch = token_inputs(tokens, tokenizer.pad_token_id or 0, 1, idx)
            probs = model(**{k: v.to(device) for k, v in batch.items()}).float().softmax(-1).cpu()
            for row, i in enumerate(idx):
                k = int(probs[row].argmax())
                results[i] = {"text": texts[i], "label": meta["label_names"][k], "probability": float(probs[row, k])}
    return results


def predict(args) -> List[dict]:
    """--predict with --text (repeatable) and/or --input FILE (one text per line)."""
    texts = list(args.text or [])
    if args.input:
        path = Path(args.input)
        if not path.is_file():
            raise UserError(f"--input {path}: no such file")
        texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise UserError("--predict needs --text \"...\" or --input FILE")
    return [{"label": r["label"], "probability": round(r["probability"], 4), "text": r["text"][:80]}
            for r in predict_texts(args.model, texts)]


def score(model, meta, inputs: ClassificationInputs, *, device, bf16: bool, batch_size: int, cache_dir) -> dict:
    """Accuracy on inputs' test split; a frozen encoder's features go through the feature cache."""
    tokens, y = inputs.tokens["test"], inputs.labels["test"]
    model.to(device).eval()
    batches = eval_batches(tokens.lengths.tolist(), batch_size)
    if meta["cached_features"]:  # as in training: the frozen encoder's features, through the cache
        variant = (meta["pooling"], meta["layers"])
        features, _ = frozen_features(model.encoder, tokens, [variant], encoder_id=encoder_fingerprint(model.encoder),
                                      device=device, bf16=bf16, batch_size=batch_size, cache_dir=cache_dir,
                                      pad_id=inputs.pad_id, progress=False, desc="test features")
        make = partial(feature_inputs, features[variant])
    else:
        make = partial(token_inputs, tokens, inputs.pad_id, 8 if device.type == "cuda" else 1)
    correct = 0
    with torch.inference_mode():
        for indices in batches:
            with autocast(device, bf16):
                logits = model(**{k: v.to(device) for k, v in make(indices).items()})
            correct += (logits.float().argmax(-1).cpu() == y[indices]).sum().item()
    return {"accuracy": correct / len(y), "examples": len(y)}
