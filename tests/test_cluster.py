"""Multi-node searches and faults, on one machine: a Ray cluster of several nodes on 127.0.0.1.

ray.cluster_utils.Cluster starts real raylets (one per node) on loopback; every test stops what
it started, also when it fails.
"""
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.test_search import ROOT, read_csv, run, search_cmd, write_imdb_like

pytestmark = [pytest.mark.ray, pytest.mark.cluster]


@pytest.fixture
def cluster(monkeypatch):
    # a short session folder: Ray's socket paths must fit in 107 bytes
    ray_tmp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    import ray
    from ray.cluster_utils import Cluster
    # the dashboard also serves the state API that a Tune trial driving a TorchTrainer polls
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": True,
                                                         "dashboard_host": "127.0.0.1"})
    try:
        yield made
    finally:
        ray.shutdown()
        made.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def tiny_model_for(data_dir, folder):
    from bertclf.data import read_examples
    from bertclf.tiny_model import build_tiny_bert
    return build_tiny_bert(folder, read_examples(data_dir / "imdb_train.csv.gz").texts[:400], vocab_size=800)


def search(cluster, data, out, name, overrides, num_samples):
    import ray
    from bert_hpo_distributed.search import SearchOptions, run_search
    ray.init(address=cluster.address, log_to_driver=False)
    return run_search(SearchOptions(search="imdb", overrides=overrides, data_dir=str(data),
                                    output_dir=str(out), name=name, num_samples=num_samples,
                                    address=cluster.address, force_cpu=True, max_concurrent=1))


def test_a_trial_spans_two_nodes(cluster, tmp_path):
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    data = write_imdb_like(tmp_path / "data")
    model = tiny_model_for(data, tmp_path / "tiny")
    # each node has 1 CPU and each Train worker needs 0.9: two workers cannot share a node
    summary = search(cluster, data, tmp_path / "out", "spread", [
        f"fixed.bert_name={model}", "cpu.fixed={n_epochs: 2, batch_size: 16, max_length: 64, "
        "max_train_samples: null, max_valid_samples: null, pooling: mean, lr: 0.003, lr_main: 0.001}",
        "cpu.space={dropout_p: {uniform: [0.0, 0.1]}, mode: {choice: [finetune]}}",
        "cpu.resources={workers_per_trial: 2, cpus_per_worker: 0.9, placement: STRICT_SPREAD}",
        "cpu.max_test_samples=50", "scheduler.type=none"], num_samples=2)
    assert summary["trials"] == 2 and summary["errors"] == 0 and summary["completed"] == 2
    assert Path(summary["written"]["best_model"]).joinpath("encoder", "model.safetensors").exists()


def node_of(cluster, pid):
    """The cluster node whose raylet started process `pid` (Ray workers are the raylet's children)."""
    import psutil
    raylet = psutil.Process(pid).ppid()
    for node in cluster.list_all_nodes():
        if any(p.process.pid == raylet for p in node.all_processes.get("raylet", [])):
            return node
    raise AssertionError(f"no node owns process {pid}")


def test_worker_node_killed_mid_trial_resumes_from_checkpoint(cluster, tmp_path):
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    data = write_imdb_like(tmp_path / "data", n_train=3000, n_test=100)
    model = tiny_model_for(data, tmp_path / "tiny")
    out = tmp_path / "out"
    killed = {}

    def kill_the_trials_node():
        deadline = time.time() + 180
        while time.time() < deadline:
            for result in (out / "killed" / "trials").glob("trial_*/result.json"):
                lines = result.read_text().strip().splitlines()
                if len(lines) >= 2 and list(result.parent.glob("checkpoint_*")):
                    pid = json.loads(lines[-1])["pid"]
                    node = node_of(cluster, pid)
                    os.kill(pid, signal.SIGKILL)  # the node goes down with the trial on it
                    cluster.remove_node(node, allow_graceful=False)
                    killed["after_epoch"] = len(lines)
                    return
            time.sleep(0.1)
    killer = threading.Thread(target=kill_the_trials_node, daemon=True)
    killer.start()
    summary = search(cluster, data, out, "killed", [
        f"fixed.bert_name={model}", "cpu.fixed={n_epochs: 12, batch_size: 16, max_length: 64, "
        "max_train_samples: null, max_valid_samples: null, pooling: mean, lr: 0.01, early_stop: -1}",
        "cpu.space={dropout_p: {uniform: [0.0, 0.1]}, mode: {choice: [finetune]}}",
        "cpu.resources={cpus_per_worker: 1}", "max_failures=2", "cpu.max_test_samples=50",
        "scheduler.type=none"], num_samples=1)
    killer.join(timeout=5)
    assert killed, "the trial finished before its node could be killed"
    assert summary["completed"] == 1 and summary["errors"] == 0
    trial = next((out / "killed" / "trials").glob("trial_*"))
    results = [json.loads(line) for line in (trial / "result.json").read_text().strip().splitlines()]
    assert results[-1]["training_iteration"] == 12
    assert len({r["pid"] for r in results}) == 2  # a second process finished the trial
    # resumed from a checkpoint, not from scratch: the new process did not start again at epoch 1
    resumed = [r for r in results if r["pid"] != results[0]["pid"]]
    assert resumed[0]["epoch"] > 1 and resumed[-1]["iterations_since_restore"] < 12


def test_a_trial_that_keeps_failing_ends_as_error_and_the_search_goes_on(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    # the tiny model has 512 positions: every max_length 1024 trial fails, on every retry
    proc = run(search_cmd(data, tmp_path / "out", "--name", "failing", "--max-concurrent", "1",
                          "--set", "smoke.num_samples=4", "--set", "smoke.startup_trials=4",
                          "--set", "smoke.seed=1",
                          "--set", "smoke.space={max_length: {choice: [64, 1024]}, mode: {choice: [boost]}}"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = read_csv(tmp_path / "out" / "failing" / "results.csv")
    failed = [t for t in trials if t["status"] == "error"]
    assert len(trials) == 4 and failed and len(failed) < 4
    assert all(t["max_length"] == "1024" and "--max_length 1024" in t["error"] for t in failed)
    assert "Failed trials:" in (tmp_path / "out" / "failing" / "results.md").read_text()


def test_checkpoints_on_disk_stay_bounded(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    proc = run(search_cmd(data, tmp_path / "out", "--name", "bounded", "--set", "smoke.fixed.n_epochs=5",
                          "--set", "smoke.space.mode.choice=[boost]", "--set", "scheduler.type=none"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    trial_dirs = list((tmp_path / "out" / "bounded" / "trials").glob("trial_*"))
    assert len(trial_dirs) == 4
    for trial in trial_dirs:
        # num_to_keep 1: the best epoch's checkpoint, plus the latest while it differs
        assert 1 <= len(list(trial.glob("checkpoint_*"))) <= 2, trial.name
    assert not list((tmp_path / "out" / "bounded" / "cache" / "checkpoint-staging").iterdir())


def test_cluster_configs_pass_rays_own_validation():
    import copy
    from ray.autoscaler._private.util import prepare_config, validate_config
    for name in ("cluster.yaml", "cluster-local.yaml"):
        config = yaml.safe_load((ROOT / name).read_text())
        validate_config(prepare_config(copy.deepcopy(config)))
    aws = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    ports = {(p["FromPort"], p["ToPort"]) for p in aws["provider"]["security_group"]["IpPermissions"]}
    assert ports == {(22, 22)}  # nothing but SSH from outside
    assert "--dashboard-host=127.0.0.1" in " ".join(aws["head_start_ray_commands"])
    assert "MarketType" not in json.dumps(aws["available_node_types"][aws["head_node_type"]])
    assert any("spot" in json.dumps(t) for t in aws["available_node_types"].values())
