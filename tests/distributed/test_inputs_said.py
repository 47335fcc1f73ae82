"""The console's lines of a search's data preparation (distributed/inputs_said.py): each said once."""
from types import SimpleNamespace

from bert_hpo_distributed.inputs_said import data_lines, notes_of, say_new


def group(model: str, length: int, description: str):
    return (SimpleNamespace(bert_name=model, max_length=length), SimpleNamespace(description=description), set())


def test_each_line_is_said_once_and_a_preparations_data_line_is_kept_for_data_lines():
    said, lines = [], []
    say_new(["note: a", "note: b"], said, lines.append)
    say_new(["note: b", "note: c"], said, lines.append)
    assert lines == ["note: a", "note: b", "note: c"]
    inputs = SimpleNamespace(description="9 train")
    assert notes_of(["note: a", "data: 9 train"], inputs) == ["note: a"]


def test_one_data_line_per_model_from_its_longest_max_length():
    same = [group("m", 64, "9 train; mean length 20 tokens"), group("m", 128, "9 train; mean length 20 tokens")]
    assert data_lines(same) == ["data: 9 train; mean length 20 tokens"]
    lengths = [group("m", 64, "mean length 60"), group("m", 256, "mean length 190"), group("m", 128, "mean length 110"),
               group("m", 256, "mean length 190")]
    assert data_lines(lengths) == ["data: mean length 190 (at max_length 256; also searched: 64, 128)"]
    models = [group("a", 64, "mean length 50"), group("b", 64, "mean length 40"), group("b", 32, "mean length 30")]
    assert data_lines(models) == ["data: mean length 50 (a's tokens)",
                                  "data: mean length 40 (b's tokens; at max_length 64; also searched: 32)"]
