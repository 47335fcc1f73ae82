"""Boost mode: the frozen encoder's pooled vectors, computed once and kept on disk in fp16.

One encoder pass over a split yields every (pooling, layers) variant asked for, and each variant is
cached on its own under (weights fingerprint, variant, token ids fingerprint, precision). The token
ids already encode the tokenizer, max_length, truncation and the data, so any change to those is a
new entry; features computed under bf16 autocast differ from fp32 ones, so precision is a new entry too.
"""
import time
from dataclasses import dataclass
from functools import partial

import torch
from tqdm.auto import tqdm

from .batching import eval_batches, token_inputs
from .inference import pad_multiple, run_batches
from .models.heads import for_encoder, pool
from .tensor_cache import cached_together, digest


PROGRESS_EVERY_S = 30


class PassProgress:
    """A line every PROGRESS_EVERY_S seconds of an encoder pass: texts done, and the time left
    extrapolated from the tokens done (batches go longest first, so by texts it would run late)."""

    def __init__(self, lengths, desc: str, log):
        self.lengths, self.desc, self.log = lengths, desc, log
        self.started = self.last_line = time.perf_counter()
        self.texts, self.tokens, self.all_tokens = 0, 0, max(1, sum(lengths))

    def batch_done(self, indices) -> None:
        self.texts += len(indices)
        self.tokens += sum(self.lengths[i] for i in indices)
        now = time.perf_counter()
        if self.log is not None and now - self.last_line >= PROGRESS_EVERY_S and self.texts < len(self.lengths):
            self.last_line, spent = now, now - self.started
            self.log(f"{self.desc}: {self.texts} of {len(self.lengths)} texts in {spent:.0f} s, "
                     f"~{spent * (self.all_tokens - self.tokens) / self.tokens:.0f} s left")


@dataclass(frozen=True)
class FrozenEncoder:
    """A frozen encoder and how its passes run: where, in which precision, how many texts a batch, and
    where their features are cached."""
    encoder: torch.nn.Module
    encoder_id: str  # the fingerprint of its weights (encoders.encoder_fingerprint): part of each cache key
    device: torch.device
    bf16: bool
    batch_size: int
    cache_dir: str
    progress: bool = False  # a progress bar per pass


def frozen_features(frozen: FrozenEncoder, tokens, pad_id: int, variants, desc: str, log=None):
    """({(pooling, layers): features [N, dim] fp16 on CPU} of the token ids `tokens`, variants computed
    in this call). desc names the pass; log: given, receives PassProgress's lines while it runs."""
    encoder, device, bf16 = frozen.encoder, frozen.device, frozen.bf16
    precision = "bf16" if bf16 else "fp32"
    keys = {v: digest("features-v3", frozen.encoder_id, list(v), tokens.fingerprint(), precision) for v in variants}

    def compute(missing):
        hidden_states = any(layers == "last4" for _, layers in missing)
        outputs = {v: [] for v in missing}
        lengths = tokens.lengths.tolist()
        batches = eval_batches(lengths, frozen.batch_size)
        make = partial(token_inputs, tokens, pad_id, pad_multiple(device))
        pass_progress = PassProgress(lengths, desc, log)
        for idx, batch, out in run_batches(encoder, tqdm(batches, desc=desc, disable=not frozen.progress, unit="batch"),
                                           (for_encoder(encoder, make(b)) for b in batches), device=device, bf16=bf16,
                                           output_hidden_states=hidden_states):
            for v in missing:
                outputs[v].append((idx, pool(out, batch["attention_mask"], *v).float().cpu().to(torch.float16)))
            pass_progress.batch_done(idx)
        result = {}
        for v, parts in outputs.items():
            features = torch.empty((len(tokens), parts[0][1].shape[1]), dtype=torch.float16)
            for idx, values in parts:
                features[torch.tensor(idx)] = values
            result[v] = {"features": features}
        return result

    entries, computed = cached_together(frozen.cache_dir, "features", keys, compute)
    return {v: entries[v]["features"] for v in variants}, computed
