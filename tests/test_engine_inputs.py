"""Options parse as users expect, every data layout reads, every bad input is one clear line."""
import gzip
import json

import pytest

from bertclf.config import config_from_args
from bertclf.data.examples import read_examples
from bertclf.data.splits import load_splits, stratified_split
from bertclf.tokenization import truncate
from launch import build_parser, main  # the user-facing parser of one run and --predict
from tests.conftest import sentiment_rows, write_csv

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
        assert parse("--boost", text).boost is value
    with pytest.raises(SystemExit):
        parse("--boost", "maybe")


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


def test_nsmc_style_tsv_with_bare_quotes_and_empty_document(tmp_path):
    path = tmp_path / "ratings.txt"
    path.write_text('id\tdocument\tlabel\n1\t"좋아요"" 최고\t1\n2\t\t0\n3\t별로 "재미없음\t0\n', encoding="utf-8")
    ex = read_examples(path)
    assert ex.texts == ['"좋아요"" 최고', "", '별로 "재미없음'] and ex.labels == [1, 0, 0]
    assert ex.empty_texts == 1


def test_aclimdb_folder_layout(tmp_path):
    for label in ("pos", "neg"):
        (tmp_path / "train" / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "train" / label / f"{i}_7.txt").write_text(f"{label} review {i}<br />")
    ex = read_examples(tmp_path / "train")
    assert len(ex) == 6 and ex.labels.count("positive") == 3


def test_held_out_split_is_stratified_seeded_and_disjoint(toy):
    a = load_splits(toy["train"], None, valid_fraction=0.25, seed=3)
    b = load_splits(toy["train"], None, valid_fraction=0.25, seed=3)
    assert a.valid.texts == b.valid.texts
    assert len(a.valid) == 80 and a.valid_labels.count(0) == a.valid_labels.count(1)
    assert set(a.valid.texts).isdisjoint(a.train.texts) or len(set(a.train.texts)) < len(a.train.texts)
    train_idx, held_idx = stratified_split([0] * 10 + [1] * 10, 0.2, 0)
    assert not set(train_idx) & set(held_idx) and len(held_idx) == 4


def test_truncation_strategies():
    ids = list(range(20))
    assert truncate(ids, 8, "head") == list(range(8))
    assert truncate(ids, 8, "tail") == list(range(12, 20))
    assert truncate(ids, 8, "head+tail") == [0, 1] + list(range(14, 20))
    assert truncate(ids[:5], 8, "head+tail") == ids[:5]


def test_length_grouping_pads_less_than_random_batches():
    import random
    from bertclf.batching import training_steps
    rng = random.Random(0)
    lengths = [rng.randint(10, 500) for _ in range(2000)]
    steps = training_steps(lengths, 16, 1, seed=0, epoch=1)
    grouped = sum(max(lengths[i] for i in mb) * len(mb) for step in steps for mb in step)
    order = list(range(2000))
    rng.shuffle(order)
    plain = sum(max(lengths[i] for i in order[j:j + 16]) * 16 for j in range(0, 2000, 16))
    assert grouped < 0.7 * plain
    assert steps != training_steps(lengths, 16, 1, seed=0, epoch=2)  # reshuffled each epoch


def run_cli(capsys, *argv):
    """(exit code, the `error:` lines, stdout); fails on a traceback."""
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    return code, errors or captured.err.strip().splitlines(), captured.out


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
])
def test_bad_options_give_one_line(case, overrides, expected, toy, tmp_path, capsys):
    code, err, _ = run_cli(capsys, *base_args(toy, tmp_path, **overrides))
    assert code == 2, case
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert not (tmp_path / "runs" / "r").exists()


@pytest.mark.parametrize("case, content, expected", [
    ("empty file", "", "the file is empty"),
    ("no label column", "text,score\na,1\nb,0\n", "names no label column"),
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


def test_engine_never_imports_ray():
    import subprocess
    import sys
    code = ("import sys, bertclf.cli, bertclf.train, bertclf.predict, bertclf.feature_cache; "
            "sys.exit(1 if any(m == 'ray' or m.startswith('ray.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_atomic_writes_leave_no_temp_file_and_respect_the_umask(tmp_path):
    import os
    import stat
    from bertclf.atomic import atomic_path, write_text
    write_text(tmp_path / "a.md", "x")
    assert stat.S_IMODE(os.stat(tmp_path / "a.md").st_mode) == 0o666 & ~_current_umask()
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "b.md") as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md"]


def test_atomic_folder_appears_whole_or_not_at_all(tmp_path):
    import os
    import stat
    from bertclf.atomic import atomic_folder
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "run") as staging:
            (staging / "new.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"] and os.listdir(tmp_path / "run") == ["old.txt"]
    with atomic_folder(tmp_path / "run") as staging:
        (staging / "new.txt").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"] and os.listdir(tmp_path / "run") == ["new.txt"]
    assert stat.S_IMODE(os.stat(tmp_path / "run").st_mode) == 0o777 & ~_current_umask()


def _current_umask():
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask
