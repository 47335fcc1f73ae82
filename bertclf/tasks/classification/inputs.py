"""Classification's inputs: labelled texts (or text pairs) read, split and tokenised once (and, for boost, the frozen
encoder's features added); the test split tokenised as a saved model expects."""
from dataclasses import dataclass, replace
from typing import Dict, List, Optional

import numpy as np
import torch

from ...data.columns import ColumnNames
from ...data.examples import read_examples
from ...data.file_rows import scan_examples
from ...data.leaks import leak_note
from ...data.splits import CLASSES, LabelCoding, describe_test_data, load_splits, seeded_subset
from ...errors import UserError
from ...feature_cache import FrozenEncoder, frozen_features
from ...models.encoders import encoder_fingerprint
from ...models.heads import pool_windows
from ...tokenization import TokenIds, tokenize_cached
from .weights import rare_class_warning
from ...windows import DocumentWindows


@dataclass
class ClassificationInputs:
    """What a run reads, prepared once; picklable, so a search ships it to every trial."""
    label_names: List
    # split -> token ids (DocumentWindows for truncation chunks; FileRows until a search's workers tokenise: prepare)
    tokens: Dict[str, TokenIds]
    labels: Dict[str, torch.Tensor]  # split -> label ids
    pad_id: int
    description: str
    columns: dict = None  # the columns the user named ("text", "pair", "label" -> name or None), for test files
    pairs: bool = False  # the texts are sentence pairs
    dataset: Optional[str] = None  # the shipped data set the files are given as: test labels read as its names
    features: Optional[Dict[str, torch.Tensor]] = None  # boost: split -> [N, dim] fp16
    variant: Optional[tuple] = None  # boost: the (pooling, layers) of `features`
    encoder_id: Optional[str] = None  # boost: the fingerprint of the encoder weights that computed them
    train_keys: Optional[np.ndarray] = None  # the train texts' hashes (data.leaks), to find them in a test file
    folds: Optional[List[int]] = None  # cv_folds: each train text's fold (there is no valid split)

    @property
    def splits(self):
        return [s for s in ("train", "valid") if s in self.tokens]

    @property
    def label_coding(self) -> LabelCoding:
        """How the labels are read: one class per text."""
        return CLASSES

    def fold(self, k: int) -> "ClassificationInputs":
        """Fold k of cv_folds as a run's inputs: valid is fold k's texts, train the other folds'; boost's
        features are split with them, never computed again."""
        parts = np.asarray(self.folds)
        rows = {"train": np.flatnonzero(parts != k), "valid": np.flatnonzero(parts == k)}
        train = self.tokens["train"]
        features = self.features["train"] if self.features is not None else None
        return replace(self, tokens={s: train.subset(r) for s, r in rows.items()},
                       labels={s: self.labels["train"][torch.from_numpy(r)] for s, r in rows.items()},
                       features=None if features is None else {s: features[torch.from_numpy(r)]
                                                                for s, r in rows.items()},
                       folds=None, train_keys=None if self.train_keys is None else self.train_keys[rows["train"]])

    def check_test_file(self, path) -> List[str]:
        """A test file read as the model will read it (its columns, pairs, labels among train's): UserError if not.
        Its labels are kept, not its texts (file_rows.scan_examples). Returns the notes for the console (a
        leak: test texts that are also train texts)."""
        examples = scan_examples(path, "test data", ColumnNames.from_dict(self.columns), need_pair=self.pairs,
                                 dataset=self.dataset, label_sep=self.label_coding.label_sep)
        self.label_coding.encode(examples, self.label_names, "test data")
        leak = None if self.train_keys is None else leak_note(self.train_keys, examples.keys, examples.rows, "test")
        return [leak] if leak else []


def class_ids(ids, n_labels: int) -> torch.Tensor:
    """[N] label ids: a split's labels as the loss and the scores take them."""
    return torch.tensor(ids)


def prepare(config, tokenizer, log, streamed: bool = False) -> ClassificationInputs:
    """Read, split and tokenise (token ids made here, cached). streamed: the texts are left in their files
    and each split's FileRows stands in `tokens` (a search that tokenises on its cluster's workers streams
    them there: the driver never holds them all); every row is still checked here."""
    splits = load_splits(config.train_path, config.valid_path, valid_fraction=config.valid_fraction,
                         seed=config.seed, columns=ColumnNames.of(config), max_train_samples=config.max_train_samples,
                         max_valid_samples=config.max_valid_samples, dataset=config.dataset, streamed=streamed,
                         cv_folds=config.cv_folds)
    rare = rare_class_warning(splits.train_labels, splits.label_names, config.metric)
    splits.notes += [rare] if rare else []
    return inputs_of(splits, config, tokenizer, log, f"labels {splits.label_names}", streamed)


def inputs_of(splits, config, tokenizer, log, labels_shown: str, streamed: bool = False,
              make=ClassificationInputs, label_tensor=class_ids) -> ClassificationInputs:
    """`make` (ClassificationInputs or a task's subclass of it) of read splits, tokenised unless streamed;
    labels_shown: what the description says of the labels; label_tensor(ids, n_labels): a split's encoded
    labels as a tensor."""
    for note in splits.notes:
        log(note)
    empty = splits.train.empty_texts + splits.valid.empty_texts
    if empty:
        log(f"note: {empty} example(s) have an empty text; they are kept and read as the special tokens alone")
    if splits.train.paired and config.truncation == "chunks":
        raise UserError("--truncation chunks reads single texts: the data holds text pairs; choose head, tail or "
                        "head+tail")
    parts = {"train": splits.train}
    if len(splits.valid):
        parts["valid"] = splits.valid
    tokens = {split: ex if streamed else
              tokenize_cached(tokenizer, ex.texts, config.max_length, config.truncation, config.cache_dir, ex.pairs,
                              config.doc_stride, config.max_chunks)
              for split, ex in parts.items()}
    columns = splits.train.column_names
    shown = " + ".join(columns[r] for r in ("text", "pair") if r in columns) + f" -> {columns['label']}"
    length = ("tokenised by the workers" if streamed else f"mean length {tokens['train'].lengths.float().mean():.0f} "
              f"tokens{windows_note(tokens) or cut_note(tokens['train'], config.max_length)}")
    description = (f"{len(splits.train)} train / {len(splits.valid)} valid ({splits.valid_source}); columns {shown}; "
                   f"{labels_shown}; {length}")
    n_labels = len(splits.label_names)
    return make(
        label_names=splits.label_names, tokens=tokens,
        labels={"train": label_tensor(splits.train_labels, n_labels),
                **({"valid": label_tensor(splits.valid_labels, n_labels)} if "valid" in parts else {})},
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0, description=description,
        columns=ColumnNames.of(config).to_dict(), pairs=splits.train.paired, dataset=config.dataset,
        train_keys=splits.train_keys, folds=splits.folds)


def cut_note(train, max_length: int) -> str:
    """'; 41% of train texts fill max_length 128 (longer ones are cut)': the mean length above counts
    the tokens read, so it says how many texts the window cut; '' when none fills it."""
    full = float((train.lengths >= max_length).float().mean())
    return f"; {full:.0%} of train texts fill max_length {max_length} (longer ones are cut)" if full else ""


def windows_note(tokens: dict) -> str:
    """'; 1,234 train / 130 valid windows' where the texts are cut into windows, else ''."""
    if not all(isinstance(t, DocumentWindows) for t in tokens.values()):
        return ""
    return "; " + " / ".join(f"{t.n_windows:,} {split}" for split, t in tokens.items()) + " windows"


def text_features(frozen: FrozenEncoder, tokens, pad_id: int, variants, desc: str, log=None):
    """({variant: [texts, dim] fp16}, PassDone) of `tokens`: the frozen encoder's pooled vectors (feature_cache),
    for windows (DocumentWindows) each window's, then their mean and max per text, rounded to fp16 again."""
    if not isinstance(tokens, DocumentWindows):
        return frozen_features(frozen, tokens, pad_id, variants, desc, log)
    features, done = frozen_features(frozen, tokens.windows, pad_id, variants, desc, log, unit="windows")
    return {v: pool_windows(f.float(), tokens.counts).to(torch.float16) for v, f in features.items()}, done


def with_features(inputs: ClassificationInputs, config, encoder, device, bf16: bool, variants, log, progress=None,
                  threads=None):
    """{variant: inputs with that variant's frozen features}; one encoder pass per split for all.
    progress: feature_cache.PassProgress's lines while a pass runs; threads: FrozenEncoder.threads."""
    encoder_id = encoder_fingerprint(encoder)
    encoder.to(device)
    frozen = FrozenEncoder(encoder, encoder_id, device, bf16, config.eval_batch_size, config.cache_dir, config.progress,
                           threads)
    by_split = {}
    for split in inputs.splits:
        by_split[split], done = text_features(frozen, inputs.tokens[split], inputs.pad_id, variants,
                                              f"boost: encoding {split}", progress)
        taken = f", {done.taken} of them the same token ids as an earlier pass's: taken from it" if done.taken else ""
        log(f"boost: {split} features {'computed and cached' if done.computed else 'loaded from cache'} "
            f"({len(inputs.tokens[split])} texts{taken}; {', '.join('/'.join(v) for v in variants)})")
    return {v: replace(inputs, features={split: by_split[split][v] for split in inputs.splits}, variant=v,
                       encoder_id=encoder_id) for v in variants}


def saved_columns(meta) -> ColumnNames:
    """The columns a saved model was trained on (its metadata's), to read its test and --input tables."""
    return ColumnNames.from_dict(meta.get("columns") or {})


def saved_windowing(meta) -> tuple:
    """(doc_stride, max_chunks) a saved model cuts its texts with (truncation chunks), else ()."""
    return (meta["doc_stride"], meta["max_chunks"]) if meta.get("truncation") == "chunks" else ()


def prepare_test(path, meta, tokenizer, cache_dir, max_examples=None, coding: LabelCoding = CLASSES,
                 make=ClassificationInputs, label_tensor=class_ids) -> ClassificationInputs:
    """The test split tokenised as the model was trained (a seeded subset when max_examples is set): `make`
    of it (ClassificationInputs or a task's subclass), its labels read by `coding` (splits.LabelCoding) and
    held as label_tensor makes them (as for inputs_of)."""
    examples = read_examples(path, "test data", saved_columns(meta), need_pair=meta.get("pairs", False),
                             dataset=meta.get("dataset"), classes=coding.classes, label_sep=coding.label_sep)
    there = len(examples)
    examples = examples.subset(seeded_subset(len(examples), max_examples, 0))
    names = meta["label_names"]
    tokens = tokenize_cached(tokenizer, examples.texts, meta["max_length"], meta["truncation"], cache_dir,
                             examples.pairs, *saved_windowing(meta))
    return make(label_names=names, tokens={"test": tokens},
                labels={"test": label_tensor(coding.encode(examples, names, "test data"), len(names))},
                pad_id=tokenizer.pad_token_id or 0,
                description=describe_test_data(len(examples), there, "examples", path))
