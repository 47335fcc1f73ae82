"""`tokenize_on: workers`: the texts are tokenised by Ray tasks on the cluster's nodes, not in the driver.

The driver still reads the files (every row checked, the label order and the held-out split decided, all
before Ray starts, as with `tokenize_on: driver`), but it never tokenises: once Ray is up it hands the
texts, CHUNK at a time, to tasks that run bertclf's own `encode` wherever the cluster has a free CPU.
Each block of token ids stays in the object store of the node that made it; the driver holds only their
object refs, and a trial joins the blocks of its splits when it starts (`gathered`). Plain Ray tasks,
not Ray Data: the blocks are already ordered chunks of one tokenizer's output and nothing is streamed
into a trainer batch by batch, so Ray Data's executor would only add a dependency and its start-up.
"""
import functools
import os
from dataclasses import dataclass, replace
from typing import List, Optional

import ray

from bertclf.data.examples import Examples
from bertclf.encoders import load_tokenizer
from bertclf.errors import UserError
from bertclf.inputs import TokensKey
from bertclf.tokenization import CHUNK, encode, join


@dataclass
class Texts:
    """A split's texts (and second texts of pairs), read by the driver and not tokenised yet."""
    texts: List[str]
    pairs: Optional[List[str]]

    def __len__(self) -> int:
        return len(self.texts)


def texts_of(examples: Examples) -> Texts:
    """What prepare_inputs(tokenize=texts_of) keeps of a split, for the workers to tokenise."""
    return Texts(examples.texts, examples.pairs)


@dataclass
class TokenBlocks:
    """A split's token ids as blocks in the object store: refs to TokenIds of up to CHUNK texts each, in order."""
    blocks: List["ray.ObjectRef"]
    count: int  # texts in all

    def __len__(self) -> int:
        return self.count


@functools.lru_cache(maxsize=4)
def _tokenizer(source: str):
    return load_tokenizer(source)


# SPREAD: the blocks, and the CPU time of tokenising them, go to every node rather than fill one first
@ray.remote(num_cpus=1, num_returns=2, scheduling_strategy="SPREAD")
def _tokenise_block(texts, pairs, key: TokensKey, shared):
    """(token ids of one chunk, (node id, pid) that made them)."""
    tokenizer = _tokenizer(shared.model_path(key.bert_name) or key.bert_name)
    tokens = encode(tokenizer, texts, key.max_length, key.truncation, pairs)
    return tokens, (ray.get_runtime_context().get_node_id(), os.getpid())


def tokenise_on_workers(inputs, key: TokensKey, shared, chunk: int = CHUNK) -> List["ray.ObjectRef"]:
    """Replace each split's Texts in `inputs` by TokenBlocks made by Ray tasks (one per `chunk` texts), and
    drop the driver's texts. Returns a ref per task to the (node id, pid) that ran it."""
    places = []
    for split, texts in inputs.tokens.items():
        blocks = []
        for begin in range(0, len(texts), chunk):
            pairs = texts.pairs[begin:begin + chunk] if texts.pairs is not None else None
            block, place = _tokenise_block.remote(texts.texts[begin:begin + chunk], pairs, key, shared)
            blocks.append(block)
            places.append(place)
        inputs.tokens[split] = TokenBlocks(blocks, len(texts))
    return places


def wait_for_workers(places: List["ray.ObjectRef"]) -> List[tuple]:
    """The (node id, pid) of every tokenising task, once all have finished (their token ids stay where they
    were made). A task's failure is a UserError with its first line."""
    try:
        return ray.get(places)
    except ray.exceptions.RayTaskError as e:
        raise UserError(f"tokenize_on workers: a tokenising task failed: {str(e.cause).splitlines()[0]}") from None


def gathered(inputs):
    """`inputs` with every split's TokenBlocks joined into TokenIds (in a trial, or the boost task); inputs
    tokenised in the driver are returned as they are."""
    tokens = getattr(inputs, "tokens", {})  # QA inputs hold windows, never blocks (workers: classification only)
    if not any(isinstance(t, TokenBlocks) for t in tokens.values()):
        return inputs
    return replace(inputs, tokens={split: join(ray.get(t.blocks)) if isinstance(t, TokenBlocks) else t
                                   for split, t in inputs.tokens.items()})
