"""--task multilabel end to end with a tiny BERT: each label source reads the same sets, the held-out split
reaches every label, a run tunes and saves thresholds and picks its best check by its metric's direction,
--predict prints label sets, test scores come per label, and bad input is one error line."""
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from bertclf.config import TrainConfig
from bertclf.models.encoders import load_tokenizer
from bertclf.predict import load_model, score_model
from bertclf.predict import test_inputs as read_test  # (not collected as a test)
from bertclf.smoke import GENRES, genre_rows
from bertclf.tasks import TASKS
from bertclf.train import train
from tests.helpers import run_cli, save_to_disk, write_csv

NAMES = sorted(GENRES)


def write_sources(folder, rows) -> dict:
    """{source: (path, extra options)}: the same label sets in every shape a user brings."""
    texts, sets = [t for t, _ in rows], [g for _, g in rows]
    jsonl = folder / "films.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "genres": g}) + "\n" for t, g in rows))
    pd.DataFrame({"text": texts, "genres": sets}).to_parquet(folder / "films.parquet")
    columns = pd.DataFrame({"text": texts, **{name: [int(name in g) for g in sets] for name in NAMES}})
    columns.to_csv(folder / "columns.csv", index=False)
    table = pa.table({"text": texts, "genres": pa.array([[NAMES.index(n) for n in g] for g in sets],
                                                        pa.list_(pa.int64()))})
    save_to_disk(folder / "saved", table, {"text": {"dtype": "string", "_type": "Value"},
                                           "genres": {"_type": "Sequence",
                                                      "feature": {"names": NAMES, "_type": "ClassLabel"}}})
    return {"pipe csv": (write_csv(folder / "pipe.csv", [(t, "|".join(g)) for t, g in rows], ["text", "genres"]), {}),
            "semicolon csv": (write_csv(folder / "semi.csv", [(t, ";".join(g)) for t, g in rows],
                                        ["text", "genres"]), {"label_sep": ";"}),
            "json list text": (write_csv(folder / "jtext.csv", [(t, json.dumps(g)) for t, g in rows],
                                         ["text", "genres"]), {}),
            "jsonl list": (str(jsonl), {}), "parquet list": (str(folder / "films.parquet"), {}),
            "0/1 columns": (str(folder / "columns.csv"), {"label_columns": ",".join(NAMES), "label_column": None}),
            "datasets Sequence(ClassLabel)": (str(folder / "saved"), {})}


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    from bertclf.models.tiny_model import build_tiny_bert
    root = tmp_path_factory.mktemp("films")
    train_rows, valid_rows, test_rows = genre_rows(240, 1), genre_rows(80, 2), genre_rows(60, 3)
    return {"root": root, "rows": train_rows, "sources": write_sources(root, train_rows),
            "valid": write_csv(root / "valid.csv", [(t, "|".join(g)) for t, g in valid_rows], ["text", "genres"]),
            "test": write_csv(root / "test.csv", [(t, "|".join(g)) for t, g in test_rows], ["text", "genres"]),
            "model": build_tiny_bert(root / "tiny_bert", [t for t, _ in train_rows + valid_rows])}


def config(films, tmp_path, **overrides) -> TrainConfig:
    values = dict(task="multilabel", train_path=films["sources"]["pipe csv"][0], valid_path=films["valid"],
                  label_column="genres", bert_name=films["model"], max_length=24, batch_size=16, n_epochs=1,
                  lr=1e-2, lr_main=1e-3, dropout_p=0.0, save_path=str(tmp_path / "runs"), run_name="run",
                  cache_dir=str(tmp_path / "cache"), progress=False, precision="fp32")
    values.update(overrides)
    return TrainConfig(**values)


def indicator_rows(sets) -> np.ndarray:
    return np.array([[float(name in labels) for name in NAMES] for labels in sets])


@pytest.mark.parametrize("source", ["pipe csv", "semicolon csv", "json list text", "jsonl list", "parquet list",
                                    "0/1 columns", "datasets Sequence(ClassLabel)"])
def test_each_label_source_reads_the_same_sets(films, tmp_path, source):
    path, options = films["sources"][source]
    c = config(films, tmp_path, train_path=path, valid_path=None, valid_fraction=0, **options)
    inputs = TASKS["multilabel"].prepare(c, load_tokenizer(films["model"]), lambda line: None)
    assert inputs.label_names == NAMES
    assert (inputs.labels["train"].numpy() == indicator_rows([g for _, g in films["rows"]])).all()


def test_the_held_out_split_reaches_every_label_in_proportion(films, tmp_path):
    logged = []
    inputs = TASKS["multilabel"].prepare(config(films, tmp_path, valid_path=None, valid_fraction=0.25),
                                         load_tokenizer(films["model"]), logged.append)
    train_counts, valid_counts = inputs.labels["train"].sum(0), inputs.labels["valid"].sum(0)
    assert len(inputs.labels["valid"]) == 60
    assert ((valid_counts / (train_counts + valid_counts) - 0.25).abs() < 0.03).all()
    assert "held out of train (iterative stratification, seed 42)" in inputs.description
    assert any("carry none of the labels" in line for line in logged)


def test_a_run_tunes_its_thresholds_predicts_sets_and_scores_per_label(films, tmp_path, capsys):
    code, err, _ = run_cli(capsys, "--task", "multilabel", "--train_path", films["sources"]["pipe csv"][0],
                           "--valid_path", films["valid"], "--label_column", "genres", "--bert_name", films["model"],
                           "--max_length", "24", "--n_epochs", "5", "--lr", "1e-2", "--lr_main", "5e-3", "--pooling", "mean",
                           "--metric", "valid_macro_f1", "--save_path", str(tmp_path / "runs"), "--run_name", "r",
                           "--cache_dir", str(tmp_path / "cache"), "--progress", "False", "--precision", "fp32")
    assert code == 0, err
    run = tmp_path / "runs" / "r"
    model, _, meta = load_model(run)
    assert meta["task"] == "multilabel" and meta["label_names"] == NAMES and meta["label_sep"] == "|"
    thresholds = model.head.thresholds.tolist()
    assert thresholds != [0.5] * 4 and all(0.05 <= t <= 0.95 for t in thresholds)  # tuned, and saved with the head
    history = pd.read_csv(run / "metrics.csv")
    assert set(TASKS["multilabel"].metrics) <= set(history.columns)
    assert history["valid_macro_f1"].max() > 0.9, history.to_string()  # the toy genres are learnable
    code, _, out = run_cli(capsys, "--predict", "--model", str(run), "--text", "ghost the city blood night old man film",
                           "--text", "funny the joke town fight man chase woman", "--text", "the old man of the town film story")
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and [sorted(r["labels"]) for r in rows] == [["Horror"], ["Action", "Comedy"], []]
    assert all(p >= thresholds[NAMES.index(name)] for r in rows for name, p in r["labels"].items())
    scores = score_model(run, read_test(run, films["test"], str(tmp_path / "cache")), cache_dir=str(tmp_path))
    assert scores["micro_f1"] > 0.9 and scores["examples"] == 60
    assert [r["label"] for r in scores["per_class"]] == NAMES
    assert [r["threshold"] for r in scores["per_class"]] == pytest.approx(thresholds)


def test_a_boost_run_by_a_minimised_metric_keeps_the_check_of_lowest_value(films, tmp_path):
    result = train(config(films, tmp_path, n_epochs=4, metric="valid_hamming_loss", bert_finetuning=False, boost=True,
                          pooling="mean", lr=3e-2))
    assert TASKS["multilabel"].mode("valid_hamming_loss") == "min" and TASKS["multilabel"].mode("valid_macro_f1") == "max"
    history = result["history"]
    lowest = min(m["valid_hamming_loss"] for m in history)
    assert lowest < max(m["valid_hamming_loss"] for m in history)  # the checks differ: the choice is a real one
    assert result["best"]["valid_hamming_loss"] == lowest and history[-1]["best_valid_hamming_loss"] == lowest
    model, tokenizer, meta = load_model(result["run_dir"])  # a boost head with its thresholds, loaded back
    assert meta["cached_features"] and model.head.thresholds.tolist() != [0.5] * 4


@pytest.mark.parametrize("case, content, options, expected", [
    ("unknown label column", "text,genres\na,Action\nb,Comedy\n", ["--label_column", "tags"],
     "--label_column tags: no such column in the header ['text', 'genres']"),
    ("unknown 0/1 column", "text,Action,Comedy\na,1,0\nb,0,1\n", ["--label_columns", "Action,Drama"],
     "--label_columns Drama: no such column in the header ['text', 'Action', 'Comedy']"),
    ("not 0/1", "text,Action,Comedy\na,1,0\nb,0,2\n", ["--label_columns", "Action,Comedy"],
     "row 3: column 'Comedy' holds '2', not 0 or 1 (--label_columns)"),
    ("one label", "text,genres\na,Action\nb,\n", [], "only the label 'Action' in 2 rows; multi-label needs at least two"),
    ("no label at all", "text,genres\na,\nb,\n", [], "no label at all in 2 rows"),
])
def test_bad_input_is_one_error_line(films, tmp_path, capsys, case, content, options, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, err, _ = run_cli(capsys, "--task", "multilabel", "--train_path", str(path), "--bert_name", films["model"],
                           "--valid_fraction", "0", "--save_path", str(tmp_path / "runs"), "--progress", "False",
                           *(options or ["--label_column", "genres"]))
    assert code == 2, case
    assert len(err) == 1 and err[0].startswith(f"error: --train_path {path}") and expected in err[0], err


def test_label_columns_need_the_multilabel_task(films, tmp_path, capsys):
    code, err, _ = run_cli(capsys, "--train_path", films["valid"], "--label_columns", "a,b")
    assert code == 2 and err == ["error: --label_columns a,b: several 0/1 label columns are read by --task multilabel "
                                 "alone"]


def test_a_label_set_column_read_as_classes_names_the_multilabel_task(films, tmp_path, capsys):
    path = write_csv(tmp_path / "sets.csv", [(t, "|".join(g)) for t, g in films["rows"] if g], ["text", "genres"])
    code, err, _ = run_cli(capsys, "--train_path", path, "--label_column", "genres", "--bert_name",
                           films["model"], "--save_path", str(tmp_path / "runs"))
    assert code == 2 and len(err) == 1 and "--task multilabel --label_sep '|'" in err[0], err
