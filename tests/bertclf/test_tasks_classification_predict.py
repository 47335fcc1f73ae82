"""Texts to predict from --text and --input: a table needs the model's text column(s) only, whichever
label column the model was trained on, in every table format and for every task's saved columns."""
import json
from types import SimpleNamespace

import pandas as pd
import pytest

from bertclf.errors import UserError
from bertclf.tasks.classification.predict import texts_to_predict

TEXTS = ["the parcel never came", "charged twice this month", "the app crashes on start"]
PAIRS = ["where is it", "refund please", "update fails"]


def write_table(path, frame: pd.DataFrame):
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in frame.to_dict("records")), encoding="utf-8")
    else:
        frame.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",", index=False)
    return path


# the saved columns (metadata "columns") of a model trained with its own label column(s), per task
MODELS = {
    "classification": {"columns": {"text": "message", "pair": None, "label": "team"}},
    "multilabel, label_sep": {"columns": {"text": "message", "pair": None, "label": "teams"}},
    "multilabel, label_columns": {"columns": {"text": "message", "pair": None, "label": None,
                                              "labels": ["billing", "shipping"]}},
    "regression": {"columns": {"text": "message", "pair": None, "label": "urgency"}},
    "sentence pairs": {"columns": {"text": "question", "pair": "answer", "label": "match"}, "pairs": True},
}


def args_for(path, **given):
    return SimpleNamespace(text=given.get("text"), text_pair=given.get("text_pair"), input=str(path))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
@pytest.mark.parametrize("task", list(MODELS))
def test_an_input_table_without_the_models_label_column_is_read(tmp_path, task, suffix):
    meta = MODELS[task]
    columns = meta["columns"]
    frame = pd.DataFrame({columns["text"]: TEXTS, **({columns["pair"]: PAIRS} if columns["pair"] else {})})
    path = write_table(tmp_path / f"new{suffix}", frame)
    texts, pairs = texts_to_predict(args_for(path), meta)
    assert texts == TEXTS and pairs == (PAIRS if columns["pair"] else None)


def test_an_input_table_without_the_models_text_column_is_still_refused(tmp_path):
    path = write_table(tmp_path / "new.csv", pd.DataFrame({"label": ["billing"], "body": TEXTS[:1]}))
    with pytest.raises(UserError, match=r"--input .*new\.csv: --text_column message: no such column in the header "
                                        r"\['label', 'body'\]"):
        texts_to_predict(args_for(path), MODELS["classification"])


def test_a_headerless_one_column_input_is_read_for_a_model_with_its_own_label_column(tmp_path):
    path = tmp_path / "new.csv"
    lines = TEXTS + PAIRS
    path.write_text("".join(f'"{t}"\n' for t in lines), encoding="utf-8")
    texts, _ = texts_to_predict(args_for(path), {"columns": {"text": None, "pair": None, "label": "team"}})
    assert texts == lines
