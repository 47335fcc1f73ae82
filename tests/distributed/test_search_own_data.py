"""Your own files as a search: the README's one-command example runs; faults in the files end before Ray."""
import os
import re
import shlex
import subprocess
import time

import pytest

from tests.helpers import ROOT, run, sentiment_rows, write_csv

pytestmark = pytest.mark.ray
NEUTRAL = "the film was a film with a start and an end"


def reviews(n, seed):
    """comment,target rows of three classes, the README's layout."""
    rows = [(text, "positive" if label == "pos" else "negative") for text, label in sentiment_rows(n, seed)]
    return rows + [(f"{NEUTRAL} number {i}", "neutral") for i in range(n // 4)]


def readme_command() -> list:
    """The README's own-data example, as arguments after `python launch.py`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Your own data"):]
    block = re.search(r"```bash\n(python launch\.py --search classify.*?)\n```", section, re.S).group(1)
    return shlex.split(block.replace("\\\n", " "))[2:]


def test_the_readme_example_runs_as_a_smoke_search(tmp_path):
    write_csv(tmp_path / "reviews.csv", reviews(240, 1), ["comment", "target"])
    write_csv(tmp_path / "reviews_test.csv", reviews(80, 2), ["comment", "target"])
    args = [a if not a.endswith(".csv") else str(tmp_path / a) for a in readme_command()]
    proc = run(["python", str(ROOT / "launch.py"), *args, "--smoke-test", "--output-dir", str(tmp_path / "out"),
                "--num-cpus", "2"], timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trials of train reviews.csv, test reviews_test.csv" in proc.stderr
    out = tmp_path / "out" / "classify-smoke"
    results = (out / "results.md").read_text()
    assert results.startswith("# Search classify-smoke: train reviews.csv, test reviews_test.csv")
    assert "| valid macro f1 |" in results  # the chosen metric in the original's table
    # the headline test score is the chosen metric's, accuracy after it: in results.md, on the console, in the card
    assert re.search(r"\*\*test macro f1 [01]\.\d{4} / test accuracy [01]\.\d{4}\*\* \(valid macro f1 ", results)
    assert re.search(r"best model \([^)]+\): valid macro f1 [01]\.\d{4}, test macro f1 [01]\.\d{4} / test "
                     r"accuracy", proc.stderr + proc.stdout)
    assert "**test macro f1 " in (out / "best_model" / "README.md").read_text()
    assert "| label | precision | recall | F1 | support |" in results
    assert "| neutral |" in results and "| positive |" in results  # labels as written
    assert (out / "confusion_matrix.png").stat().st_size > 1000


@pytest.mark.parametrize("test_rows, header, expected", [
    ([("a fine film", None)], ["id", "comment"], "--label_column target: no such column in the header"),
    ([("a fine film", "mixed")], ["comment", "target"], "label 'mixed' (example 1) is not among the training labels"),
])
def test_a_faulty_test_file_fails_before_ray_and_leaves_the_name_free(tmp_path, test_rows, header, expected):
    write_csv(tmp_path / "train.csv", reviews(60, 1), ["comment", "target"])
    rows = [(1, t) if label is None else (t, label) for t, label in test_rows]
    write_csv(tmp_path / "test.csv", rows, header)
    started = time.time()
    proc = run(["python", str(ROOT / "launch.py"), "--search", "classify", "--smoke-test", "--train_path",
                str(tmp_path / "train.csv"), "--test_path", str(tmp_path / "test.csv"), "--text_column", "comment",
                "--label_column", "target", "--output-dir", str(tmp_path / "out"), "--num-cpus", "2"], timeout=200)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and expected in errors[0], proc.stderr[-2000:]
    assert errors[0].startswith(f"error: test data {tmp_path / 'test.csv'}: ") and "Traceback" not in proc.stderr
    assert "Started a local Ray instance" not in proc.stderr
    assert not (tmp_path / "out" / "classify-smoke" / "trials").exists()
    assert time.time() - started < 120


def test_a_bad_row_is_one_error_before_ray_when_the_workers_tokenise(tmp_path, toy):
    """tokenize_on: workers scans the files (no texts kept) with the same checks, before Ray starts."""
    rows = [f"{text},{label}" for text, label in reviews(60, 1)]
    rows.insert(7, "the plot was thin, not great,negative")  # file row 9: an unquoted comma
    (tmp_path / "train.csv").write_text("comment,target\n" + "\n".join(rows) + "\n", encoding="utf-8")
    proc = run(["python", str(ROOT / "launch.py"), "--search", "classify", "--train_path", str(tmp_path / "train.csv"),
                "--test_path", str(tmp_path / "train.csv"), "--text_column", "comment", "--label_column", "target",
                "--set", f"fixed.bert_name={toy['model']}", "--set", "tokenize_on=workers", "--output-dir",
                str(tmp_path / "out"), "--num-cpus", "2"], timeout=400)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and errors == [f"error: --train_path {tmp_path / 'train.csv'}: row 9 has 3 fields, the "
                                               f"first row has 2: a text with an unquoted delimiter? Quote such texts "
                                               f"(\"...\")"], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Started a local Ray instance" not in proc.stderr
    assert not (tmp_path / "out" / "classify" / "trials").exists()


def test_a_test_file_without_labels_fails_after_reading_train_before_ray(tmp_path, toy):
    write_csv(tmp_path / "train.csv", reviews(60, 1), ["comment", "target"])
    write_csv(tmp_path / "test.csv", [(1, "a fine film"), (2, "a dull one")], ["id", "comment"])
    proc = run(["python", str(ROOT / "launch.py"), "--search", "classify", "--train_path", str(tmp_path / "train.csv"),
                "--test_path", str(tmp_path / "test.csv"), "--text_column", "comment", "--label_column", "target",
                "--set", f"fixed.bert_name={toy['model']}", "--output-dir", str(tmp_path / "out"), "--num-cpus", "2"],
               timeout=200)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
    assert errors[0].startswith(f"error: test data {tmp_path / 'test.csv'}: --label_column target: no such column")
    assert "data: " in proc.stderr and "Started a local Ray instance" not in proc.stderr  # train read, Ray not started
    assert not (tmp_path / "out" / "classify" / "trials").exists()


def test_a_search_on_sentence_pairs(tmp_path):
    """sentence1,sentence2,label files: found as pairs, searched and scored as pairs (smoke)."""
    def pairs(n, seed):
        return [(f"about film {i}", text, label) for i, (text, label) in enumerate(sentiment_rows(n, seed))]
    write_csv(tmp_path / "train.csv", pairs(200, 1), ["sentence1", "sentence2", "label"])
    write_csv(tmp_path / "test.csv", pairs(60, 2), ["sentence1", "sentence2", "label"])
    proc = run(["python", str(ROOT / "launch.py"), "--search", "classify", "--smoke-test", "--train_path",
                str(tmp_path / "train.csv"), "--test_path", str(tmp_path / "test.csv"), "--output-dir",
                str(tmp_path / "out"), "--num-cpus", "2"], timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "columns text + text_pair -> label" in proc.stderr  # the smoke slice names a pair's columns so
    meta = (tmp_path / "out" / "classify-smoke" / "best_model" / "bert_hpo_model.json").read_text()
    assert '"pairs": true' in meta
    assert "| label | precision | recall | F1 | support |" in (tmp_path / "out" / "classify-smoke" / "results.md").read_text()


def test_the_docs_spec_of_ones_own_reads_its_files_from_the_folder_it_runs_in(tmp_path):
    """bench/race_from_scratch.yaml, docs/search.md's complete spec: files: train.csv, valid.csv, test.csv
    relative to the folder the command runs in; a smoke search of it (a tiny BERT, 2 trials of 1 epoch)."""
    for name, (n, seed) in {"train.csv": (120, 1), "valid.csv": (40, 2), "test.csv": (40, 3)}.items():
        write_csv(tmp_path / name, sentiment_rows(n, seed), ["text", "label"])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(["python", str(ROOT / "launch.py"), "--search", str(ROOT / "bench" / "race_from_scratch.yaml"),
                           "--smoke-test", "--set", "num_samples=2", "--set", "fixed.n_epochs=1", "--output-dir",
                           str(tmp_path / "out"), "--num-cpus", "2"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trials of train train.csv, valid valid.csv, test test.csv (" in proc.stderr, proc.stderr[-3000:]
    assert "recipe: 2 checks per epoch" in proc.stderr
    assert "; ASHA's first cut after 0.5 epoch, 1/2 of the trials kept at each rung; " in proc.stderr  # the default
    assert (tmp_path / "out" / "race-from-scratch-smoke" / "results.md").read_text().startswith(
        "# Search race-from-scratch-smoke: train train.csv, valid valid.csv, test test.csv")


def test_a_score_column_is_one_error_before_ray(tmp_path, toy):
    """STS-B's similarity scores are no classes: said once, with what to do, before Ray starts."""
    rows = [(f"a sentence {i}", f"another one {i}", f"{(i * 0.217) % 5:.3f}") for i in range(60)]
    write_csv(tmp_path / "stsb.csv", rows + rows[:10], ["sentence1", "sentence2", "score"])
    proc = run(["python", str(ROOT / "launch.py"), "--search", "classify", "--train_path", str(tmp_path / "stsb.csv"),
                "--label_column", "score", "--set", f"fixed.bert_name={toy['model']}", "--output-dir",
                str(tmp_path / "out"), "--num-cpus", "2"], timeout=200)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
    assert errors[0].startswith(f"error: --train_path {tmp_path / 'stsb.csv'}: column 'score' holds 60 distinct "
                                f"numbers between 0 and 4.991, like a score")
    assert "Traceback" not in proc.stderr and "Started a local Ray instance" not in proc.stderr


def test_labels_of_any_text_reach_results_and_card_as_written(tmp_path, toy):
    """Labels holding markup, a pipe, format characters and mathtext: the search ends with its class report,
    confusion matrix and card, each label shown as written."""
    names = {"positive": "<b>a|b</b> {0}", "negative": "$\\frac{1}{$ 50%", "neutral": "NONE"}
    for name, n, seed in (("train", 120, 1), ("test", 40, 2)):
        write_csv(tmp_path / f"{name}.csv", [(t, names[label]) for t, label in reviews(n, seed)], ["comment", "target"])
    proc = run(["python", str(ROOT / "launch.py"), "--search", "classify", "--smoke-test", "--train_path",
                str(tmp_path / "train.csv"), "--test_path", str(tmp_path / "test.csv"), "--text_column", "comment",
                "--label_column", "target", "--output-dir", str(tmp_path / "out"), "--num-cpus", "2",
                "--set", "smoke.num_samples=1"], timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out" / "classify-smoke"
    results = (out / "results.md").read_text(encoding="utf-8")
    for shown in ("| \\<b\\>a\\|b\\</b\\> {0} |", "| \\$\\\\frac{1}{\\$ 50% |", "| NONE |"):
        assert shown in results
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    card = (out / "best_model" / "README.md").read_text(encoding="utf-8")
    assert "classifies a text as one of \\$\\\\frac{1}{\\$ 50%, \\<b\\>a|b\\</b\\> {0}, NONE" in card
