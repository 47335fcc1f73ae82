"""Multi-node searches and faults, on one machine: a Ray cluster of several nodes on 127.0.0.1.

ray.cluster_utils.Cluster starts real raylets (one per node) on loopback; every test stops what
it started, also when it fails.
"""
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, read_csv, run, search_cmd, write_imdb_like

pytestmark = [pytest.mark.ray, pytest.mark.cluster]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(monkeypatch):
    # a short session folder: Ray's socket paths must fit in 107 bytes
    ray_tmp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    import ray
    from ray.cluster_utils import Cluster
    # the dashboard also serves the state API that a Tune trial driving a TorchTrainer polls
    # on a free port: a Ray the user runs beside the tests keeps 8265
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": True,
                                                         "dashboard_host": "127.0.0.1", "dashboard_port": free_port()})
    try:
        yield made
    finally:
        ray.shutdown()
        made.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def tiny_model_for(data_dir, folder):
    from bertclf.data.examples import read_examples
    from bertclf.models.tiny_model import build_tiny_bert
    return build_tiny_bert(folder, read_examples(data_dir / "imdb_train.csv.gz").texts[:400], vocab_size=800)


def search(cluster, data, out, name, overrides, num_samples):
    import ray
    from bert_hpo_distributed.plan import SearchOptions
    from bert_hpo_distributed.search import run_search
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
        f"fixed.bert_name={model}", "cpu.fixed={n_epochs: 1, batch_size: 16, max_length: 64, "
        "max_train_samples: null, max_valid_samples: null, pooling: mean, lr: 0.003, lr_main: 0.001}",
        "cpu.space={dropout_p: {uniform: [0.0, 0.1]}, mode: {choice: [finetune]}}",
        "cpu.resources={workers_per_trial: 2, cpus_per_worker: 0.9, placement: STRICT_SPREAD}",
        "cpu.max_test_samples=50", "scheduler.type=none"], num_samples=1)
    assert summary["trials"] == 1 and summary["errors"] == 0 and summary["statuses"] == {"completed": 1}
    assert Path(summary["written"]["best_model"]).joinpath("encoder", "model.safetensors").exists()
    # the test score asked for the cluster's 2 free CPUs once, which no 1-CPU node has: it never ran
    import ray
    from bert_hpo_distributed.ray_session import cpus_each
    assert ray.cluster_resources()["CPU"] == 2 and cpus_each() == cpus_each(free_now=True) == 1


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
    assert summary["statuses"] == {"completed": 1} and summary["errors"] == 0
    trial = next((out / "killed" / "trials").glob("trial_*"))
    results = [json.loads(line) for line in (trial / "result.json").read_text().strip().splitlines()]
    assert results[-1]["epoch"] == 12 and results[-1]["done_reason"] == "completed"
    processes = {}  # pid -> its reports, in order
    for r in results:
        processes.setdefault(r["pid"], []).append(r)
    story = {pid: [r["epoch"] for r in reports] for pid, reports in processes.items()}
    # another process finished the trial; on a loaded machine (CI) Ray restarted it once more, which
    # max_failures=2 allows
    first, *later = processes.values()
    assert 1 <= len(later) <= 2, story
    # each later process resumed from a checkpoint, not from scratch: its first report is its first
    # iteration, past the first process's first epoch, and no further than one epoch past what came before
    for before, reports in zip([first, *later], later):
        assert reports[0]["iterations_since_restore"] == 1, story
        assert first[0]["epoch"] < reports[0]["epoch"] <= before[-1]["epoch"] + 1, story


def test_checkpoints_on_disk_stay_bounded(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    proc = run(search_cmd(data, tmp_path / "out", "--name", "bounded", "--set", "smoke.fixed.n_epochs=5",
                          "--set", "smoke.space.mode.choice=[boost]", "--set", "scheduler.type=none",
                          "--keep-checkpoints"))  # else deleted at the end: the bound is what the search keeps
    assert proc.returncode == 0, proc.stderr[-3000:]
    trial_dirs = list((tmp_path / "out" / "bounded" / "trials").glob("trial_*"))
    assert len(trial_dirs) == 4
    for trial in trial_dirs:
        # checkpoints are kept at improving checks only, and num_to_keep is 1: one per trial
        assert len(list(trial.glob("checkpoint_*"))) == 1, trial.name


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
    # an image new enough for the pinned torch on every node; workers may write to S3
    nodes = aws["available_node_types"]
    assert {n["node_config"]["ImageId"] for n in nodes.values()} == {
        "resolve:ssm:/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id"}
    assert all("IamInstanceProfile" in n["node_config"] for name, n in nodes.items() if name != aws["head_node_type"])
    assert "torch.cuda.is_available()" in " ".join(aws["worker_setup_commands"])
    for config in (aws, yaml.safe_load((ROOT / "cluster-local.yaml").read_text())):  # one token on every node
        assert "/home/ubuntu/.ray/auth_token" in config["file_mounts"]
        assert all("RAY_AUTH_MODE=token" in c for c in config["head_start_ray_commands"] if "ray start" in c)
        assert all("RAY_AUTH_MODE=token" in c for c in config["worker_start_ray_commands"] if "ray start" in c)


# --- a cluster whose nodes share nothing but the storage path ---------------------------------

NAMESPACED_CLUSTER = r"""
set -eu
ip link set lo up
# alone on loopback in this network namespace: nothing to advertise beyond 127.0.0.1, so the
# multi-node guard is off; every process of the cluster shares one authentication token
unset RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN="$(python -c 'import secrets; print(secrets.token_hex(32))')"
ray start --head --num-cpus=0 --port=$PORT --include-dashboard=true --dashboard-host=127.0.0.1 > "$LOGS/head.log" 2>&1
# the worker node in its own mount namespace: the head's data, cache and output folders are empty there
unshare -m --propagation private sh -c "mount -t tmpfs none $DATA && mount -t tmpfs none $XDG_CACHE_HOME && \
  mount -t tmpfs none $OUT && ray start --address=127.0.0.1:$PORT --num-cpus=2 > $LOGS/worker.log 2>&1"
set +e
python "$LAUNCH" "$@" --address 127.0.0.1:$PORT > "$LOGS/driver.log" 2>&1
echo $? > "$LOGS/driver.status"
ray stop > /dev/null 2>&1  # a PID namespace of its own: only this cluster's processes are seen
"""


def namespaces_work() -> bool:
    import shutil
    import subprocess
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-n", "-p", "-f", "--mount-proc", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not namespaces_work(), reason="needs unshare (network, PID and mount namespaces)")
def test_workers_that_cannot_read_the_heads_folders_get_everything_through_ray(tmp_path):
    import subprocess
    data = write_imdb_like(tmp_path / "data")
    folders = {name: tmp_path / name for name in ("cache", "out", "storage", "logs")}
    for folder in folders.values():
        folder.mkdir()
    folders["ray"] = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # socket paths must fit in 107 bytes
    args = ["--search", "imdb", "--smoke-test", "--data-dir", str(data), "--cpu", "--max-concurrent", "1",
            "--refit", "--set", "smoke.space.mode.choice=[boost, finetune]"]
    env = dict(os.environ, PORT="6391", DATA=str(data), XDG_CACHE_HOME=str(folders["cache"]), OUT=str(folders["out"]),
               LOGS=str(folders["logs"]), LAUNCH=str(ROOT / "launch.py"), RAY_TMPDIR=str(folders["ray"]),
               PYTHONUNBUFFERED="1")
    script = tmp_path / "cluster.sh"
    script.write_text(NAMESPACED_CLUSTER)
    try:
        subprocess.run(["unshare", "-n", "-p", "-f", "--mount-proc", "bash", str(script), *args,
                        "--output-dir", str(folders["out"]), "--storage-path", str(folders["storage"])],
                       env=env, timeout=540, check=False)
    finally:  # the PID namespace ended with the script: every process of that cluster is gone
        shutil.rmtree(folders["ray"], ignore_errors=True)
    driver_log = (folders["logs"] / "driver.log").read_text()
    assert (folders["logs"] / "driver.status").read_text().strip() == "0", driver_log[-3000:]
    cluster_run = folders["storage"] / "imdb-smoke"
    trials = read_csv(cluster_run / "results.csv")
    assert len(trials) == 4 and all(t["status"] != "error" for t in trials), trials
    assert "Refit of the best configuration on all of train" in (cluster_run / "results.md").read_text()
    assert "boost: computing frozen features" in driver_log  # on the worker node, in a Ray task

    # the same search on one machine, one trial at a time: the same trials with the same results
    local = run(search_cmd(data, tmp_path / "local", "--cpu", "--max-concurrent", "1",
                           "--set", "smoke.space.mode.choice=[boost, finetune]"))
    assert local.returncode == 0, local.stderr[-3000:]
    local_trials = read_csv(tmp_path / "local" / "imdb-smoke" / "results.csv")
    key = lambda t: (t["lr"], t["lr_main"], t["max_length"], t["mode"])  # noqa: E731
    assert sorted(map(key, trials)) == sorted(map(key, local_trials))
    by_config = {key(t): t for t in local_trials}
    for t in trials:
        assert float(t["best_valid_accuracy"]) == pytest.approx(float(by_config[key(t)]["best_valid_accuracy"]))
        assert float(t["best_valid_loss"]) == pytest.approx(float(by_config[key(t)]["best_valid_loss"]), rel=1e-3)


def test_trials_wait_for_nodes_that_the_autoscaler_adds_then_run_in_parallel(cluster, tmp_path):
    import threading
    from ray.autoscaler.v2.sdk import get_cluster_status
    data = write_imdb_like(tmp_path / "data")
    outcome = {}

    def run_search_in_background():
        import ray
        from bert_hpo_distributed.plan import SearchOptions
        from bert_hpo_distributed.search import run_search
        ray.init(address=cluster.address, log_to_driver=False)
        # on a cluster, every trial is in flight by default: here both; 40 epochs make each trial last
        # seconds even on a quiet machine (12 lasted 3.5 s), so an overlap shows in Ray's whole-second stamps
        try:
            outcome["summary"] = run_search(SearchOptions(
                search="imdb", smoke_test=True, data_dir=str(data), output_dir=str(tmp_path / "out"), name="grow",
                address=cluster.address, force_cpu=True, overrides=[
                    "smoke.num_samples=2", "smoke.space={lr_main: {loguniform: [3e-4, 3e-3]}}",
                    "smoke.fixed.n_epochs=40", "smoke.fixed.early_stop=-1", "smoke.fixed.degenerate_check=false",
                    "scheduler.type=none"]))
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = e
    driver = threading.Thread(target=run_search_in_background, daemon=True)
    driver.start()
    # the head has no CPU: both trials are pending (Tune reserves a trial's resources as a placement
    # group), and that is the demand the autoscaler is shown
    deadline, pending = time.time() + 120, 0
    while time.time() < deadline and pending < 2:
        time.sleep(0.5)
        demands = get_cluster_status(cluster.address).resource_demands.placement_group_demand
        pending = sum(d.count for demand in demands if demand.state == "PENDING" for d in demand.bundles_by_count
                      if d.bundle.get("CPU") == 1.0)
    assert pending == 2, f"pending one-CPU trial demands seen: {pending}"
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    driver.join(timeout=300)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["summary"]["statuses"] == {"completed": 2}
    rows = [json.loads(line) for result in (tmp_path / "out" / "grow" / "trials").glob("trial_*/result.json")
            for line in result.read_text().splitlines()[-1:]]
    spans = [(r["timestamp"] - r["time_total_s"], r["timestamp"]) for r in rows]  # Ray's timestamp: whole seconds
    assert max(start for start, _ in spans) + 1 < min(end for _, end in spans), f"the trials did not overlap: {spans}"


@pytest.fixture
def gpu_cluster(monkeypatch):
    """One node that declares a GPU it does not have: what a GPU node with a CPU-only torch looks like."""
    ray_tmp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    from ray.cluster_utils import Cluster
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 1})
    try:
        yield made
    finally:
        made.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_a_gpu_that_torch_cannot_use_is_one_line_before_any_trial(gpu_cluster, tmp_path):
    proc = run([sys.executable, str(ROOT / "launch.py"), "--search", "imdb", "--smoke-test", "--output-dir",
                str(tmp_path / "out"), "--address", gpu_cluster.address], timeout=180)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-3000:]
    assert "cannot use CUDA" in errors[0] and "CPU-only build" in errors[0]
    # no trial ran: the recipe line may name the first trial's values, no "trial N/M" line follows it
    assert "Traceback" not in proc.stderr and not any(line.startswith("[bert-hpo] trial ")
                                                      for line in proc.stderr.splitlines())


def test_gpu_nodes_that_never_come_are_one_line_after_the_wait(cluster, tmp_path):
    started = time.time()
    proc = run([sys.executable, str(ROOT / "launch.py"), "--search", "imdb", "--smoke-test", "--output-dir",
                str(tmp_path / "out"), "--address", cluster.address, "--gpu-wait", "3"], timeout=180)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-3000:]
    assert "no GPU became available within 3 s" in errors[0] and time.time() - started < 90
