"""Every accepted format is read through pandas / pyarrow, with what the old reader did well kept."""
import gzip
import json

import pandas as pd
import pyarrow as pa
import pytest

from bertclf.data.examples import read_examples
from bertclf.errors import UserError
from tests.helpers import save_to_disk, sentiment_rows, write_csv

ROWS = [("a fine film", "positive"), ("a dull film", "negative"), ("more of the same", "negative")]


def frame():
    return pd.DataFrame({"text": [t for t, _ in ROWS], "label": [lab for _, lab in ROWS]})


@pytest.mark.parametrize("name", ["d.csv", "d.csv.gz", "d.tsv", "d.tsv.gz", "d.jsonl", "d.jsonl.gz", "d.json",
                                  "d.parquet"])
def test_each_format_reads_the_same_examples(tmp_path, name):
    path = tmp_path / name
    if ".csv" in name or ".tsv" in name:
        frame().to_csv(path, sep="\t" if ".tsv" in name else ",", index=False)
    elif "json" in name:
        frame().to_json(path, orient="records", lines=True)
    else:
        frame().to_parquet(path)
    ex = read_examples(path)
    assert list(zip(ex.texts, ex.labels)) == ROWS


def saved_dataset(folder, texts, labels, names):
    """A folder as `datasets`' save_to_disk writes it, its label column a ClassLabel of `names`."""
    table = pa.table({"text": texts, "label": pa.array(labels, pa.int64())})
    return save_to_disk(folder, table, {"text": {"dtype": "string", "_type": "Value"},
                                        "label": {"names": names, "_type": "ClassLabel"}})


def test_a_save_to_disk_folder_reads_with_its_class_names(tmp_path):
    folder = saved_dataset(tmp_path / "train", ["good", "bad", "fine"], [1, 0, 1], ["neg", "pos"])
    ex = read_examples(folder)
    assert ex.texts == ["good", "bad", "fine"] and ex.labels == ["pos", "neg", "pos"]


def test_a_dataset_dict_folder_asks_for_one_split(tmp_path):
    (tmp_path / "dd").mkdir()
    (tmp_path / "dd" / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    with pytest.raises(UserError, match="DatasetDict folder with the splits train, test; pass one of them"):
        read_examples(tmp_path / "dd")


def test_aclimdb_folder_labels_read_negative_and_positive(tmp_path):
    for sub, text in (("pos", "great"), ("neg", "awful")):
        (tmp_path / "train" / sub).mkdir(parents=True)
        (tmp_path / "train" / sub / "0_9.txt").write_text(text)
    ex = read_examples(tmp_path / "train")
    assert sorted(zip(ex.labels, ex.texts)) == [("negative", "awful"), ("positive", "great")]


def test_bom_crlf_and_quoted_newlines(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b'\xef\xbb\xbftext,label\r\n"two\r\nlines",0\r\nplain,1\r\n')
    ex = read_examples(path)
    assert ex.texts == ["two\r\nlines", "plain"] and ex.labels == [0, 1]


@pytest.mark.parametrize("name, content, message", [
    ("d.xlsx", b"x", r"unknown file type '\.xlsx'; expected CSV"),
    ("d.csv", b"", "the file is empty"),
    ("d.csv", b"text,label\n", "no rows after the header"),
    ("d.csv", "text,label\nd\xe9j\xe0,1\n".encode("latin-1"), "not UTF-8 text"),
    ("d.jsonl", b'{"text": "a", "label": 0}\n{"text": oops}\n', "line 2 is not valid JSON"),
    ("d.jsonl", b'{"text": "a", "label": 0}\n[1, 2]\n', "line 2 is not a JSON object"),
    ("d.csv.gz", b"not gzip at all", "cannot read"),
    ("d.parquet.gz", b"x", "Parquet file compresses inside itself"),
])
def test_unreadable_files_are_one_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as e:
        read_examples(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_the_shipped_imdb_slices_read_negative_and_positive():
    from bertclf.smoke import SLICE_DIR
    for name in ("imdb_train.csv.gz", "imdb_test.csv.gz"):
        assert sorted(set(read_examples(SLICE_DIR / name).labels)) == ["negative", "positive"]


def test_headerless_csv_gzip_and_string_labels(tmp_path):
    rows = sentiment_rows(10)
    path = tmp_path / "train.csv.gz"
    path.write_bytes(gzip.compress("\n".join(f'"{t}",{y}' for t, y in rows).encode()))
    ex = read_examples(path)
    assert len(ex) == 10 and ex.texts[0] == rows[0][0] and set(ex.labels) == {"neg", "pos"}


def test_header_csv_with_int_labels_and_extra_columns(tmp_path):
    path = write_csv(tmp_path / "t.csv", [(1, "a b", 0), (2, "c d", 1)], header=["id", "text", "label"])
    ex = read_examples(path)
    assert ex.texts == ["a b", "c d"] and ex.labels == [0, 1]


@pytest.mark.parametrize("rows, texts, labels, empty", [
    # a quote opened in one row and closed in the next swallows nothing
    ('1\t"open quote\t1\n2\tclose" here\t0\n', ['"open quote', 'close" here'], [1, 0], 0),
    ('1\t"좋아요"" 최고\t1\n2\t\t0\n3\t별로 "재미없음\t0\n', ['"좋아요"" 최고', "", '별로 "재미없음'], [1, 0, 0], 1),
], ids=["across-rows", "doubled-and-empty"])
def test_nsmc_tsv_bare_quotes_are_literal(tmp_path, rows, texts, labels, empty):
    path = tmp_path / "ratings.txt"
    path.write_text("id\tdocument\tlabel\n" + rows, encoding="utf-8")
    ex = read_examples(path)
    assert ex.texts == texts and ex.labels == labels and ex.empty_texts == empty


def test_aclimdb_folder_layout(tmp_path):
    for label in ("pos", "neg"):
        (tmp_path / "train" / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "train" / label / f"{i}_7.txt").write_text(f"{label} review {i}<br />")
    ex = read_examples(tmp_path / "train")
    assert len(ex) == 6 and ex.labels.count("positive") == 3
