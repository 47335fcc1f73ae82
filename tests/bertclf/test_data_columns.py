"""Columns named by the user or found by the header; headerless layouts told apart; every row checked."""
import pytest

from bertclf.data.columns import ColumnNames
from bertclf.data.examples import read_examples
from bertclf.data.splits import load_splits
from bertclf.errors import UserError

THREE = ["pos", "neg", "neutral"]


def write(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unknown_header_is_an_error_listing_it_and_the_options(tmp_path):
    path = write(tmp_path, "comment,target\n" + "".join(f"review {i} here,{THREE[i % 3]}\n" for i in range(12)))
    with pytest.raises(UserError) as e:
        read_examples(path)
    message = str(e.value)
    assert "['comment', 'target']" in message and "--text_column NAME and --label_column NAME" in message


def test_named_columns_are_read(tmp_path):
    path = write(tmp_path, "comment,target\n" + "".join(f"review {i} here,{THREE[i % 3]}\n" for i in range(12)))
    ex = read_examples(path, asked=ColumnNames(text="comment", label="target"))
    assert ex.texts[0] == "review 0 here" and sorted(set(ex.labels)) == sorted(THREE) and len(ex) == 12


def test_kaggle_layout_needs_only_the_label_column(tmp_path):
    path = write(tmp_path, "id,keyword,location,text,target\n1,,,quake here,1\n2,,,sunny day,0\n")
    with pytest.raises(UserError, match=r"names no label column .*pass --label_column NAME"):
        read_examples(path)
    ex = read_examples(path, asked=ColumnNames(label="target"))
    assert ex.texts == ["quake here", "sunny day"] and ex.labels == [1, 0]


def test_a_named_column_missing_from_the_header_is_named(tmp_path):
    path = write(tmp_path, "text,label\na,0\nb,1\n")
    with pytest.raises(UserError, match=r"--label_column target: no such column in the header \['text', 'label'\]"):
        read_examples(path, asked=ColumnNames(label="target"))


def test_headerless_label_first_all_quoted_yelp_layout(tmp_path):
    path = write(tmp_path, "".join(f'"{1 + i % 2}","review {i}, long enough to be a text"\n' for i in range(10)))
    ex = read_examples(path)
    assert ex.labels == [1, 2] * 5 and ex.texts[0] == "review 0, long enough to be a text"


def test_headerless_text_first(tmp_path):
    path = write(tmp_path, "".join(f"review {i} here,{i % 2}\n" for i in range(6)))
    ex = read_examples(path)
    assert ex.labels == [0, 1] * 3 and ex.texts[1] == "review 1 here"


def test_headerless_without_a_label_like_column_is_refused(tmp_path):
    path = write(tmp_path, "".join(f"review {i},other text {i}\n" for i in range(6)))
    with pytest.raises(UserError, match="neither of the 2 columns looks like a label"):
        read_examples(path)


@pytest.mark.parametrize("header, first, second", [("sentence1,sentence2", "s1", "s2"),
                                                   ("question,sentence", "q", "s"),
                                                   ("premise,hypothesis", "p", "h")])
def test_pair_headers_are_found(tmp_path, header, first, second):
    path = write(tmp_path, f"{header},label\n{first},{second},entailment\n{first}2,{second}2,neutral\n")
    ex = read_examples(path)
    assert ex.texts == [first, f"{first}2"] and ex.pairs == [second, f"{second}2"]
    assert ex.labels == ["entailment", "neutral"]


@pytest.mark.parametrize("content, message", [
    ("text,label\nfine,1\nthe plot was thin, not great,0\n", r"row 3 has 3 fields, the first row has 2"),  # a comma
    ("label,text\n1,short\nthis is a whole review that landed in the label column,x\n",
     r"row 3: the label .* is a text, not a label"),
    ("text,label\na,1\nb\n", "row 3 has no label"),
], ids=["unquoted comma in a text", "a text in the label column", "a missing label"])
def test_a_bad_row_is_an_error_naming_the_row(tmp_path, content, message):
    with pytest.raises(UserError, match=message):
        read_examples(write(tmp_path, content))


def test_a_repeated_header_row_is_skipped_with_a_note(tmp_path):
    path = write(tmp_path, "text,label\na,1\nb,0\ntext,label\nc,1\n")
    ex = read_examples(path)
    assert ex.texts == ["a", "b", "c"] and "skipped 1 row(s) repeating the header (row 4)" in ex.notes[0]


def test_a_label_column_with_a_value_per_row_is_refused(tmp_path):
    path = write(tmp_path, "text,label\n" + "".join(f"t{i},l{i}\n" for i in range(25)))
    with pytest.raises(UserError, match="different value in every one of its 25 rows"):
        read_examples(path)


def test_a_class_too_small_to_hold_out_stays_in_train_with_a_warning(tmp_path):
    rows = [f"text {i},{'positive' if i % 2 else 'negative'}\n" for i in range(60)] + ["only one,neutral\n"]
    path = write(tmp_path, "text,label\n" + "".join(rows))
    splits = load_splits(path, None, valid_fraction=0.1, seed=0)
    neutral = splits.label_names.index("neutral")
    assert neutral in splits.train_labels and neutral not in splits.valid_labels
    assert any("label 'neutral' has only 1 example(s): all kept in train" in n for n in splits.notes)


def test_a_valid_label_unknown_to_train_is_named_as_written(tmp_path):
    train = write(tmp_path, "text,label\na,pos\nb,neg\n", "train.csv")
    valid = write(tmp_path, "text,label\nc,neutral\n", "valid.csv")
    with pytest.raises(UserError, match=r"label 'neutral' \(example 1\) is not among the training labels \['neg', 'pos'\]"):
        load_splits(train, valid, valid_fraction=0.1, seed=0)
