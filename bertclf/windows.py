"""truncation chunks: a long text read whole, as overlapping windows of the encoder's length.

A text's tokens are cut as transformers' tokenizers cut them with return_overflowing_tokens: windows of
`body` tokens (max_length less the special tokens), each starting `body - doc_stride` after the one before,
until the text's end is in one; an empty text is one window of the special tokens alone. Beyond max_chunks
windows, max_chunks of them spread evenly over the text are kept (the first and the last among them), so
a model card reproduces the selection in one numpy line. The windows of a data set are stored as one
TokenIds; DocumentWindows adds how many windows each text has.
"""
from typing import List, Sequence

import numpy as np
import torch

from .errors import UserError
from .tensor_cache import digest


def kept_windows(count: int, max_chunks: int) -> np.ndarray:
    """Indices of the windows kept of a text's `count`: all, or max_chunks spread evenly from the first
    to the last (numpy's rounding, as the model card's snippet does it)."""
    if count <= max_chunks:
        return np.arange(count)
    return np.linspace(0, count - 1, max_chunks).round().astype(int)


def window_spans(n_tokens: int, body: int, doc_stride: int, max_chunks: int) -> List[tuple]:
    """(start, end) of each kept window over a text of n_tokens: windows of `body` tokens overlapping by
    doc_stride, as transformers' overflowing tokens are cut."""
    step = body - doc_stride
    if step < 1:
        raise UserError(f"--doc_stride {doc_stride}: expected an overlap below the window's {body} text tokens "
                        f"(max_length less the tokenizer's special tokens)")
    count = 1 if n_tokens <= body else 1 + -(-(n_tokens - body) // step)
    return [(k * step, min(k * step + body, n_tokens)) for k in kept_windows(count, max_chunks).tolist()]


def cut(ids: Sequence[int], body: int, doc_stride: int, max_chunks: int) -> List[Sequence[int]]:
    """The kept windows of one text's token ids (special tokens not added)."""
    return [ids[start:end] for start, end in window_spans(len(ids), body, doc_stride, max_chunks)]


class DocumentWindows:
    """A data set's texts as windows: `windows` (TokenIds, one sequence per window, a text's windows
    next to each other) and `counts` [N] int32, the windows of each text. Indexed, sized and measured by
    text, as a TokenIds is: `lengths` [N] are the tokens of each text's windows together, what its
    batches cost, so that length grouping puts texts of similar cost together."""
    type_starts = None  # single texts only: text pairs are not cut into windows

    def __init__(self, windows, counts: torch.Tensor):
        self.windows, self.counts = windows, counts.to(torch.int32)
        self.first = torch.cumsum(self.counts.to(torch.int64), 0) - self.counts
        doc_of = torch.repeat_interleave(torch.arange(len(self.counts)), self.counts.to(torch.int64))
        self.lengths = torch.zeros(len(self.counts), dtype=torch.int64).index_add_(
            0, doc_of, windows.lengths.to(torch.int64))

    def __len__(self) -> int:
        return len(self.counts)

    def __getstate__(self) -> dict:
        return {"windows": self.windows, "counts": self.counts.numpy()}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["windows"], torch.from_numpy(np.array(state["counts"])))

    def window_indices(self, texts: Sequence[int]) -> tuple:
        """(indices of the windows of `texts`, in order; [windows] the position in `texts` of each one's text)."""
        counts = self.counts[torch.as_tensor(texts, dtype=torch.long)].to(torch.int64)
        first = self.first[torch.as_tensor(texts, dtype=torch.long)]
        position = torch.repeat_interleave(torch.arange(len(texts)), counts)
        offset = torch.arange(len(position)) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        return (first[position] + offset).tolist(), position

    def subset(self, texts: Sequence[int]) -> "DocumentWindows":
        """The windows of `texts`, in that order (a fold of cv_folds)."""
        windows, _ = self.window_indices(texts)
        return DocumentWindows(self.windows.subset(windows), self.counts[torch.as_tensor(texts, dtype=torch.long)])

    @property
    def n_windows(self) -> int:
        return len(self.windows)

    @property
    def nbytes(self) -> int:
        return self.windows.nbytes + self.counts.numel() * self.counts.element_size()

    def fingerprint(self) -> str:
        return digest(self.windows.fingerprint(), self.counts)


def sequences(tokens):
    """What an encoder reads of `tokens`, one sequence a row: a DocumentWindows' windows, else the TokenIds."""
    return tokens.windows if isinstance(tokens, DocumentWindows) else tokens
