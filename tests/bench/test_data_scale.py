"""bench/data_scale.py runs and reports what it promises (a tiny size here; the real sizes in bench/results/)."""
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.ray


def test_data_scale_bench_reports_each_size(tmp_path):
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, "bench/data_scale.py", "--data", "bertclf/smoke_data/imdb_train.csv.gz",
                           "--sizes", "600", "--max_length", "64", "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    size = json.loads(out.read_text())["sizes"]["600"]
    assert size["texts"] == 600 and size["token_dtype"] == "uint16" and size["texts_per_s"] > 0
    assert 0 < size["peak_rss_gb"] < 3 and size["token_id_bytes"] >= 2 * size["tokens"]
    assert size["object_store"]["texts_seen_by_task"] == 540 and size["object_store"]["pickled_bytes"] > 0


def test_data_scale_bench_on_workers_reports_the_drivers_memory(tmp_path):
    out = tmp_path / "workers.json"
    proc = subprocess.run([sys.executable, "bench/data_scale.py", "--data", "bertclf/smoke_data/imdb_train.csv.gz",
                           "--sizes", "600", "--max_length", "64", "--workers", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    size = json.loads(out.read_text())["sizes"]["600"]
    assert size["texts"] == 600 and size["chunks"] == 2 and size["tokenise_on_workers_s"] > 0  # 540 train, 60 valid
    assert 0 < size["driver_peak_rss_after_scan_gb"] <= size["driver_peak_rss_gb"] < 3
