"""Before the long work of a boost search: how many frozen-feature passes it needs, over how many
texts and tokens, and about how long they take, so that the console says so before they start
(on a CPU they are most of the job: 556 of 663 s of the IMDB search).

The estimate times the frozen encoder on one batch of the longest texts of each distinct
max_length (a second or two each) and scales by the tokens of every pass and the share of the
encoder's layers it runs (encoder_layers); passes whose features are already cached take seconds
instead.
"""
import time
from functools import partial
from typing import List, Tuple

from bertclf.batching import eval_batches, token_inputs
from bertclf.inputs import TOKEN_OPTIONS, WINDOW_OPTIONS, tokens_key, windowing
from bertclf.models.device import pick_device, uses_bf16
from bertclf.models.encoders import load_encoder
from bertclf.inference import pad_multiple, run_batches
from bertclf.windows import sequences


def pass_tokens(inputs) -> int:
    """Tokens one encoder pass reads: every split's token ids."""
    return sum(int(t.lengths.sum()) for t in inputs.tokens.values())


def seconds_per_token(config, inputs, model_source: str) -> float:
    """The encoder's time per token on the longest batch of the first split (after one warm-up batch)."""
    import torch
    device = pick_device(config.device)
    encoder = load_encoder(model_source).to(device)
    tokens = sequences(next(iter(inputs.tokens.values())))
    longest = eval_batches(tokens.lengths.tolist(), config.eval_batch_size)[0]
    batches = [longest[:2], longest]  # a warm-up, then the batch timed
    make = partial(token_inputs, tokens, inputs.pad_id, pad_multiple(device))
    done = []
    for _, batch, _ in run_batches(encoder, batches, map(make, batches), device=device,
                                   bf16=uses_bf16(config.precision, device)):
        if device.type == "cuda":
            torch.cuda.synchronize()
        done.append((time.perf_counter(), int(batch["attention_mask"].sum())))
    (warm, _), (timed, timed_tokens) = done
    return (timed - warm) / max(1, timed_tokens)


def depth_share(config, models: dict) -> float:
    """The share of the model's layers a pass of `config` runs (encoder_layers cuts the encoder: a 3-layer
    pass of a 6-layer model costs about half a full one; the embeddings are a small part)."""
    layers = models[config.bert_name].facts.layers
    return min(1.0, config.encoder_layers / layers) if config.encoder_layers and layers else 1.0


def estimate(passes: List[Tuple], models: dict) -> float:
    """Seconds for the passes [(config, inputs, ...)], timed once per distinct model and max_length on the
    whole encoder, each pass scaled by the share of its layers it runs. models: bert_name -> plan.Model
    (its source and facts)."""
    rate = {}
    total = 0.0
    for config, inputs, *_ in passes:
        key = (config.bert_name, config.max_length)
        if key not in rate:
            rate[key] = seconds_per_token(config, inputs, models[config.bert_name].source)
        total += rate[key] * pass_tokens(inputs) * depth_share(config, models)
    return total


def pass_name(config) -> str:
    """A pass as the console names it: 'max_length 256 chunks', 'max_length 128 head 3 layer(s)'."""
    return (f"max_length {config.max_length} {config.truncation}"
            + (f" {config.encoder_layers} layer(s)" if config.encoder_layers else ""))


def passes_per(passes: List[Tuple]) -> str:
    """What the passes are one per: the fields of their token keys that differ ('max_length x
    encoder_layers'), a window option among the passes it cuts texts of alone (bertclf.inputs.windowing:
    a head+tail pass's doc_stride is not a chunks pass's, and cuts nothing); '' for a single pass."""
    configs = [config for config, *_ in passes]
    varying = [name for name in TOKEN_OPTIONS
               if len({getattr(tokens_key(config), name) for config in configs
                       if name not in WINDOW_OPTIONS or name in windowing(config)}) > 1]
    return " x ".join("model" if name == "bert_name" else name for name in varying)


def describe_passes(passes: List[Tuple], models: dict) -> str:
    """'3 frozen-feature pass(es) (one per max_length x encoder_layers; 9,000 texts, 1.2 M tokens in all):
    about 9 min here, less for any already cached'; texts cut into windows (truncation chunks) are
    counted as texts and as windows: '9,000 texts in 14,000 windows'."""
    texts = sum(len(t) for _, inputs, *_ in passes for t in inputs.tokens.values())
    windows = sum(len(sequences(t)) for _, inputs, *_ in passes for t in inputs.tokens.values())
    tokens = sum(pass_tokens(inputs) for _, inputs, *_ in passes)
    seconds = estimate(passes, models)
    shown = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
    amount = f"{tokens / 1e6:.1f} M" if tokens >= 1e6 else f"{tokens:,}"
    in_windows = f" in {windows:,} windows" if windows != texts else ""
    per = passes_per(passes)
    return (f"{len(passes)} frozen-feature pass(es) ({f'one per {per}; ' if per else ''}{texts:,} texts{in_windows}, "
            f"{amount} tokens in all): about {shown} here, less for any already cached")
