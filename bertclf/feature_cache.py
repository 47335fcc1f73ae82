"""Boost mode: the frozen encoder's pooled vectors, computed once and kept on disk in fp16.

One encoder pass over a split yields every (pooling, layers) variant asked for, and each variant is
cached on its own under (weights fingerprint, variant, token ids fingerprint, precision). The token
ids already encode the tokenizer, max_length, truncation and the data, so any change to those is a
new entry; features computed under bf16 autocast differ from fp32 ones, so precision is a new entry too.

Within one process, passes share rows: a text shorter than the window is the same token ids under
head and head+tail, and at every max_length above its length, so a later pass takes its features from
an earlier one's (RowMemo) and runs the encoder on the rows that differ only.
"""
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import Callable, List, Optional

import torch
from tqdm.auto import tqdm

from .batching import eval_batches, token_inputs
from .heap import PeriodicTrim
from .inference import bars_shown, pad_multiple, run_batches
from .models.heads import for_encoder, pool
from .tensor_cache import cached_together, digest


PROGRESS_EVERY_S = 30
ROW_MEMO_BYTES = 256 * 2**20  # the features of single rows a process keeps for its later passes


class RowMemo:
    """Features of single rows from the passes this process ran: {(encoder id, precision, variant, the
    row's token ids digest): [dim] fp16}, the oldest dropped beyond `limit` bytes. Thread-safe (the
    FeaturePasses actor runs passes from several threads)."""

    def __init__(self, limit: int = ROW_MEMO_BYTES):
        self.limit, self.bytes = limit, 0
        self.rows: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple):
        with self.lock:
            return self.rows.get(key)

    def put(self, key: tuple, row: torch.Tensor) -> None:
        with self.lock:
            if key not in self.rows:
                self.rows[key] = row
                self.bytes += row.numel() * row.element_size()
            while self.bytes > self.limit and self.rows:
                _, old = self.rows.popitem(last=False)
                self.bytes -= old.numel() * old.element_size()


ROWS = RowMemo()


def row_digests(tokens) -> List[bytes]:
    """One digest per row of `tokens` (TokenIds): its token ids and where its second text starts."""
    flat, offsets, lengths = tokens.flat.numpy(), tokens.offsets.tolist(), tokens.lengths.tolist()
    types = tokens.type_starts.tolist() if tokens.type_starts is not None else [0] * len(lengths)
    return [hashlib.blake2b(flat[o:o + n].tobytes() + t.to_bytes(4, "little"), digest_size=16).digest()
            for o, n, t in zip(offsets, lengths, types)]


class PassProgress:
    """A line every PROGRESS_EVERY_S seconds of an encoder pass: rows done (`unit`: texts, or the windows
    of texts read whole), and the time left extrapolated from the tokens done (batches go longest first,
    so by rows it would run late)."""

    def __init__(self, lengths, desc: str, log, unit: str = "texts"):
        self.lengths, self.desc, self.log, self.unit = lengths, desc, log, unit
        self.started = self.last_line = time.perf_counter()
        self.texts, self.tokens, self.all_tokens = 0, 0, max(1, sum(lengths))

    def batch_done(self, indices) -> None:
        self.texts += len(indices)
        self.tokens += sum(self.lengths[i] for i in indices)
        now = time.perf_counter()
        if self.log is not None and now - self.last_line >= PROGRESS_EVERY_S and self.texts < len(self.lengths):
            self.last_line, spent = now, now - self.started
            self.log(f"{self.desc}: {self.texts:,} of {len(self.lengths):,} {self.unit} in {spent:.0f} s, "
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
    # the torch threads the pass may use now, asked before each batch (None: as set): a pass beside
    # running trials on threads of their CPUs would slow them and itself (OpenMP threads wait on each other)
    threads: Optional[Callable[[], int]] = None


@dataclass
class PassDone:
    """What a pass did: the variants it computed (none: all loaded from the disk cache), and how many
    rows it took from an earlier pass of this process (RowMemo) instead of encoding them."""
    computed: list
    taken: int = 0


def frozen_features(frozen: FrozenEncoder, tokens, pad_id: int, variants, desc: str, log=None, unit: str = "texts"):
    """({(pooling, layers): features [N, dim] fp16 on CPU} of the token ids `tokens`, PassDone). desc
    names the pass; log: given, receives PassProgress's lines while it runs, counting `unit`."""
    encoder, device, bf16 = frozen.encoder, frozen.device, frozen.bf16
    precision = "bf16" if bf16 else "fp32"
    keys = {v: digest("features-v3", frozen.encoder_id, list(v), tokens.fingerprint(), precision) for v in variants}
    done = PassDone([])

    def compute(missing):
        hidden_states = any(layers == "last4" for _, layers in missing)
        rows = row_digests(tokens)
        found = {v: [ROWS.get((frozen.encoder_id, precision, v, r)) for r in rows] for v in missing}
        todo = [i for i in range(len(tokens)) if any(found[v][i] is None for v in missing)]
        done.taken = len(tokens) - len(todo)
        outputs = {v: [] for v in missing}
        lengths = [int(tokens.lengths[i]) for i in todo]
        position = {row: k for k, row in enumerate(todo)}  # a row's place among those to encode
        batches = [[todo[j] for j in batch] for batch in eval_batches(lengths, frozen.batch_size)]
        make = partial(token_inputs, tokens, pad_id, pad_multiple(device))
        pass_progress = PassProgress(lengths, desc, log, unit)
        no_bar = not bars_shown(frozen.progress)
        trim = PeriodicTrim()  # the pass's garbage would grow with its texts (heap.py)
        for idx, batch, out in run_batches(encoder, tqdm(batches, desc=desc, disable=no_bar, unit="batch"),
                                           (for_encoder(encoder, make(b)) for b in batches), device=device, bf16=bf16,
                                           output_hidden_states=hidden_states):
            for v in missing:
                values = pool(out, batch["attention_mask"], *v).float().cpu().to(torch.float16)
                outputs[v].append((idx, values))
                for i, row in zip(idx, values):
                    ROWS.put((frozen.encoder_id, precision, v, rows[i]), row.clone())
            pass_progress.batch_done([position[i] for i in idx])
            trim.tick()
            if frozen.threads is not None:
                torch.set_num_threads(frozen.threads())
        return {v: {"features": assembled(found[v], outputs[v], todo)} for v in missing}

    entries, done.computed = cached_together(frozen.cache_dir, "features", keys, compute)
    return {v: entries[v]["features"] for v in variants}, done


def assembled(found: list, parts: list, computed_rows: list) -> torch.Tensor:
    """[N, dim] fp16: the rows an earlier pass had (found: a row or None each), then those computed now
    (parts: [(row indices, [rows, dim])])."""
    dim = parts[0][1].shape[1] if parts else next(row for row in found if row is not None).shape[0]
    features = torch.empty((len(found), dim), dtype=torch.float16)
    now = set(computed_rows)
    for i, row in enumerate(found):
        if row is not None and i not in now:
            features[i] = row
    for idx, values in parts:
        features[torch.tensor(idx)] = values
    return features
