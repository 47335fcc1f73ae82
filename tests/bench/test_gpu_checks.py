"""The benchmarks that must run where this repository cannot test them: the GPU checks, dry-run here."""
import json
import os
import subprocess

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.ray


def test_gpu_checks_dry_run_on_the_cpu(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHONUNBUFFERED="1")
    proc = subprocess.run(["bash", "bench/gpu.sh", "--device", "cpu", "--tiny", "--data",
                           "bertclf/smoke_data/imdb_train.csv.gz"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu.json").read_text())
    for check in ("throughput", "search", "overhead"):
        assert "error" not in report[check], report[check]
    assert [r["max_length"] for r in report["throughput"]["results"]] == [64, 128]
    assert all(r["speedup"] > 0 for r in report["throughput"]["results"])
    search = report["search"]
    assert sum(search["statuses"].values()) == 4
    assert sorted(t["mode"] for t in search["trials"]) == ["boost", "boost", "finetune", "finetune"]
    assert search["test"]["examples"] == 48 and search["refit"]["test"]["examples"] == 48
    assert search["test"]["accuracy"] > 0.2  # both labels in test: a real score, not a sorted-split artefact
    overhead = report["overhead"]
    assert overhead["in_trial"]["error"] == "" and overhead["torch_trainer"]["error"] == ""
    assert overhead["in_trial"]["wall_s"] > 0 and overhead["torch_trainer"]["wall_s"] > 0
