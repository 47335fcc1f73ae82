"""Texts (or text pairs) -> token ids through the tokenizer's own template, truncated head / tail / head+tail,
or cut into overlapping windows (chunks: bertclf.windows).

Texts are tokenised in chunks of CHUNK texts and their ids stored flat in the smallest dtype that holds
the vocabulary (uint16 up to 65,536 ids, else int32): memory grows with the tokens kept, never with
Python lists of a whole data set. Results are cached per (tokenizer, length, truncation, data; for chunks
the overlap and max_chunks too).
"""
import hashlib
import itertools
import warnings
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from .tensor_cache import cached, digest
from .windows import DocumentWindows, cut

CHUNK = 4096


def tokenizer_identity(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return digest(backend.to_str())
    return digest(sorted(tokenizer.get_vocab().items()), type(tokenizer).__name__)


def truncate(ids: Sequence[int], budget: int, truncation: str) -> List[int]:
    if len(ids) <= budget:
        return list(ids)
    if truncation == "head":
        return list(ids[:budget])
    if truncation == "tail":
        return list(ids[len(ids) - budget:])
    # Sun et al. 2019: the first quarter of the budget (rounded up) and the rest from the end: 128 + 382
    # of the 510 tokens that 512 leaves beside [CLS] and [SEP]
    head = -(-budget // 4)
    return list(ids[:head]) + list(ids[len(ids) - (budget - head):])


def pair_lengths(first: int, second: int, budget: int) -> Tuple[int, int]:
    """How many tokens of each text of a pair fit `budget`: the longer one is cut first (the
    tokenizers' longest_first), down to an even share when both are long."""
    if first + second <= budget:
        return first, second
    short = min(first, second)
    if short <= budget // 2:
        return (budget - short, short) if first > second else (short, budget - short)
    half = budget // 2
    return (budget - half, half) if first >= second else (half, budget - half)


@dataclass(frozen=True)
class Template:
    """The special tokens the tokenizer puts around one text, and around and between two: learnt by
    encoding two probe words, so any tokenizer's own template ([CLS] a [SEP] b [SEP], <s> a </s></s> b
    </s>, ...) is followed."""
    prefix: Tuple[int, ...]
    suffix: Tuple[int, ...]
    pair_prefix: Tuple[int, ...]
    middle: Tuple[int, ...]
    pair_suffix: Tuple[int, ...]
    middle_in_first: int  # tokens of `middle` with the first text's token type
    token_types: bool  # the model takes token_type_ids (BERT: 0 for the first text, 1 for the second)


def _find(ids: List[int], part: List[int], start: int = 0) -> int:
    for i in range(start, len(ids) - len(part) + 1):
        if ids[i:i + len(part)] == part:
            return i
    raise ValueError(f"cannot find the probe's tokens {part} in {ids}")


def template_of(tokenizer) -> Template:
    a = tokenizer("hello", add_special_tokens=False)["input_ids"]
    b = tokenizer("world", add_special_tokens=False)["input_ids"]
    single = tokenizer("hello")["input_ids"]
    i = _find(single, a)
    both = tokenizer("hello", "world", return_token_type_ids=True)
    ids, types = both["input_ids"], both.get("token_type_ids") or []
    j = _find(ids, a)
    k = _find(ids, b, j + len(a))
    token_types = "token_type_ids" in tokenizer.model_input_names and any(types)
    return Template(prefix=tuple(single[:i]), suffix=tuple(single[i + len(a):]), pair_prefix=tuple(ids[:j]),
                    middle=tuple(ids[j + len(a):k]), pair_suffix=tuple(ids[k + len(b):]),
                    middle_in_first=list(types[j + len(a):k]).count(types[0]) if token_types else 0,
                    token_types=token_types)


class TokenIds:
    """Ragged token ids stored flat: cheap to cache, to hash and to slice into batches.

    flat: [total tokens] uint16 or int32; lengths: [N] int32; type_starts: [N] int32, where each
    sequence's second text (token type 1) starts, or None (single texts, or a model without token types)."""

    def __init__(self, flat: torch.Tensor, lengths: torch.Tensor, type_starts: Optional[torch.Tensor] = None):
        self.flat, self.lengths, self.type_starts = flat, lengths, type_starts
        self.offsets = torch.cumsum(lengths.to(torch.int64), 0) - lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> torch.Tensor:
        start = int(self.offsets[i])
        return self.flat[start:start + int(self.lengths[i])]

    def __getstate__(self) -> dict:
        # torch cannot pickle uint16 tensors; numpy arrays pickle (and go through Ray's object store without
        # a copy) in any dtype
        return {"flat": self.flat.numpy(), "lengths": self.lengths.numpy(),
                "type_starts": self.type_starts.numpy() if self.type_starts is not None else None}

    def __setstate__(self, state: dict) -> None:
        with warnings.catch_warnings():  # arrays from the object store are read-only; token ids are never written
            warnings.simplefilter("ignore", UserWarning)
            tensors = {k: torch.from_numpy(v) if v is not None else None for k, v in state.items()}
        self.__init__(tensors["flat"], tensors["lengths"], tensors["type_starts"])

    def subset(self, rows: Sequence[int]) -> "TokenIds":
        """The sequences of `rows`, in that order (a fold of cv_folds)."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        lengths = self.lengths[rows]
        sizes = lengths.to(torch.int64)
        # each kept token's place in flat: its sequence's offset, then its position in the sequence
        starts = torch.repeat_interleave(self.offsets[rows] - (torch.cumsum(sizes, 0) - sizes), sizes)
        places = (starts + torch.arange(int(sizes.sum()))).numpy()
        flat = torch.from_numpy(self.flat.numpy()[places])  # numpy: torch indexes no uint16 tensor
        return TokenIds(flat, lengths, self.type_starts[rows] if self.type_starts is not None else None)

    @property
    def nbytes(self) -> int:
        parts = [self.flat, self.lengths] + ([self.type_starts] if self.type_starts is not None else [])
        return sum(t.numel() * t.element_size() for t in parts)

    def fingerprint(self) -> str:
        return digest(self.flat, self.lengths, *([self.type_starts] if self.type_starts is not None else []))


def id_dtype(tokenizer):
    return np.uint16 if len(tokenizer) <= 1 << 16 else np.int32


def _pieces(tokenizer, texts) -> List[List[int]]:
    return tokenizer(list(texts), add_special_tokens=False, truncation=False, return_attention_mask=False,
                     return_token_type_ids=False, verbose=False)["input_ids"]


def _encode_chunk(tokenizer, template: Template, texts, pairs, max_length: int, truncation: str,
                  doc_stride: int, max_chunks: int):
    """(sequences, type starts or None, windows per text or None) of one chunk, each sequence in the
    tokenizer's template; for chunks, each text's windows one after the other."""
    t = template
    if pairs is None:
        budget = max_length - len(t.prefix) - len(t.suffix)
        if truncation == "chunks":
            windows = [cut(p, budget, doc_stride, max_chunks) for p in _pieces(tokenizer, texts)]
            return ([[*t.prefix, *w, *t.suffix] for text in windows for w in text], None,
                    [len(text) for text in windows])
        return [[*t.prefix, *truncate(p, budget, truncation), *t.suffix] for p in _pieces(tokenizer, texts)], None, None
    budget = max_length - len(t.pair_prefix) - len(t.middle) - len(t.pair_suffix)
    sequences, starts = [], []
    for a, b in zip(_pieces(tokenizer, texts), _pieces(tokenizer, pairs)):
        keep_a, keep_b = pair_lengths(len(a), len(b), budget)
        a, b = truncate(a, keep_a, truncation), truncate(b, keep_b, truncation)
        sequences.append([*t.pair_prefix, *a, *t.middle, *b, *t.pair_suffix])
        starts.append(len(t.pair_prefix) + len(a) + t.middle_in_first)
    return sequences, starts if t.token_types else None, None


def _flat(sequences, starts, dtype) -> TokenIds:
    sizes = np.fromiter(map(len, sequences), dtype=np.int32, count=len(sequences))
    return TokenIds(torch.from_numpy(np.fromiter(itertools.chain.from_iterable(sequences), dtype=dtype,
                                                 count=int(sizes.sum()))),
                    torch.from_numpy(sizes),
                    torch.from_numpy(np.asarray(starts, dtype=np.int32)) if starts is not None else None)


def encode(tokenizer, texts: Sequence[str], max_length: int, truncation: str,
           pairs: Optional[Sequence[str]] = None, doc_stride: int = 0, max_chunks: int = 1):
    """Token ids of `texts` (with `pairs`: of each pair), CHUNK texts at a time: a TokenIds, or for
    truncation chunks a DocumentWindows of windows overlapping by doc_stride, at most max_chunks a text."""
    template, dtype = template_of(tokenizer), id_dtype(tokenizer)
    blocks = []
    for begin in range(0, len(texts), CHUNK):
        chunk_pairs = pairs[begin:begin + CHUNK] if pairs is not None else None
        sequences, chunk_starts, counts = _encode_chunk(tokenizer, template, texts[begin:begin + CHUNK], chunk_pairs,
                                                        max_length, truncation, doc_stride, max_chunks)
        tokens = _flat(sequences, chunk_starts, dtype)
        blocks.append(tokens if counts is None else
                      DocumentWindows(tokens, torch.from_numpy(np.asarray(counts, dtype=np.int32))))
    if not blocks:
        empty = _flat([], None, dtype)
        return DocumentWindows(empty, torch.zeros(0, dtype=torch.int32)) if truncation == "chunks" else empty
    return join(blocks)


def join(blocks: Sequence):
    """One TokenIds (or DocumentWindows) of `blocks` (at least one), in order: a data set tokenised in chunks,
    here or on other machines. Through numpy, which concatenates uint16 as any dtype."""
    if isinstance(blocks[0], DocumentWindows):
        return DocumentWindows(join([b.windows for b in blocks]),
                               torch.from_numpy(np.concatenate([b.counts.numpy() for b in blocks])))
    starts = [b.type_starts.numpy() for b in blocks if b.type_starts is not None]
    return TokenIds(torch.from_numpy(np.concatenate([b.flat.numpy() for b in blocks])),
                    torch.from_numpy(np.concatenate([b.lengths.numpy() for b in blocks])),
                    torch.from_numpy(np.concatenate(starts)) if starts else None)


def data_digest(texts: Sequence[str], pairs: Optional[Sequence[str]] = None) -> str:
    """A hash of the texts, fed one text at a time (no copy of the whole data set)."""
    h = hashlib.sha256()
    for column in (texts, pairs):
        if column is None:
            continue
        for text in column:
            h.update(text.encode("utf-8", "surrogatepass"))
            h.update(b"\x1e")
        h.update(b"\x1d")
    return h.hexdigest()


def tokenize_cached(tokenizer, texts: Sequence[str], max_length: int, truncation: str, cache_dir,
                    pairs: Optional[Sequence[str]] = None, doc_stride: int = 0, max_chunks: int = 1):
    """encode's answer, through the cache."""
    windowing = (doc_stride, max_chunks) if truncation == "chunks" else ()
    key = digest("tokens-v2", tokenizer_identity(tokenizer), max_length, truncation, *windowing, pairs is not None,
                 data_digest(texts, pairs))

    def compute():
        tokens = encode(tokenizer, texts, max_length, truncation, pairs, doc_stride, max_chunks)
        ids = tokens.windows if isinstance(tokens, DocumentWindows) else tokens
        tensors = {"flat": ids.flat, "lengths": ids.lengths}
        if ids.type_starts is not None:
            tensors["type_starts"] = ids.type_starts
        if isinstance(tokens, DocumentWindows):
            tensors["counts"] = tokens.counts
        return tensors

    tensors, _, _ = cached(cache_dir, "tokens", key, compute)
    ids = TokenIds(tensors["flat"], tensors["lengths"], tensors.get("type_starts"))
    return DocumentWindows(ids, tensors["counts"]) if "counts" in tensors else ids
