"""bench/faults.py runs and reports what the user saw (its --help, and the cheapest fault: a disk too
small for the search, refused before Ray, where this machine lets a test mount a tmpfs)."""
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT


def test_faults_help_names_every_fault():
    proc = subprocess.run([sys.executable, "bench/faults.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    for fault in ("sigterm-trials", "second-sigterm", "sigint-test", "sigkill-trials", "twice", "disk-full",
                  "disk-filled", "disk-preflight"):
        assert fault in proc.stdout


def test_a_disk_too_small_is_refused_before_ray(tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"no tmpfs here (mount needs root): {mounted.stderr.decode().strip()}")
    subprocess.run(["umount", str(probe)], check=True)
    proc = subprocess.run([sys.executable, "bench/faults.py", "--fault", "disk-preflight"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.splitlines()[-1])
    assert seen["exit"] == 2 and not seen["traceback"], seen
    assert seen["last_lines"][-1].startswith("error: ") and "the search writes up to" in seen["last_lines"][-1], seen
