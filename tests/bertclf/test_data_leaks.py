"""Valid or test texts that are also train texts are counted in one note naming their rows, whether the
texts are held (read_examples) or left in their files (the streamed scan), and however they are spaced."""
import pytest

from bertclf.data.leaks import BLANK, text_key
from bertclf.data.splits import load_splits
from bertclf.models.encoders import load_tokenizer
from bertclf.tasks.classification.inputs import prepare
from tests.helpers import sentiment_rows, write_csv


def test_a_key_ignores_spacing_but_not_words_or_the_pair():
    assert text_key("a  fine\tfilm ") == text_key("a fine film") != text_key("a fine films")
    assert text_key("a", "b") != text_key("a", "c") != text_key("a")
    assert text_key("   ") == BLANK


@pytest.mark.parametrize("streamed", [False, True])
def test_valid_texts_found_in_train_are_noted_with_their_rows(tmp_path, streamed):
    train = sentiment_rows(40, seed=1)
    valid = [("  " + train[3][0].replace(" ", "   "), train[3][1]), ("a new text", "pos"), (train[7][0], "neg"),
             ("", "pos")] + [(f"fresh text {i}", "neg") for i in range(16)]
    splits = load_splits(write_csv(tmp_path / "t.csv", train, ["text", "label"]),
                         write_csv(tmp_path / "v.csv", valid, ["text", "label"]), valid_fraction=0.1, seed=0,
                         streamed=streamed)
    leaks = [n for n in splits.notes if "also appear in train" in n]
    assert leaks == ["note: 2 of the 20 valid texts also appear in train (the same text, whitespace aside; row 2, 4): "
                     "their scores overstate how the model does on new texts"]


def test_rows_repeated_in_train_leak_into_the_held_out_split(tmp_path):
    rows = sentiment_rows(50, seed=3)
    rows += rows[:50]  # the file twice
    splits = load_splits(write_csv(tmp_path / "t.csv", rows), None, valid_fraction=0.2, seed=0)
    assert any(n.startswith("note: ") and "valid texts also appear in train" in n for n in splits.notes)
    clean = load_splits(write_csv(tmp_path / "c.csv", rows[:50]), None, valid_fraction=0.2, seed=0)
    assert not any("also appear" in n for n in clean.notes)


def test_a_search_notes_test_texts_found_in_train(toy, config_for, tmp_path):
    test = sentiment_rows(30, seed=1)[:5] + sentiment_rows(30, seed=9)
    path = write_csv(tmp_path / "test.csv", test, ["text", "label"])
    inputs = prepare(config_for(), load_tokenizer(toy["model"]), log=lambda s: None)
    notes = inputs.check_test_file(path)
    assert len(notes) == 1 and notes[0].startswith("note: 5 of the 35 test texts also appear in train")
    assert "row 2, 3, 4, 5, 6)" in notes[0]
