"""What a run reads, prepared once: data read and split, token ids, and (boost) frozen features.

A driver that trains many configurations on the same data (a search) calls `prepare_inputs` once
per distinct `tokens_key` (and `add_features` once for all its boost variants), indexes the results
by `inputs_key` and hands them to `train(config, inputs=...)`: the trials then read
no file at all, so they can run on machines that cannot see the driver's disk.
"""
from dataclasses import dataclass, fields
from typing import Callable, Dict, Optional, Tuple

from .config import TrainConfig
from .models.device import pick_device, uses_bf16
from .models.encoders import load_encoder, load_tokenizer
from .tasks import task_named

@dataclass(frozen=True)
class TokensKey:
    """The options that decide what prepare_inputs returns (the token ids): configurations with equal
    keys share one read and one tokenisation. cache_dir only says where caches live, and eval_batch_size
    only how fast features are computed: neither is here."""
    task: str
    train_path: Optional[str]
    valid_path: Optional[str]
    text_column: Optional[str]
    text_pair_column: Optional[str]
    label_column: Optional[str]
    dataset: Optional[str]
    valid_fraction: float
    cv_folds: int
    seed: int
    max_train_samples: Optional[int]
    max_valid_samples: Optional[int]
    bert_name: str
    max_length: int
    truncation: str
    doc_stride: int
    max_chunks: int
    # boost: the encoder depth whose features the group's one pass computes (None for other modes: the
    # token ids alone do not depend on it)
    encoder_layers: Optional[int]


TOKEN_OPTIONS = tuple(f.name for f in fields(TokensKey))


@dataclass(frozen=True)
class InputsKey:
    """Which prepared inputs a run trains on: its token ids, and for boost the frozen-feature variant
    (pooling, layers) computed from them (None: no features). A search's in-memory index of what it
    prepared; the caches on disk name their files by a digest instead (tensor_cache)."""
    tokens: TokensKey
    features: Optional[Tuple[str, str]]


WINDOW_OPTIONS = ("max_chunks", "doc_stride")


def windowing(config: TrainConfig) -> tuple:
    """The WINDOW_OPTIONS that cut `config`'s texts: both with truncation chunks, doc_stride alone for a
    task that always windows its texts (QA's contexts: no truncation option), none otherwise."""
    if config.truncation == "chunks":
        return WINDOW_OPTIONS
    return () if "truncation" in task_named(config.task).text_options else ("doc_stride",)


def tokens_key(config: TrainConfig) -> TokensKey:
    """The key of the token ids of `config`: configurations that share it share one encoder pass. The
    windows' options are in it only where they cut texts: with truncation chunks, and doc_stride for a
    task that always windows its texts (QA's contexts: no truncation option)."""
    values = {name: getattr(config, name) for name in TOKEN_OPTIONS}
    if not config.uses_feature_cache:
        values["encoder_layers"] = None
    values.update({name: getattr(TrainConfig, name) for name in WINDOW_OPTIONS if name not in windowing(config)})
    return TokensKey(**values)


def inputs_key(config: TrainConfig) -> InputsKey:
    """The key of the prepared inputs `config` trains on."""
    return InputsKey(tokens_key(config), config.feature_variant if config.uses_feature_cache else None)


def prepare_inputs(config: TrainConfig, log: Callable[[str], None], model_path: Optional[str] = None,
                   streamed: bool = False):
    """Read, split and tokenise the data of `config` (no features yet: see add_features). streamed
    (classification): every row checked, but the texts left in their files, each split's FileRows standing
    in for its token ids (tasks/classification/inputs.py, prepare), for tokenisers elsewhere. Its options are
    checked already (TrainConfig as it was made, the task's by train or the search's spec), and its
    max_length against the model where the config meets the model (train's set_up for a run, the
    search's spec/bind.py: encoder_facts.fitting_lengths)."""
    kind = task_named(config.task)
    tokenizer = load_tokenizer(model_path or config.bert_name)
    inputs = kind.prepare(config, tokenizer, log, streamed)
    log(data_line(inputs))
    return inputs


def data_line(inputs) -> str:
    """The console's line of what prepared inputs hold."""
    return f"data: {inputs.description}"


def add_features(inputs, config: TrainConfig, variants, log: Callable[[str], None],
                 model_path: Optional[str] = None, progress: Optional[Callable[[str], None]] = None,
                 threads: Optional[Callable[[], int]] = None) -> Dict[tuple, object]:
    """{(pooling, layers): inputs with those frozen features}: one encoder pass for all variants.

    Runs on config.device (a GPU where there is one); results are cached under config.cache_dir.
    progress: given, receives a line every 30 s of a pass (texts done, time left); threads: given, the
    torch threads the pass may use now, asked before each batch (feature_cache.FrozenEncoder.threads)."""
    device = pick_device(config.device)
    encoder = load_encoder(model_path or config.bert_name, config.encoder_layers)
    encoder.requires_grad_(False)
    return task_named(config.task).with_features(inputs, config, encoder, device, uses_bf16(config.precision, device),
                                                 list(variants), log, progress, threads)


def prepared_for(config: TrainConfig, log, model_path: Optional[str] = None):
    """The inputs one run needs (a plain local run prepares its own)."""
    inputs = prepare_inputs(config, log, model_path)
    if config.uses_feature_cache:
        inputs = add_features(inputs, config, [config.feature_variant], log, model_path)[config.feature_variant]
    return inputs
