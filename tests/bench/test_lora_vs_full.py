"""bench/lora_vs_full.py reads each trial's own figures (a reused actor's memory read as such) and runs
both modes end to end on a tiny BERT (the real figures: bench/results/lora/)."""
import importlib.util
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT


def bench_module():
    spec = importlib.util.spec_from_file_location("lora_vs_full", ROOT / "bench" / "lora_vs_full.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_trial(trials, name, pid, started, peaks, checkpoint_bytes):
    folder = trials / name
    (folder / "checkpoint_000001").mkdir(parents=True)
    (folder / "checkpoint_000001" / "state.bin").write_bytes(b"x" * checkpoint_bytes)
    reports = [{"timestamp": started + 10 * (i + 1), "time_total_s": 10.0 * (i + 1), "epoch": 0.5 * (i + 1),
                "pid": pid, "memory_at_start_mb": 400.0 + pid, "peak_memory_mb": peak} for i, peak in enumerate(peaks)]
    (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in reports))


def test_a_trials_peak_is_its_own_only_on_a_fresh_actor(tmp_path):
    bench = bench_module()
    write_trial(tmp_path, "trial_b", pid=1, started=1000, peaks=[700, 900], checkpoint_bytes=300)
    write_trial(tmp_path, "trial_a", pid=1, started=2000, peaks=[900], checkpoint_bytes=100)  # same actor, later
    write_trial(tmp_path, "trial_c", pid=2, started=1500, peaks=[650], checkpoint_bytes=200)
    trials = {t["trial"]: t for t in bench.trial_stats(tmp_path)}
    assert {name: t["fresh"] for name, t in trials.items()} == {"trial_a": False, "trial_b": True, "trial_c": True}
    assert trials["trial_b"]["peak_memory_mb"] == 900 and trials["trial_b"]["seconds"] == 20.0
    assert trials["trial_b"]["epochs"] == 1.0 and trials["trial_a"]["checkpoint_bytes"] == 100
    figures = bench.summary(list(trials.values()))
    assert figures["peak_memory_mb_fresh_trials"] == [650, 900] and figures["peak_memory_mb_max"] == 900
    assert figures["checkpoint_bytes_per_trial_median"] == 200 and figures["seconds_per_trial_median"] == 10.0
    assert figures["seconds_per_epoch_median"] == 20.0


def test_a_search_finished_in_an_earlier_run_is_read_back_not_run(tmp_path, monkeypatch):
    bench = bench_module()
    out = tmp_path / "finetune"
    write_trial(out / "ours" / "trials", "trial_a", pid=1, started=1000, peaks=[700], checkpoint_bytes=300)
    (out / "ours" / "results.csv").write_text("trial,status,lr_main,batch_size,gradient_accumulation_steps,"
                                              "best_valid_accuracy\ntrial_a,completed,5e-05,16,1,0.8\n")
    (out / "ours" / "results.md").write_text("re-scored once on the untouched test split: **test accuracy 0.8240** ...")
    (out / "console.log").write_text("[bert-hpo] done in 1234 s: 1 trials (1 completed)\n")
    monkeypatch.setattr(bench, "our_search", lambda *a: pytest.fail("a finished search ran again"))
    got = bench.search({}, None, 0, out, "finetune", (1e-5, 1e-4))
    assert (got["wall_s"], got["best_valid_accuracy"], got["test_accuracy"]) == (1234.0, 0.8, 0.824)
    assert got["statuses"] == ["completed"] and got["read_back_from"] == str(out)
    assert got["checkpoint_bytes_per_trial_median"] == 300 and got["trials"][0]["fresh"]
    row = bench.table({"runs": [{"seed": 0, "searches": {"finetune": got}}]}).splitlines()[-1]
    assert row.startswith("| 0 | finetune | [1e-05, 0.0001] | 0.800 | 0.824 | 1234.0 s |") and "not recorded" in row


@pytest.mark.ray
def test_smoke_run_measures_lora_and_full_fine_tuning(tmp_path):
    out = tmp_path / "lora.json"
    proc = subprocess.run([sys.executable, "bench/lora_vs_full.py", "--smoke-test", "--searches", "finetune", "lora",
                           "--output", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    searches = json.loads(out.read_text())["runs"][0]["searches"]
    assert list(searches) == ["finetune", "lora"]
    full, lora = searches["finetune"], searches["lora"]
    assert (full["mode"], full["lr_main"]) == ("finetune", [1e-5, 1e-4])
    assert (lora["mode"], lora["lr_main"]) == ("lora", [1e-4, 1e-3])
    for search in (full, lora):
        assert len(search["trials"]) == 2 and 0 <= search["test_accuracy"] <= 1
        assert search["peak_memory_mb_max"] >= max(t["memory_at_start_mb"] for t in search["trials"]) > 0
    # the adapters, the head and their optimizer state against every weight of the encoder and its state
    assert 0 < lora["checkpoint_bytes_per_trial_median"] < full["checkpoint_bytes_per_trial_median"] / 3
    table = out.with_suffix(".md").read_text()
    assert "| 0 | finetune | [1e-05, 0.0001] |" in table and "| 0 | lora | [0.0001, 0.001] |" in table
