"""`tokenize_on: workers`: the texts are tokenised by Ray tasks on the cluster's nodes, not in the driver,
and the driver never holds all of them.

Before Ray starts the driver scans the files (every row checked, the label order and the held-out split
decided: file_rows.scan_examples) and keeps only labels and row indices. Once Ray is up it reads the
texts a second time, CHUNK at a time (file_rows.stream_texts), and hands each chunk to a task that runs
bertclf's own `encode` wherever the cluster has a free CPU; at most IN_FLIGHT_PER_CPU chunks per cluster
CPU are submitted and not yet tokenised, so the driver's memory is a few chunks, whatever the file's size.
The chunks travel as task arguments (Ray's object store for those over 100 KB): only the driver needs to
see the files. Each block of token ids stays in the object store of the node that made it; the driver
holds only their object refs, and a trial joins the blocks of its splits when it starts (`gathered`).

Plain Ray tasks, not Ray Data (ray.data.read_csv / read_json / read_parquet + map_batches): Ray Data
reads with its own pyarrow readers, which know neither this project's formats (NSMC's bare quotes, the
aclImdb layout, a save_to_disk folder) nor its checks (a header told from data by its values, every row's
field count and label, errors naming the option, file, row and labels as written), and it needs Ray
running, while every fault must be found before Ray starts; its reading tasks would also need the files
at the same path on every node. The blocks are ordered chunks of one tokenizer's output and a trial
takes whole splits, so its streaming executor would add a dependency and a start-up, nothing a trial uses.
"""
import functools
import os
from dataclasses import dataclass, replace
from typing import List, Optional

import ray

from bertclf.data.file_rows import stream_texts
from bertclf.models.encoders import load_tokenizer
from bertclf.errors import UserError
from bertclf.inputs import TokensKey
from bertclf.tokenization import CHUNK, encode, join

IN_FLIGHT_PER_CPU = 2  # chunks submitted and not yet tokenised, per CPU of the cluster: every CPU busy, one waiting


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
    tokens = encode(tokenizer, texts, key.max_length, key.truncation, pairs, key.doc_stride, key.max_chunks)
    return tokens, (ray.get_runtime_context().get_node_id(), os.getpid())


def tokenise_on_workers(inputs, key: TokensKey, shared, chunk: int = CHUNK,
                        in_flight: Optional[int] = None) -> List["ray.ObjectRef"]:
    """Replace each split's FileRows in `inputs` by TokenBlocks made by Ray tasks, one per `chunk` texts
    streamed from the files, at most `in_flight` of them (default: IN_FLIGHT_PER_CPU per CPU of the
    cluster) submitted and unfinished at once. Returns a ref per task to the (node id, pid) that ran it.
    A failed task is a UserError (wait_for_workers) as soon as it is seen."""
    if in_flight is None:
        in_flight = IN_FLIGHT_PER_CPU * max(1, int(ray.cluster_resources().get("CPU", 1)))
    blocks = {split: [] for split in inputs.tokens}
    places, running = [], []
    for split, texts, pairs in stream_texts(inputs.tokens, chunk):
        if len(running) >= in_flight:  # back-pressure: the driver reads on only as tasks finish
            done, running = ray.wait(running, num_returns=len(running) - in_flight + 1)
            wait_for_workers(done)
        block, place = _tokenise_block.remote(texts, pairs, key, shared)
        blocks[split].append(block)
        places.append(place)
        running.append(place)
    inputs.tokens = {split: TokenBlocks(blocks[split], len(rows)) for split, rows in inputs.tokens.items()}
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
