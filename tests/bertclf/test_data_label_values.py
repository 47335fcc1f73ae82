"""A label reads as written whichever reader it came through: only an empty cell is missing, a plain
number is one number in every format, any other value is its text (outer whitespace aside)."""
import csv
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet  # noqa: F401  (pa.parquet)
import pytest

from bertclf.data.examples import read_examples
from bertclf.data.label_values import label_order, label_text, label_value
from bertclf.data.splits import load_splits
from bertclf.errors import UserError

# words pandas reads as missing by default, codes, separators, quotes, markup, format characters, emoji
AWKWARD = ["NONE", "NA", "null", "nan", "N/A", "None", "FAVOR", "007", "1e3", "+1", "0x1F", "-0.50", "1.0", "a|b",
           "x, y", 'say "hi"', "it's", "<b>bold</b>", "**md** _x_", "[link](u)", "&amp;", "%s %d %%", "{0} {name}",
           "$x_{1}$", "back\\slash", "😀 emoji", "  padded  ", "L" * 50, "line\nbreak"]
# a delimited file read literally (TSV, as NSMC needs) cannot hold a line break inside a value
LITERAL = [a for a in AWKWARD if "\n" not in a]


def rows_of(labels):
    return pd.DataFrame({"text": [f"text number {i}" for i in range(2 * len(labels))], "label": labels * 2})


def saved_dataset(folder, frame):
    """A folder as `datasets`' save_to_disk writes it (string labels: no ClassLabel)."""
    folder.mkdir()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pa.OSFile(str(folder / "data.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data.arrow"}]}))
    return folder


WRITERS = {
    "csv": lambda f, p: f.to_csv(p, index=False),
    "csv.gz": lambda f, p: f.to_csv(p, index=False),
    "tsv": lambda f, p: f.to_csv(p, sep="\t", index=False, quoting=csv.QUOTE_NONE, escapechar=None),
    "jsonl": lambda f, p: f.to_json(p, orient="records", lines=True, force_ascii=False),
    "jsonl.gz": lambda f, p: f.to_json(p, orient="records", lines=True),
    "parquet": lambda f, p: f.to_parquet(p),
    "arrow folder": lambda f, p: saved_dataset(p, f),
}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_awkward_labels_read_back_as_written_in_every_format(tmp_path, kind):
    labels = LITERAL if kind == "tsv" else AWKWARD
    path = tmp_path / ("data" if kind == "arrow folder" else f"data.{kind}")
    WRITERS[kind](rows_of(labels), path)
    ex = read_examples(path)
    want = [label.strip() for label in labels] * 2
    want = [-0.5 if w == "-0.50" else 1 if w == "1.0" else w for w in want]  # plain numbers: numbers
    assert ex.labels == want
    assert set(map(label_text, ex.labels)) >= {"NONE", "NA", "null", "nan", "N/A", "007", "1e3", "+1", "-0.5", "1"}


@pytest.mark.parametrize("cell, label", [
    ("NONE", "NONE"), ("nan", "nan"), ("null", "null"), ("N/A", "N/A"), (" positive ", "positive"),
    ("007", "007"), ("1e3", "1e3"), ("+1", "+1"), ("1.", "1."), (".5", ".5"), ("0x1F", "0x1F"),
    ("1", 1), ("1.0", 1), ("1.00", 1), ("-2", -2), ("2.50", 2.5), ("0", 0), (1, 1), (1.0, 1), (np.int64(3), 3),
    (np.float32(0.1), 0.1), (True, "True"), ("", None), ("   ", None), (None, None), (float("nan"), None),
    ("12345678901234567890", 12345678901234567890), ("12345678901234567891", 12345678901234567891),
    ("12345678901234567891.0", 12345678901234567891),
])
def test_label_value(cell, label):
    got = label_value(cell)
    assert got == label and type(got) is type(label)


def test_one_number_is_one_label_across_formats_and_files(tmp_path):
    """1.0 in a CSV, 1 in Parquet and 1.0 in JSON Lines: the label 1 everywhere, train and valid alike."""
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"t{i},{['1.0', '2', '0.5'][i % 3]}\n"
                                                                 for i in range(12)))
    pd.DataFrame({"text": ["a", "b", "c"], "label": [1, 2, 1]}).to_parquet(tmp_path / "valid.parquet")
    pd.DataFrame({"text": ["a", "b", "c"], "label": [1.0, 0.5, 2.0]}).to_json(tmp_path / "v.jsonl", orient="records",
                                                                                lines=True)
    splits = load_splits(tmp_path / "train.csv", tmp_path / "valid.parquet", valid_fraction=0.1, seed=0)
    assert splits.label_names == [0.5, 1, 2] and splits.valid_labels == [1, 2, 1]
    assert [label_text(n) for n in splits.label_names] == ["0.5", "1", "2"]
    from_json = load_splits(tmp_path / "train.csv", tmp_path / "v.jsonl", valid_fraction=0.1, seed=0)
    assert from_json.valid_labels == [1, 0, 2]


def test_numbers_and_texts_in_one_column_order_numbers_first():
    assert label_order(["b", 10, "A", 2, 2.5, "007"]) == [2, 2.5, 10, "007", "A", "b"]


def test_only_an_empty_cell_is_a_missing_label(tmp_path):
    path = tmp_path / "stance.csv"
    path.write_text("text,label\nwe must,FAVOR\nnever,AGAINST\nthe weather,NONE\nno view,\n")
    with pytest.raises(UserError, match=r"row 5 has no label"):
        read_examples(path)
    path.write_text("text,label\nwe must,FAVOR\nnever,AGAINST\nthe weather,NONE\n")
    assert read_examples(path).labels == ["FAVOR", "AGAINST", "NONE"]


def test_a_float32_column_reads_as_its_decimals(tmp_path):
    table = pa.table({"text": ["a", "b", "c", "d"], "label": pa.array([0.1, 0.2, 0.1, 0.2], pa.float32())})
    pa.parquet.write_table(table, tmp_path / "f.parquet")
    assert read_examples(tmp_path / "f.parquet").labels == [0.1, 0.2, 0.1, 0.2]
