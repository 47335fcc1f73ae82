"""Texts -> token ids, truncated head / tail / head+tail, computed once per (tokenizer, length, data)."""
from typing import List, Sequence

import torch

from .tensor_cache import cached, digest


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


def encode(tokenizer, texts: Sequence[str], max_length: int, truncation: str) -> List[List[int]]:
    pieces = tokenizer(list(texts), add_special_tokens=False, truncation=False,
                       return_attention_mask=False, verbose=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    return [[cls] + truncate(p, max_length - 2, truncation) + [sep] for p in pieces]


def pack(sequences: Sequence[Sequence[int]]):
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    flat = torch.tensor([t for s in sequences for t in s], dtype=torch.int32)
    return flat, lengths


class TokenIds:
    """Ragged token ids stored flat: cheap to cache, to hash and to slice into batches."""

    def __init__(self, flat: torch.Tensor, lengths: torch.Tensor):
        self.flat, self.lengths = flat, lengths
        self.offsets = torch.cumsum(lengths, 0) - lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> torch.Tensor:
        start = int(self.offsets[i])
        return self.flat[start:start + int(self.lengths[i])]

    def fingerprint(self) -> str:
        return digest(self.flat, self.lengths)


def tokenize_cached(tokenizer, texts: Sequence[str], max_length: int, truncation: str,
                    cache_dir) -> TokenIds:
    key = digest("tokens-v1", tokenizer_identity(tokenizer), max_length, truncation, "\x1e".join(texts))

    def compute():
        flat, lengths = pack(encode(tokenizer, texts, max_length, truncation))
        return {"flat": flat, "lengths": lengths}

    tensors, _, _ = cached(cache_dir, "tokens", key, compute)
    return TokenIds(tensors["flat"], tensors["lengths"])
