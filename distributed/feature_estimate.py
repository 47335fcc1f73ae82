"""Before the long work of a boost search: how many frozen-feature passes it needs, over how many
texts and tokens, and about how long they take, so that the console says so before they start
(on a CPU they are most of the job: 556 of 663 s of the IMDB search).

The estimate times the frozen encoder on one batch of the longest texts of each distinct
max_length (a second or two each) and scales by the tokens of every pass; passes whose features
are already cached take seconds instead.
"""
import time
from typing import List, Tuple

from bertclf.batching import eval_batches, pad_batch
from bertclf.model import autocast, load_encoder, pick_device, uses_bf16


def pass_tokens(inputs) -> int:
    """Tokens one encoder pass reads: every split's token ids."""
    return sum(int(t.lengths.sum()) for t in inputs.tokens.values())


def seconds_per_token(config, inputs, model_source: str) -> float:
    """The encoder's time per token on the longest batch of the first split (after one warm-up batch)."""
    import torch
    device = pick_device(config.device)
    encoder = load_encoder(model_source).to(device).eval()
    tokens = next(iter(inputs.tokens.values()))
    batch = eval_batches(tokens.lengths.tolist(), config.eval_batch_size)[0]
    ids, mask = pad_batch(tokens, batch, inputs.pad_id)
    ids, mask = ids.to(device), mask.to(device)
    with torch.inference_mode(), autocast(device, uses_bf16(config.precision, device)):
        encoder(input_ids=ids[:2], attention_mask=mask[:2])
        started = time.perf_counter()
        encoder(input_ids=ids, attention_mask=mask)
        seconds = time.perf_counter() - started
    return seconds / max(1, int(mask.sum()))


def estimate(passes: List[Tuple], model_source: str) -> float:
    """Seconds for the passes [(config, inputs, ...)], timed once per distinct max_length."""
    rate = {}
    total = 0.0
    for config, inputs, *_ in passes:
        if config.max_length not in rate:
            rate[config.max_length] = seconds_per_token(config, inputs, model_source)
        total += rate[config.max_length] * pass_tokens(inputs)
    return total


def describe_passes(passes: List[Tuple], model_source: str) -> str:
    """'3 frozen-feature pass(es) (one per max_length x truncation; 9,000 texts, 1.2 M tokens in all):
    about 9 min here, less for any already cached'."""
    texts = sum(len(t) for _, inputs, *_ in passes for t in inputs.tokens.values())
    tokens = sum(pass_tokens(inputs) for _, inputs, *_ in passes)
    seconds = estimate(passes, model_source)
    shown = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
    amount = f"{tokens / 1e6:.1f} M" if tokens >= 1e6 else f"{tokens:,}"
    return (f"{len(passes)} frozen-feature pass(es) (one per max_length x truncation; {texts:,} texts, "
            f"{amount} tokens in all): about {shown} here, less for any already cached")
