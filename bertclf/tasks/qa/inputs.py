"""QA's inputs: each question and its context cut into windows of max_length tokens that overlap by
doc_stride context tokens (Hugging Face's `stride`; offsets back to characters), cached; read, split
and subset once per run.

In training, a window that does not hold the whole answer points at [CLS] (index 0)."""
from dataclasses import dataclass
from typing import Dict, List

import torch

from ...batching import pad_batch
from ...data.splits import describe_test_data, seeded_subset, subset_note
from ...errors import UserError
from ...data.squad import QAExample, read_squad, split_by_article
from ...tensor_cache import cached, digest
from ...tokenization import TokenIds, tokenizer_identity

NO_OFFSET = -1


def windows(tokenizer, examples, max_length: int, doc_stride: int, cache_dir) -> Dict[str, torch.Tensor]:
    """Token windows of every question, cached: ids, type ids, answer positions, offsets, owner.

    doc_stride (the context tokens two neighbouring windows of a question share) is below
    max_length / 2: QuestionAnswering.check_options refuses other values. Raises UserError for a question too
    long to leave a window more context than that, naming the question."""
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("question answering needs a fast tokenizer (offset mapping)")
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


@dataclass
class QAInputs:
    """What a run reads, prepared once; picklable, so a search ships it to every trial."""
    windows: Dict[str, dict]  # split -> the window tensors of `windows`
    examples: Dict[str, List[QAExample]]  # the questions of the splits that are decoded (valid, test)
    pad_id: int
    description: str


def _subset(examples, limit, seed):
    if limit is None:
        return examples
    return [examples[i] for i in seeded_subset(len(examples), limit, seed)]


def prepare(config, tokenizer, log) -> QAInputs:
    train = read_squad(config.train_path, "train_path")
    if config.valid_path:
        valid, source = read_squad(config.valid_path, "valid_path"), "valid_path"
    elif config.valid_fraction > 0:
        train, valid = split_by_article(train, config.valid_fraction, config.seed)
        source = f"{config.valid_fraction:.0%} of the articles held out of train (seed {config.seed})"
    else:
        valid, source = [], "none: all of train is trained on"
    full = (len(train), len(valid))
    train = _subset(train, config.max_train_samples, config.seed)
    valid = _subset(valid, config.max_valid_samples, config.seed + 1)
    source += subset_note([("train", len(train), full[0]), ("valid", len(valid), full[1])])
    parts = {"train": train, **({"valid": valid} if valid else {})}
    win = {split: windows(tokenizer, examples, config.max_length, config.doc_stride, config.cache_dir)
           for split, examples in parts.items()}
    description = (f"{len(train)} train / {len(valid)} valid questions ({source}); "
                   f"{len(win['train']['lengths'])} train windows of {config.max_length} tokens, "
                   f"stride {config.doc_stride}")
    return QAInputs(windows=win, examples={"valid": valid}, pad_id=tokenizer.pad_token_id or 0,
                    description=description)


def prepare_test(path, meta, tokenizer, cache_dir, max_examples=None) -> QAInputs:
    everything = read_squad(path, "test data")
    examples = _subset(everything, max_examples, 0)
    return QAInputs(windows={"test": windows(tokenizer, examples, meta["max_length"], meta["doc_stride"], cache_dir)},
                    examples={"test": examples}, pad_id=tokenizer.pad_token_id or 0,
                    description=describe_test_data(len(examples), len(everything), "questions", path))
