"""A single run and --predict from the command line (bertclf/cli.py): options parse as users expect,
every bad input is one clear line, a run folder is never overwritten silently."""
import json

import pytest

from bertclf.config import config_from_args
from launch import build_parser, main  # the user-facing parser of one run and --predict
from tests.helpers import run_cli, sentiment_rows, write_csv

SEED_OPTIONS = ["train_path", "valid_path", "max_length", "save_path", "bert_name", "bert_finetuning",
                "dropout_p", "boost", "n_epochs", "lr", "lr_main", "early_stop", "batch_size",
                "gradient_accumulation_steps"]


def parse(*argv):
    return config_from_args(build_parser()[0].parse_args(list(argv)))


def test_all_seed_options_exist_with_seed_defaults():
    config = parse()
    for name in SEED_OPTIONS:
        assert hasattr(config, name)
    assert config.bert_name == "bert-base-uncased" and config.early_stop == -1


def test_floats_parse_as_floats_and_booleans_as_booleans():
    c = parse("--lr", "0.001", "--lr_main", "2e-5", "--dropout_p", "0.3", "--boost", "False",
              "--bert_finetuning", "no", "--gradient-accumulation-steps", "4")
    assert (c.lr, c.lr_main, c.dropout_p) == (0.001, 2e-5, 0.3)
    assert c.boost is False and c.bert_finetuning is False  # the seed read "--boost False" as True
    assert c.gradient_accumulation_steps == 4
    for text, value in [("True", True), ("1", True), ("yes", True), ("0", False), ("FALSE", False)]:
        assert parse("--boost", text, "--bert_finetuning", "False").boost is value
    with pytest.raises(SystemExit):
        parse("--boost", "maybe")


def base_args(toy, tmp_path, **overrides):
    values = {"--train_path": toy["train"], "--valid_path": toy["valid"], "--bert_name": toy["model"],
              "--max_length": "32", "--n_epochs": "1", "--save_path": str(tmp_path / "runs"),
              "--cache_dir": str(tmp_path / "cache"), "--progress": "False", "--run_name": "r"}
    values.update(overrides)
    return [x for kv in values.items() for x in kv]


@pytest.mark.parametrize("case, overrides, expected", [
    ("missing file", {"--train_path": "/nonexistent/train.csv"}, "no such file"),
    ("max_length too small", {"--max_length": "4"}, "--max_length: expected an integer of at least 8"),
    ("max_length above the model", {"--max_length": "1024"}, "above"),
    ("unknown model", {"--bert_name": "no-such-org/no-such-bert"}, "pass --bert_name with a local folder"),
    ("batch not divisible", {"--batch_size": "10", "--gradient_accumulation_steps": "4"}, "not divisible"),
    ("boost while fine-tuning", {"--boost": "True"}, "--boost True needs --bert_finetuning False"),
    ("overlap not below the window", {"--truncation": "chunks", "--doc_stride": "30"},
     "--doc_stride: expected an overlap of neighbouring windows in [0, max_length - 2 = 30) (a window's text tokens) "
     "for truncation chunks"),
    ("no window", {"--truncation": "chunks", "--max_chunks": "0"}, "--max_chunks: expected a positive integer"),
    ("no layer", {"--encoder_layers": "0"}, "--encoder_layers: expected a positive number of layers"),
    ("more layers than the model", {"--encoder_layers": "3"},
     "--encoder_layers 3: {model} has 2 layer(s); expected 1 to 2 (the first k are kept), or none for all"),
    ("int8 of another task", {"--task": "regression", "--precision": "int8"},
     "--precision: expected auto | bf16 | fp32 for --task regression (int8's valid score is measured for "
     "classification alone), got 'int8'"),
])
def test_bad_options_give_one_line(case, overrides, expected, toy, tmp_path, capsys):
    code, err, _ = run_cli(capsys, *base_args(toy, tmp_path, **overrides))
    assert code == 2, case
    assert len(err) == 1 and err[0].startswith("error: ") and expected.format(model=toy["model"]) in err[0], err
    assert not (tmp_path / "runs" / "r").exists()


@pytest.mark.parametrize("case, content, expected", [
    ("empty file", "", "the file is empty"),
    ("no label column", "text,points\na,1\nb,0\n", "names no label column"),
    ("one label only", "text,label\na,1\nb,1\n", "only one label"),
    ("missing label", "text,label\na,1\nb,\n", "row 3 has no label"),
    ("three columns no header", "a,1,x\nb,0,y\n", "is neither a header naming a text column"),
])
def test_bad_data_gives_one_line_naming_file_and_row(case, content, expected, toy, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, err, _ = run_cli(capsys, *base_args(toy, tmp_path, **{"--train_path": str(path)}))
    assert code == 2, case
    assert len(err) == 1 and str(path) in err[0] and expected in err[0], err


def test_valid_label_unknown_to_train(toy, tmp_path, capsys):
    path = write_csv(tmp_path / "v.csv", [("a", "pos"), ("b", "meh")])
    code, err, _ = run_cli(capsys, *base_args(toy, tmp_path, **{"--valid_path": path}))
    assert code == 2 and "label 'meh'" in err[0] and "--valid_path" in err[0]


def test_empty_texts_are_kept_and_counted(toy, tmp_path, capsys):
    rows = sentiment_rows(40) + [("", "pos"), ("   ", "neg")]
    path = write_csv(tmp_path / "t.csv", rows)
    code, err, _ = run_cli(capsys, *base_args(toy, tmp_path, **{"--train_path": path}))
    assert code == 0
    assert any("2 example(s) have an empty text" in line for line in err)


def test_existing_run_folder_is_never_overwritten_silently(toy, tmp_path, capsys):
    assert run_cli(capsys, *base_args(toy, tmp_path))[0] == 0
    before = (tmp_path / "runs" / "r" / "head.safetensors").read_bytes()
    code, err, _ = run_cli(capsys, *base_args(toy, tmp_path, **{"--lr": "0.5"}))
    assert code == 2 and "exists already" in err[0]
    assert (tmp_path / "runs" / "r" / "head.safetensors").read_bytes() == before
    assert run_cli(capsys, *base_args(toy, tmp_path, **{"--overwrite": "True"}))[0] == 0


def test_run_folder_contents_and_predict(toy, tmp_path, capsys):
    code, _, out = run_cli(capsys, *base_args(toy, tmp_path, **{"--n_epochs": "6", "--lr": "3e-3",
                                                                 "--lr_main": "1e-3"}))
    assert code == 0
    assert "| BERT finetune | Max token Length | Best Epoch | train loss | valid loss | valid accuracy |" in out
    run = tmp_path / "runs" / "r"
    for name in ("encoder/config.json", "encoder/model.safetensors", "head.safetensors",
                 "bert_hpo_model.json", "run_config.json", "metrics.csv", "results.md"):
        assert (run / name).exists(), name
    meta = json.loads((run / "bert_hpo_model.json").read_text())
    assert meta["label_names"] == ["neg", "pos"]
    assert json.loads((run / "run_config.json").read_text())["lr"] == 3e-3
    inputs = tmp_path / "in.txt"
    inputs.write_text("a superb and wonderful film\nawful boring plot\n")
    code, _, out = run_cli(capsys, "--predict", "--model", str(run), "--input", str(inputs),
                           "--text", "what a brilliant story")
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and [r["label"] for r in rows] == ["pos", "pos", "neg"]
    assert all(0.5 < r["probability"] <= 1 for r in rows)


def test_predict_rejects_a_folder_that_is_not_a_model(tmp_path, capsys):
    code, err, _ = run_cli(capsys, "--predict", "--model", str(tmp_path), "--text", "x")
    assert code == 2 and "not a bert-hpo model folder" in err[0]


def test_options_are_checked_once_as_they_are_made():
    """A TrainConfig is valid where it exists: a bad option fails as the options are made, before
    anything reads it (the run, its inputs and the optimiser trust it)."""
    from bertclf.config import TrainConfig
    from bertclf.errors import UserError
    with pytest.raises(UserError, match=r"^--lr_main: expected a positive learning rate, got 0\.0$"):
        parse("--lr_main", "0")
    with pytest.raises(UserError, match=r"^--max_length: expected an integer of at least 8, got 4$"):
        TrainConfig(max_length=4)


AWKWARD = {"neg": "NONE", "pos": "<b>a|b</b> {0} %s $x_{1}$ 😀"}


@pytest.fixture(scope="module")
def awkward_run(toy, tmp_path_factory):
    """A run whose labels are a word pandas reads as missing and a label of markup and format characters."""
    root = tmp_path_factory.mktemp("awkward")
    files = {}
    for split, seed, n in (("train", 1, 64), ("valid", 2, 16)):
        rows = [(text, AWKWARD[label]) for text, label in sentiment_rows(n, seed=seed)]
        files[split] = write_csv(root / f"{split}.csv", rows, ["text", "label"])
    args = {"--train_path": files["train"], "--valid_path": files["valid"], "--bert_name": toy["model"],
            "--max_length": "32", "--n_epochs": "1", "--save_path": str(root / "runs"),
            "--cache_dir": str(root / "cache"), "--progress": "False", "--run_name": "r"}
    assert main([x for kv in args.items() for x in kv]) == 0
    return root / "runs" / "r"


def test_labels_of_any_text_train_predict_and_export_as_written(awkward_run, capsys):
    from bertclf.portable import write_portable
    meta = json.loads((awkward_run / "bert_hpo_model.json").read_text(encoding="utf-8"))
    assert meta["label_names"] == [AWKWARD["pos"], AWKWARD["neg"]]
    code, _, out = run_cli(capsys, "--predict", "--model", str(awkward_run), "--text", "a superb and wonderful film",
                           "--text", "awful boring plot")
    assert code == 0 and {json.loads(line)["label"] for line in out.splitlines()} <= set(AWKWARD.values())
    copies = write_portable(awkward_run)
    configs = [folder / "config.json" for folder in (copies.onnx, copies.hf) if folder is not None]
    assert configs and all(list(json.loads(c.read_text(encoding="utf-8"))["id2label"].values()) == meta["label_names"]
                           for c in configs)


@pytest.mark.parametrize("content, expected", [
    ("caf\xe9 au lait\n".encode("cp1252"), "--input {}: not UTF-8 text (invalid continuation byte at byte 3)"),
    (b"", "--input {}: the file is empty"),
    (None, "--input {}: no such file"),
])
def test_predict_input_goes_through_the_readers_checks(awkward_run, tmp_path, capsys, content, expected):
    path = tmp_path / "new.txt"
    if content is not None:
        path.write_bytes(content)
    code, err, _ = run_cli(capsys, "--predict", "--model", str(awkward_run), "--input", str(path))
    assert code == 2 and err == [f"error: {expected.format(path)}"]


def test_predict_with_a_damaged_model_file_gives_one_line(tmp_path, capsys):
    (tmp_path / "bert_hpo_model.json").write_bytes(b'{"task": "classif')
    code, err, _ = run_cli(capsys, "--predict", "--model", str(tmp_path), "--text", "x")
    assert code == 2 and err[0].startswith(f"error: --model {tmp_path}: bert_hpo_model.json is not readable JSON")


def test_a_single_run_notes_valid_texts_found_in_train_once(toy, tmp_path, capsys):
    rows = sentiment_rows(40, seed=4)
    train = write_csv(tmp_path / "t.csv", rows, ["text", "label"])
    valid = write_csv(tmp_path / "v.csv", rows[5:15] + sentiment_rows(10, seed=5), ["text", "label"])
    code, err, _ = run_cli(capsys, *base_args(toy, tmp_path, **{"--train_path": train, "--valid_path": valid}))
    leaks = [line for line in err if "also appear in train" in line]
    assert code == 0 and len(leaks) == 1
    assert leaks[0].startswith("note: 10 of the 20 valid texts also appear in train (the same text, whitespace aside; "
                               "row 2, 3, 4, 5, 6 ...)")


@pytest.mark.parametrize("mode", [{}, {"--boost": "True", "--bert_finetuning": "False"}], ids=["finetune", "boost"])
def test_progress_into_a_pipe_is_lines_not_bar_redraws(toy, tmp_path, capsys, mode):
    """--progress True (the default) with stderr not a terminal (a pipe, a file; capsys here): no bar's
    carriage-return redraws fill the log, the run's own lines stay."""
    from launch import main
    assert main(base_args(toy, tmp_path, **{"--progress": "True", **mode})) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "epoch 1/1" not in err
    assert "best check" in err or "valid" in err


def test_a_single_run_pools_as_its_model_was_trained_unless_told(toy, tmp_path, capsys):
    """A sentence-transformers model that names mean pooling (1_Pooling/config.json) is pooled by its
    mean, as a search pools it; --pooling cls keeps cls; a plain encoder keeps cls."""
    import shutil
    from launch import main
    sentence = tmp_path / "sentence"
    shutil.copytree(toy["model"], sentence)
    (sentence / "1_Pooling").mkdir()
    (sentence / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": false, '
                                                        '"pooling_mode_mean_tokens": true}')
    for model, given, pooled in [(sentence, [], "mean"), (sentence, ["--pooling", "cls"], "cls"),
                                 (toy["model"], [], "cls")]:
        args = base_args(toy, tmp_path, **{"--bert_name": str(model), "--run_name": f"{pooled}-{len(given)}"})
        assert main(args + given) == 0
        err = capsys.readouterr().err
        run = tmp_path / "runs" / f"{pooled}-{len(given)}"
        assert json.loads((run / "run_config.json").read_text())["pooling"] == pooled
        assert ("the pooling it was trained with" in err) == (pooled == "mean" and not given), err
    assert "(default: the pooling a sentence-transformers model was trained with" in \
        " ".join(build_parser()[0].format_help().split())
