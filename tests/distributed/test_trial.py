"""A trial's process (distributed/trial.py) gives back what the trial held: a search whose trials all run in
one reused actor holds no more memory at the start of its eighth trial than at the start of its second."""
import json

from tests.helpers import read_csv, run, search_cmd, write_imdb_like

# What an actor may grow between its second trial and its last: the first trial imports torch, transformers
# and the data; later ones may import peft (LoRA) once. A leak of one trial's model, optimizer state and
# inputs (tiny here, ~2 MB each) over six trials would show far less clearly than on a real model, so the
# resident memory at each start is held to this, not to the lifetime peak alone.
TOLERANCE_MB = 64


def test_a_reused_actor_holds_no_more_after_each_trial(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    proc = run(search_cmd(data, tmp_path / "out", "--name", "memory", "--set", "smoke.num_samples=8",
                          "--set", "max_concurrent=1", "--set", "smoke.space.mode.choice=[lora, finetune, boost]",
                          "--set", "smoke.fixed.n_epochs=2"), timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out" / "memory"
    assert len(read_csv(out / "results.csv")) == 8
    reports = {}
    for path in (out / "trials").glob("*/result.json"):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        reports[path.parent.name] = (lines[0], lines[-1])
    trials = sorted(reports.values(), key=lambda first_last: first_last[0]["timestamp"])
    assert len(trials) == 8 and len({first["pid"] for first, _ in trials}) == 1  # one actor ran them all
    at_start = [first["memory_at_start_mb"] for first, _ in trials]
    peaks = [last["peak_memory_mb"] for _, last in trials]
    assert max(at_start[2:]) - at_start[1] < TOLERANCE_MB, at_start
    assert max(peaks[2:]) - peaks[1] < 2 * TOLERANCE_MB, peaks
