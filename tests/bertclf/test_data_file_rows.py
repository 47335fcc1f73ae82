"""The streamed reading of tokenize_on: workers (file_rows): a first pass that keeps no texts decides the same
splits, a second pass streams exactly their texts, and a bad row is the same error as when read whole."""
import pytest

from bertclf.data import readers
from bertclf.data.file_rows import scan_examples, stream_texts
from bertclf.data.splits import load_splits
from bertclf.errors import UserError
from tests.helpers import sentiment_rows, write_csv


def streamed(part, size):
    """(texts, pairs or None) of one FileRows, streamed `size` at a time."""
    texts, pairs, sizes = [], [], []
    for split, chunk, chunk_pairs in stream_texts({"only": part}, size):
        assert split == "only" and (chunk_pairs is None) != part.paired
        texts += chunk
        pairs += chunk_pairs or []
        sizes.append(len(chunk))
    assert all(n == size for n in sizes[:-1]) and 0 < sizes[-1] <= size
    return texts, pairs if part.paired else None


@pytest.fixture
def files(tmp_path, monkeypatch):
    """train (with a row repeating the header and blank texts) and valid, single texts and pairs, read 13
    rows at a time so that reader chunks, stream chunks and splits all cross."""
    monkeypatch.setattr(readers, "CHUNK_ROWS", 13)
    rows = [list(r) for r in sentiment_rows(150, seed=1)]
    rows[20][0] = rows[77][0] = "  "
    rows.insert(40, ["text", "label"])
    pairs = [[f"about film {i}", *r] for i, r in enumerate(rows)]
    pairs[40] = ["sentence1", "sentence2", "label"]
    return {"single": (write_csv(tmp_path / "train.csv", rows, ["text", "label"]),
                       write_csv(tmp_path / "valid.csv", sentiment_rows(30, seed=2), ["text", "label"])),
            "pairs": (write_csv(tmp_path / "ptrain.csv", pairs, ["sentence1", "sentence2", "label"]),
                      write_csv(tmp_path / "pvalid.csv", [(f"on {t}", t, y) for t, y in sentiment_rows(30, seed=2)],
                                ["sentence1", "sentence2", "label"]))}


@pytest.mark.parametrize("kind", ["single", "pairs"])
@pytest.mark.parametrize("how", [dict(valid_fraction=0.2), dict(valid_fraction=0.2, max_train_samples=50,
                                                                max_valid_samples=9),
                                 dict(valid_fraction=0.0), dict(valid=True, valid_fraction=0.1, max_train_samples=40)])
def test_streamed_splits_are_the_read_splits(files, kind, how):
    how = dict(how)
    train, valid = files[kind]
    valid = valid if how.pop("valid", False) else None
    read = load_splits(train, valid, seed=5, **how)
    rows = load_splits(train, valid, seed=5, streamed=True, **how)
    assert (rows.label_names, rows.train_labels, rows.valid_labels) == (read.label_names, read.train_labels,
                                                                       read.valid_labels)
    assert (rows.valid_source, rows.notes) == (read.valid_source, read.notes) and "skipped 1 row" in read.notes[0]
    for part, whole in ((rows.train, read.train), (rows.valid, read.valid)):
        assert len(part) == len(whole) and part.empty_texts == whole.empty_texts
        assert part.column_names == whole.column_names and part.paired == whole.paired == (kind == "pairs")
        if len(whole):
            assert streamed(part, 7) == (whole.texts, whole.pairs)
    if "max_train_samples" not in how:  # both blank texts kept, wherever the split put them
        assert rows.train.empty_texts + rows.valid.empty_texts == 2


def test_one_pass_serves_train_and_its_held_out_rows_in_order(files):
    rows = load_splits(files["single"][0], None, valid_fraction=0.3, seed=1, streamed=True)
    read = load_splits(files["single"][0], None, valid_fraction=0.3, seed=1)
    got = {"train": [], "valid": []}
    for split, texts, _ in stream_texts({"train": rows.train, "valid": rows.valid}, 10):
        got[split] += texts
    assert got == {"train": read.train.texts, "valid": read.valid.texts}


BAD = {
    "a row with more fields than the header": "text,label\nfine film,1\nthe plot was thin, not great,0\nbad,0\n",
    "a text in the label column": "text,label\nfine film,1\nbad film,a long text that landed in the label column\n",
    "a row without a label": "text,label\nfine film,1\nbad film,\n",
    "one label only": "text,label\nfine film,1\nbad film,1\n",
    "a header that names no column": "comment,target\nfine film,1\nbad film,0\n",
}


@pytest.mark.parametrize("fault", sorted(BAD))
def test_a_bad_row_is_the_same_error_when_streamed(tmp_path, fault):
    path = tmp_path / "train.csv"
    path.write_text(BAD[fault], encoding="utf-8")
    with pytest.raises(UserError) as whole:
        load_splits(path, None, valid_fraction=0.1, seed=0)
    with pytest.raises(UserError) as scanned:
        load_splits(path, None, valid_fraction=0.1, seed=0, streamed=True)
    assert str(scanned.value) == str(whole.value) and str(whole.value).startswith(f"--train_path {path}")


def test_a_valid_label_not_in_train_is_named_as_written_when_streamed(files, tmp_path):
    valid = write_csv(tmp_path / "v.csv", [("so so", "mixed")], ["text", "label"])
    with pytest.raises(UserError, match=r"--valid_path .*: label 'mixed' \(example 1\) is not among the training "
                                        r"labels \['neg', 'pos'\]"):
        load_splits(files["single"][0], valid, valid_fraction=0.1, seed=0, streamed=True)
    assert scan_examples(valid, "valid_path").labels == ["mixed"]


def test_a_file_changed_between_the_passes_is_an_error(tmp_path):
    path = write_csv(tmp_path / "train.csv", sentiment_rows(40, seed=1), ["text", "label"])
    rows = load_splits(path, None, valid_fraction=0.0, seed=0, streamed=True)
    write_csv(path, sentiment_rows(30, seed=1), ["text", "label"])
    with pytest.raises(UserError, match=r"changed while being read: 30 examples now, 40 in the first pass"):
        list(stream_texts({"train": rows.train}, 8))
