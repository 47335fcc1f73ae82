"""Length-grouped batches with dynamic padding, split into accumulation steps and DDP shards."""
import random
from typing import List, Sequence

import torch

from .windows import DocumentWindows

Step = List[List[int]]  # one optimizer step = its micro-batches of example indices


def training_steps(lengths: Sequence[int], batch_size: int, accumulation: int, seed: int,
                   epoch: int, group_factor: int = 50) -> List[Step]:
    """Every example once per epoch, in steps of `accumulation` micro-batches.

    Examples are shuffled, then sorted by length inside windows of `group_factor` micro-batches,
    so a micro-batch holds texts of similar length and pads little; the micro-batch order is
    shuffled again so that lengths do not trend through the epoch. The remainder goes last: the last
    step may hold fewer micro-batches and its last micro-batch fewer examples; nothing is dropped.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    micro = batch_size // accumulation
    window = micro * group_factor
    micro_batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: -lengths[i])
        micro_batches += [chunk[j:j + micro] for j in range(0, len(chunk), micro)]
    short = [mb for mb in micro_batches if len(mb) < micro]  # at most one: the epoch's remainder
    micro_batches = [mb for mb in micro_batches if len(mb) == micro]
    rng.shuffle(micro_batches)
    micro_batches += short  # so every step but the last is exactly batch_size examples
    return [micro_batches[k:k + accumulation] for k in range(0, len(micro_batches), accumulation)]


def shard(micro_batch: List[int], rank: int, world_size: int) -> List[int]:
    return micro_batch[rank::world_size]


def eval_batches(lengths: Sequence[int], batch_size: int) -> List[List[int]]:
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[j:j + batch_size] for j in range(0, len(order), batch_size)]


def text_batches(tokens, batch_size: int) -> List[List[int]]:
    """eval_batches of `tokens` (token ids, or texts cut into windows) for a pass without gradients, longest
    first: batch_size sequences a batch, so that texts of many windows batch fewer to a batch (a text of
    more windows than batch_size alone)."""
    if not isinstance(tokens, DocumentWindows):
        return eval_batches(tokens.lengths.tolist(), batch_size)
    lengths = tokens.lengths.tolist()
    return window_groups(tokens, sorted(range(len(lengths)), key=lambda i: -lengths[i]), batch_size)


def forward_pieces(tokens, indices: List[int]) -> List[List[int]]:
    """A training micro-batch of texts `indices` as the forward passes that run it: one for token ids; for
    texts cut into windows, consecutive groups of texts of at most len(indices) windows each (a text of more
    alone), so that a pass of long texts holds no more sequences than one of short texts would. The loss is
    summed per text, so the pieces' gradients add up to the micro-batch's."""
    if not isinstance(tokens, DocumentWindows):
        return [indices]
    return window_groups(tokens, indices, len(indices))


def window_groups(tokens: DocumentWindows, texts: Sequence[int], windows: int) -> List[List[int]]:
    """`texts` in order, cut into consecutive groups of at most `windows` windows (a text of more alone)."""
    counts = tokens.counts[torch.as_tensor(texts, dtype=torch.long)].tolist()
    groups, held = [], windows
    for text, count in zip(texts, counts):
        if held + count > windows:
            groups.append([])
            held = 0
        groups[-1].append(text)
        held += count
    return groups


def pad_batch(token_ids, indices: Sequence[int], pad_id: int, multiple: int = 1):
    """(input_ids, attention_mask) padded to the longest text of this batch only."""
    seqs = [token_ids[i] for i in indices]
    width = max(len(s) for s in seqs)
    width = -(-width // multiple) * multiple
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, :len(s)] = s
        mask[row, :len(s)] = 1
    return ids, mask


def token_inputs(tokens, pad_id: int, multiple: int, indices) -> dict:
    """input_ids, attention_mask and, for text pairs of a model with token types, token_type_ids; for
    texts cut into windows (DocumentWindows), every window of the texts `indices` and doc_index, the
    position in `indices` of each window's text."""
    if isinstance(tokens, DocumentWindows):
        windows, doc_index = tokens.window_indices(indices)
        return {**token_inputs(tokens.windows, pad_id, multiple, windows), "doc_index": doc_index}
    ids, mask = pad_batch(tokens, indices, pad_id, multiple)
    inputs = {"input_ids": ids, "attention_mask": mask}
    if getattr(tokens, "type_starts", None) is not None:
        starts = tokens.type_starts[torch.as_tensor(indices)].to(torch.long)
        inputs["token_type_ids"] = ((torch.arange(ids.shape[1]) >= starts[:, None]) & mask.bool()).long()
    return inputs


def feature_inputs(features, indices) -> dict:
    return {"features": features[indices].float()}


def batch_stream(batches, make_inputs, num_workers: int, pin_memory: bool):
    """make_inputs(indices) for each batch, in order; padded in `num_workers` processes if > 0."""
    if num_workers <= 0:
        return (make_inputs(b) for b in batches)
    from torch.utils.data import DataLoader
    # batch_size=None: each item is already a batch of indices, and make_inputs pads it
    return iter(DataLoader(batches, batch_size=None, collate_fn=make_inputs, num_workers=num_workers,
                           pin_memory=pin_memory))
