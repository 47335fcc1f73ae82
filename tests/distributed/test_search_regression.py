"""A search of numbers (--task regression) end to end: docs/data.md's example of the shipped spec runs as a
smoke search, ranks by Spearman, scores the test file and exports copies whose card undoes the scaling; a
value that is not a number is one error before Ray starts."""
import json
import re
import shlex

import pytest

from bertclf.smoke import SLICE_DIR, synthetic_similarity
from tests.helpers import ROOT, run, scored_rows, write_csv

pytestmark = pytest.mark.ray


def docs_command() -> list:
    """docs/data.md's regression example, as arguments after `python launch.py`."""
    doc = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Scores: task regression"):]
    block = re.search(r"```bash\n(python launch\.py --search regress .*?)\n```", section, re.S).group(1)
    return shlex.split(block.replace("\\\n", " "))[2:]


def test_the_shipped_slices_are_what_their_generator_writes(tmp_path):
    for name, n, seed in (("similarity_train.csv.gz", 400, 1), ("similarity_test.csv.gz", 150, 2)):
        assert (SLICE_DIR / name).read_bytes() == open(synthetic_similarity(tmp_path / name, n, seed), "rb").read()


def test_the_docs_example_runs_as_a_smoke_search(tmp_path):
    proc = run(["python", str(ROOT / "launch.py"), *docs_command(), "--output-dir", str(tmp_path / "out"),
                "--num-cpus", "2"], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out" / "regress-smoke"
    results = (out / "results.md").read_text()
    assert "| valid spearman | valid rmse |" in results and "test spearman" in results
    card = (out / "best_model" / "README.md").read_text()
    assert "predicts a number (label) per text" in card and "target_scale" in card
    # mean pooling maps onto no transformers class: the ONNX copy alone
    assert json.loads((out / "best_model" / "onnx" / "config.json").read_text())["problem_type"] == "regression"
    predicted = run(["python", str(ROOT / "launch.py"), "--predict", "--model", str(out / "best_model"), "--text",
                     "a man reads a book", "--text_pair", "a man reads a book"], timeout=300)
    assert predicted.returncode == 0 and "label" in json.loads(predicted.stdout)


def test_words_in_the_number_column_end_before_ray(tmp_path):
    rows = scored_rows(60, 1)
    rows[4] = (rows[4][0], "excellent")
    write_csv(tmp_path / "train.csv", rows, ["text", "score"])
    write_csv(tmp_path / "test.csv", scored_rows(20, 2), ["text", "score"])
    proc = run(["python", str(ROOT / "launch.py"), "--search", "regress", "--train_path", str(tmp_path / "train.csv"),
                "--test_path", str(tmp_path / "test.csv"), "--output-dir", str(tmp_path / "out"), "--num-cpus", "2"],
               timeout=300)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and errors == [
        f"error: --train_path {tmp_path / 'train.csv'}: row 6: column 'score' holds 'excellent', not a number; "
        f"--task regression reads one number per row (e.g. 3.8)"], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Started a local Ray instance" not in proc.stderr
