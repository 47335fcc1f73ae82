"""What a run reads, prepared once: data read and split, token ids, and (boost) frozen features.

A driver that trains many configurations on the same data (a search) calls `prepare_inputs` once
per distinct `inputs_key` and hands the result to `train(config, inputs=...)`: the trials then read
no file at all, so they can run on machines that cannot see the driver's disk.
"""
from typing import Callable, Dict, Optional

from .config import TrainConfig
from .device import pick_device, uses_bf16
from .encoder_facts import EncoderFacts, encoder_facts
from .encoders import load_encoder, load_model_config, load_tokenizer
from .errors import UserError
from .task_registry import check_task_options, task_kind
from .tensor_cache import digest

# the options that decide what prepare_inputs returns (the token ids); cache_dir only says where
# caches live, and eval_batch_size only how fast features are computed
TOKEN_OPTIONS = ("task", "train_path", "valid_path", "text_column", "text_pair_column", "label_column", "dataset",
                 "valid_fraction", "seed", "max_train_samples", "max_valid_samples", "bert_name", "max_length",
                 "truncation", "doc_stride")


def inputs_key(config: TrainConfig) -> str:
    """Identity of the prepared inputs of `config`: token ids, plus the frozen-feature variant for boost."""
    variant = list(config.feature_variant) if config.uses_feature_cache else None
    return digest("inputs-v2", {k: getattr(config, k) for k in TOKEN_OPTIONS}, variant)


def tokens_key(config: TrainConfig) -> str:
    """Identity of the token ids alone: configurations that share it share one encoder pass."""
    return digest("tokens-v2", {k: getattr(config, k) for k in TOKEN_OPTIONS})


def check_length(config: TrainConfig, model_path: Optional[str] = None) -> EncoderFacts:
    """--max_length against the positions the model can embed (its tokenizer's limit included);
    returns the model's facts. Raises UserError when it is above."""
    source = model_path or config.bert_name
    facts = encoder_facts(load_model_config(source), load_tokenizer(source))
    if config.max_length > facts.position_limit:
        raise UserError(f"--max_length {config.max_length}: above {config.bert_name}'s limit of "
                        f"{facts.position_limit} positions")
    return facts


def prepare_inputs(config: TrainConfig, log: Callable[[str], None], model_path: Optional[str] = None):
    """Read, split and tokenise the data of `config` (no features yet: see add_features)."""
    check_task_options(config.validate())
    check_length(config, model_path)
    kind = task_kind(config.task)
    inputs = kind.prepare(config, load_tokenizer(model_path or config.bert_name), log)
    log(f"data: {inputs.description}")
    return inputs


def add_features(inputs, config: TrainConfig, variants, log: Callable[[str], None],
                 model_path: Optional[str] = None, progress: Optional[Callable[[str], None]] = None) -> Dict[tuple, object]:
    """{(pooling, layers): inputs with those frozen features}: one encoder pass for all variants.

    Runs on config.device (a GPU where there is one); results are cached under config.cache_dir.
    progress: given, receives a line every 30 s of a pass (texts done, time left)."""
    device = pick_device(config.device)
    encoder = load_encoder(model_path or config.bert_name)
    encoder.requires_grad_(False)
    return task_kind(config.task).with_features(inputs, config, encoder, device, uses_bf16(config.precision, device),
                                                 list(variants), log, progress)


def prepared_for(config: TrainConfig, log, model_path: Optional[str] = None):
    """The inputs one run needs (a plain local run prepares its own)."""
    inputs = prepare_inputs(config, log, model_path)
    if config.uses_feature_cache:
        inputs = add_features(inputs, config, [config.feature_variant], log, model_path)[config.feature_variant]
    return inputs
