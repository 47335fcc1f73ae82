"""Extractive QA (KorQuAD 1.0): question + context windows, a start/end head, n-best span decoding.

A context longer than max_length is cut into windows that overlap by doc_stride tokens (Hugging
Face's `stride`: the context tokens two neighbouring windows share). In
training, a window that does not hold the whole answer points at [CLS] (index 0). At evaluation
every window of a question votes with its best span; the best-scoring span wins.
"""
from typing import Dict, List

import torch
from torch import nn

from .batching import pad_batch
from .errors import UserError
from .model import drop_pooler
from .tensor_cache import cached, digest
from .tokenization import TokenIds, tokenizer_identity

NO_OFFSET = -1


class BertSpanQA(nn.Module):
    def __init__(self, encoder, dropout_p: float, hidden_size=None):
        super().__init__()
        drop_pooler(encoder)  # spans come from the token vectors
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout_p)
        self.head = nn.Linear(hidden_size or encoder.config.hidden_size, 2)

    def forward(self, input_ids, attention_mask, token_type_ids):
        trainable = next(self.encoder.parameters()).requires_grad
        with torch.set_grad_enabled(trainable and torch.is_grad_enabled()):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
        logits = self.head(self.dropout(hidden)).float()
        logits = logits.masked_fill(attention_mask.unsqueeze(-1) == 0, torch.finfo(torch.float32).min / 2)
        return logits  # [batch, tokens, 2]: start, end


def windows(tokenizer, examples, max_length: int, doc_stride: int, cache_dir) -> Dict[str, torch.Tensor]:
    """Token windows of every question, cached: ids, type ids, answer positions, offsets, owner.

    doc_stride: the context tokens two neighbouring windows of a question share. Raises UserError
    for a question too long to leave a window more context than that (naming the question)."""
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("question answering needs a fast tokenizer (offset mapping)")
    if doc_stride >= max_length // 2:
        raise UserError(f"--doc_stride {doc_stride}: must be below half of --max_length {max_length}")
    check_question_lengths(tokenizer, examples, max_length, doc_stride)
    key = digest("qa-windows-v1", tokenizer_identity(tokenizer), max_length, doc_stride,
                 [(e.question, e.context, e.answers[0], e.answer_start) for e in examples])

    def compute():
        enc = tokenizer([e.question for e in examples], [e.context for e in examples],
                        truncation="only_second", max_length=max_length, stride=doc_stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True)
        ids, types, offsets, starts, ends = [], [], [], [], []
        owners = enc["overflow_to_sample_mapping"]
        for w, owner in enumerate(owners):
            example = examples[owner]
            seq = enc.sequence_ids(w)
            spans = [tuple(o) if s == 1 else (NO_OFFSET, NO_OFFSET) for o, s in zip(enc["offset_mapping"][w], seq)]
            first = seq.index(1)
            last = len(seq) - 1 - seq[::-1].index(1)
            a_start = example.answer_start
            a_end = a_start + len(example.answers[0])
            start = end = 0
            if spans[first][0] <= a_start and spans[last][1] >= a_end:
                start = next(i for i in range(first, last + 1) if spans[i][1] > a_start)
                end = next(i for i in range(last, first - 1, -1) if spans[i][0] < a_end)
            ids.append(enc["input_ids"][w])
            types.append(enc["token_type_ids"][w])
            offsets += spans
            starts.append(start)
            ends.append(end)
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.int64)
        return {"flat": torch.tensor([t for x in ids for t in x], dtype=torch.int32),
                "types": torch.tensor([t for x in types for t in x], dtype=torch.int8),
                "offsets": torch.tensor(offsets, dtype=torch.int32), "lengths": lengths,
                "starts": torch.tensor(starts), "ends": torch.tensor(ends),
                "owners": torch.tensor(list(owners), dtype=torch.int64)}

    tensors, _, _ = cached(cache_dir, "qa-windows", key, compute)
    return tensors


class Windows:
    """The cached windows as the loop needs them: ids, type ids and offsets by window index."""

    def __init__(self, tensors):
        self.tensors = tensors
        self.ids = TokenIds(tensors["flat"], tensors["lengths"])
        self.types = TokenIds(tensors["types"].to(torch.int32), tensors["lengths"])

    def __len__(self):
        return len(self.ids)

    def offsets(self, w: int) -> torch.Tensor:
        start = int(self.ids.offsets[w])
        return self.tensors["offsets"][start:start + int(self.ids.lengths[w])]


def window_inputs(win: Windows, pad_id: int, multiple: int, indices) -> dict:
    ids, mask = pad_batch(win.ids, indices, pad_id, multiple)
    types, _ = pad_batch(win.types, indices, 0, multiple)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def check_question_lengths(tokenizer, examples, max_length: int, doc_stride: int) -> None:
    """A window holds the question, the special tokens and more context tokens than the overlap;
    the tokenizer itself would fail mid-run on a longer question (a Rust panic)."""
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True) - doc_stride - 1
    lengths = [len(ids) for ids in tokenizer([e.question for e in examples], add_special_tokens=False)["input_ids"]]
    for example, length in zip(examples, lengths):
        if length > room:
            raise UserError(f"question {example.qid} is {length} tokens long: with --max_length {max_length} and "
                            f"--doc_stride {doc_stride} a question may have at most {room} tokens; raise "
                            f"--max_length, lower --doc_stride, or shorten the question")


def span_loss(logits: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Start and end cross-entropy, averaged over the two and summed over the batch."""
    ce = nn.functional.cross_entropy
    return (ce(logits[..., 0], starts, reduction="sum") + ce(logits[..., 1], ends, reduction="sum")) / 2


def decode(examples, win: Windows, logits_by_window: Dict[int, torch.Tensor], n_best: int = 20,
           max_answer_length: int = 30) -> Dict[str, str]:
    """The best span text of each question over all its windows (start + end logit, n-best search)."""
    best: Dict[int, tuple] = {}
    owners = win.tensors["owners"].tolist()
    for w, logits in logits_by_window.items():
        offsets = win.offsets(w)
        in_context = offsets[:, 0] != NO_OFFSET
        start_logits = logits[:len(offsets), 0].masked_fill(~in_context, float("-inf"))
        end_logits = logits[:len(offsets), 1].masked_fill(~in_context, float("-inf"))
        k = min(n_best, int(in_context.sum()))
        if k == 0:
            continue
        top_starts = start_logits.topk(k).indices.tolist()
        top_ends = end_logits.topk(k).indices.tolist()
        for s in top_starts:
            for e in top_ends:
                if e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(start_logits[s] + end_logits[e])
                owner = owners[w]
                if owner not in best or score > best[owner][0]:
                    best[owner] = (score, int(offsets[s, 0]), int(offsets[e, 1]))
    return {e.qid: e.context[best[i][1]:best[i][2]] if i in best else "" for i, e in enumerate(examples)}


def answers_of(examples) -> Dict[str, List[str]]:
    return {e.qid: e.answers for e in examples}
