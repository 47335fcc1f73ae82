"""Classification's inputs: labelled texts read, split and tokenised once (and, for boost, the frozen
encoder's features added); the test split tokenised as a saved model expects."""
from dataclasses import dataclass, replace
from typing import Dict, List, Optional

import torch

from .data import describe_test_data, encode_labels, load_splits, read_examples, seeded_subset
from .feature_cache import frozen_features
from .encoders import encoder_fingerprint
from .tokenization import TokenIds, tokenize_cached


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
    encoder_id: Optional[str] = None  # boost: the fingerprint of the encoder weights that computed them

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


def with_features(inputs: ClassificationInputs, config, encoder, device, bf16: bool, variants, log, progress=None):
    """{variant: inputs with that variant's frozen features}; one encoder pass per split for all.
    progress: feature_cache.PassProgress's lines while a pass runs."""
    encoder_id = encoder_fingerprint(encoder)
    encoder.to(device)
    by_split = {}
    for split in inputs.splits:
        by_split[split], computed = frozen_features(
            encoder, inputs.tokens[split], variants, encoder_id=encoder_id, device=device, bf16=bf16,
            batch_size=config.eval_batch_size, cache_dir=config.cache_dir, pad_id=inputs.pad_id,
            progress=config.progress, desc=f"boost: encoding {split}", log=progress)
        log(f"boost: {split} features {'computed and cached' if computed else 'loaded from cache'} "
            f"({len(inputs.tokens[split])} texts; {', '.join('/'.join(v) for v in variants)})")
    return {v: replace(inputs, features={split: by_split[split][v] for split in inputs.splits}, variant=v,
                       encoder_id=encoder_id) for v in variants}


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
