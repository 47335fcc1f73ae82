"""A label column that is no single-label classes (scores, label sets, ids) is one error naming the file
and the column, and the option that reads it (label sets: --task multilabel), before any training; labels
as written (one '|' among them) still read."""
import json

import pandas as pd
import pytest

from bertclf.data.columns import ColumnNames
from bertclf.data.splits import load_splits
from bertclf.errors import UserError
from tests.helpers import write_csv

GENRES = ["Action", "Comedy", "Drama", "Horror"]


def genre_sets(n):
    return [GENRES[i % 4] + ("|" + GENRES[(i + 1) % 4] if i % 3 else "") for i in range(n)]


def split(path):
    return load_splits(path, None, valid_fraction=0, seed=0)


def test_scores_are_refused_as_a_score(tmp_path):
    rows = [(f"a sentence {i}", f"another one {i}", f"{(i * 0.217) % 5:.3f}") for i in range(60)]
    path = write_csv(tmp_path / "stsb.csv", rows, ["sentence1", "sentence2", "score"])
    with pytest.raises(UserError) as e:
        load_splits(path, None, valid_fraction=0, seed=0, columns=ColumnNames(label="score"))
    message = str(e.value)
    assert message.startswith(f"--train_path {path}: column 'score' holds ") and "distinct numbers between 0" in message
    assert "like a score" in message and "pass --task regression" in message and "bin the scores" in message


@pytest.mark.parametrize("write", ["pipe csv", "json list text", "python list text", "json list"])
def test_label_sets_are_refused(tmp_path, write):
    sets = genre_sets(60)
    texts = [f"film number {i}" for i in range(60)]
    if write == "json list":
        path = tmp_path / "g.jsonl"
        path.write_text("".join(json.dumps({"text": t, "labels": s.split("|")}) + "\n" for t, s in zip(texts, sets)))
        match = r"row 1: the label in column 'labels' is a list .*read with --task multilabel$"
    else:
        shown = {"pipe csv": lambda s: s, "json list text": lambda s: json.dumps(s.split("|")),
                 "python list text": lambda s: str(s.split("|"))}[write]
        path = write_csv(tmp_path / "g.csv", [(t, shown(s)) for t, s in zip(texts, sets)], ["text", "labels"])
        match = r"column 'labels' holds sets of labels, not one class per text: \d+ of its \d+ distinct values"
        match += (r".*read them as sets with --task multilabel --label_sep '\|' \(a search: task: multilabel\)$"
                  if write == "pipe csv" else r".*read them as sets with --task multilabel \(a search")
    with pytest.raises(UserError, match=match):
        split(path)


def test_more_integer_classes_than_rows_can_teach_are_refused(tmp_path):
    path = write_csv(tmp_path / "ids.csv", [(f"text {i}", str(1000 + i // 2 if i < 40 else i)) for i in range(80)],
                     ["text", "label"])
    with pytest.raises(UserError, match=r"column 'label' holds 60 distinct integers in 80 rows \(40 of them on one "
                                        r"row only\): more classes than a classifier can learn"):
        split(path)


@pytest.mark.parametrize("labels", [
    [str(i % 25) for i in range(100)],  # 25 classes of 4 rows: learnable
    [f"{(i % 10) / 2 + 0.5:.1f}" for i in range(40)],  # half-star ratings: 10 classes
    ["a|b", "c", "d", "e|f"] * 5,  # labels holding a '|' that share no part: labels as written
    ["NONE", "FAVOR", "AGAINST"] * 5,
])
def test_single_label_columns_pass(tmp_path, labels):
    path = tmp_path / "ok.csv"
    pd.DataFrame({"text": [f"text {i}" for i in range(len(labels))], "label": labels}).to_csv(path, index=False)
    assert len(split(path).label_names) == len(set(labels))
