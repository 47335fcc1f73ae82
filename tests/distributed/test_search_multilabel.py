"""docs/data.md's multi-label search (search_spaces/genres.yaml on its shipped slice) runs as a smoke search:
per-label test scores with thresholds in results.md, the best model's copies holding the thresholds, and
a card that says how to apply them."""
import json
import re
import shlex

import pytest

from bertclf.smoke import GENRE_FILES, write_genre_slices
from tests.helpers import ROOT, run

pytestmark = pytest.mark.ray


def docs_command() -> list:
    """docs/data.md's multi-label search, as arguments after `python launch.py`."""
    text = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    section = text[text.index("### Several labels per text"):]
    return shlex.split(re.search(r"^python launch\.py (--search genres.*)$", section, re.M).group(1))


def test_the_shipped_slices_are_what_their_generator_writes(tmp_path):
    write_genre_slices(tmp_path)
    for name in GENRE_FILES:
        assert (tmp_path / name).read_bytes() == (ROOT / "bertclf" / "smoke_data" / name).read_bytes(), name


def test_the_docs_multilabel_search_runs_as_a_smoke_search(tmp_path):
    proc = run(["python", str(ROOT / "launch.py"), *docs_command(), "--output-dir", str(tmp_path / "out"),
                "--num-cpus", "2"], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "iterative stratification" in proc.stderr
    out = tmp_path / "out" / "genres-smoke"
    results = (out / "results.md").read_text()
    assert "| valid micro F1 |" in results and "hamming loss" in results
    assert "| label | precision | recall | F1 | support | threshold |" in results
    assert all(f"| {genre} |" in results for genre in ("Action", "Comedy", "Drama", "Horror"))
    config = json.loads((out / "best_model" / "onnx" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert sorted(config["thresholds"]) == ["Action", "Comedy", "Drama", "Horror"]
    card = (out / "best_model" / "README.md").read_text()
    assert "reaches the label's threshold" in card and "p >= thresholds[labels[i]]" in card
