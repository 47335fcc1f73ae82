"""The search end to end on a local Ray: smoke search, ASHA, DDP equivalence, resume.

Each test that starts Ray stops it, also when it fails (a subprocess, or a fixture's finally).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bertclf.smoke import synthetic_korquad
from tests.helpers import (ROOT, lines_until, read_csv, run, search_cmd, sentiment_rows, start_search, write_csv,
                           write_imdb_like)

pytestmark = pytest.mark.ray


def wait_for_finished_trials(trials_dir: Path, count: int, timeout: float = 240) -> dict:
    """{result.json path: its bytes} of the first `count` trials whose last result says done."""
    finished = {}
    deadline = time.time() + timeout
    while time.time() < deadline and len(finished) < count:
        time.sleep(0.3)
        for result in trials_dir.glob("*/result.json"):
            lines = result.read_text().strip().splitlines()
            if lines and json.loads(lines[-1]).get("done"):
                finished.setdefault(result, result.read_bytes())
    assert finished, "no trial finished in time"
    return finished


def test_same_seed_gives_same_trial_configurations(tmp_path):
    from bert_hpo_distributed.searchers import search_algorithm
    from bert_hpo_distributed.spec.load import load_spec

    def suggestions():
        spec = load_spec("imdb", profile=["cpu", "smoke"])
        searcher = search_algorithm(spec, concurrency=2, points=[]).searcher  # TPE, under the budget's limiter
        return [searcher.suggest(f"t{i}") for i in range(4)]
    assert suggestions() == suggestions()


def test_tpe_models_after_the_specs_startup_trials_whatever_is_in_flight():
    """The start-up is no longer shrunk by the trials in flight: with 6 start-up trials and 8 in flight
    the shrink left TPE modelling from one finished trial (bench/results/simulation/simulation_cluster_report.md)."""
    from bert_hpo_distributed.searchers import search_algorithm
    from bert_hpo_distributed.spec.load import load_spec
    spec = load_spec("imdb", ["startup_trials=6"])
    for concurrency in (1, 4, 8):
        # TrainedStartupTPE holds the start-up itself (it counts trained trials only: tolerant_optuna.py)
        assert search_algorithm(spec, concurrency=concurrency, points=[]).searcher._sampler.startup == 6


def test_a_cluster_keeps_every_trial_in_flight_unless_capped():
    """On a cluster (no --max-concurrent, no max_concurrent in the spec) every trial is in flight: the
    pending ones are the autoscaler's demand, and capping them at a quarter did worse on the simulator
    (bench/results/simulation/simulation_cluster_report.md); locally what the CPUs hold; an explicit cap wins."""
    from bert_hpo_distributed.plan import _concurrency
    from bert_hpo_distributed.spec.load import flag_overrides, load_spec
    spec = load_spec("imdb", ["num_samples=128"], profile=["cpu"])
    assert _concurrency(spec, use_gpu=False, local=False, cpus=2) == 128
    capped = load_spec("imdb", ["num_samples=128"], profile=["cpu"], flags=flag_overrides({"max_concurrent": 32}))
    assert _concurrency(capped, use_gpu=False, local=False, cpus=2) == 32
    in_spec = load_spec("imdb", ["num_samples=128", "max_concurrent=50"], profile=["cpu"])
    assert _concurrency(in_spec, use_gpu=False, local=False, cpus=2) == 50
    assert _concurrency(spec, use_gpu=False, local=True, cpus=2) == 2  # one CPU per trial


def test_missing_data_gives_one_clear_line(tmp_path):
    proc = run(search_cmd(tmp_path / "empty", tmp_path / "out"), timeout=120)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1
    assert "imdb_train.csv" in errors[0] and "--data-dir" in errors[0]
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for this module's in-process tests (starting one costs seconds), stopped after the last."""
    import ray
    from bert_hpo_distributed import ray_compat
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray.init(num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1",
             **ray_compat.local_init_options(), log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def shared_for(config):
    """What a search would ship to its trials for `config`: its inputs, in Ray's object store."""
    import ray
    from bert_hpo_distributed.shared import Shared
    from bertclf.inputs import inputs_key, prepared_for
    return Shared(inputs={inputs_key(config): ray.put(prepared_for(config, lambda m: None))})


@pytest.mark.parametrize("windows", [False, True])
def test_two_gloo_workers_match_one_worker(local_ray, config_for, tmp_path, windows):
    from bert_hpo_distributed.trial import torch_trainer
    from bertclf.train import train

    # 80 valid texts in batches of 32: one worker evaluates 2 batches, the other 1
    options = dict(n_epochs=1, batch_size=16, gradient_accumulation_steps=2, eval_batch_size=32, save_path=str(tmp_path))
    if windows:  # texts of 1 to 9 windows: the two workers run different numbers of forward passes a step
        rows = [((text + " ") * (1 + i % 9), label) for i, (text, label) in enumerate(sentiment_rows(96, seed=4))]
        options.update(train_path=write_csv(tmp_path / "long.csv", rows), truncation="chunks", max_length=16,
                       doc_stride=4, max_chunks=9)
    config = config_for(**options)
    single = []
    train(config, report=lambda m, save: single.append(m), save_run=False)
    trainer = torch_trainer(config, shared_for(config), workers=2, use_gpu=False, cpus_per_worker=0.9, placement="PACK",
                            name="ddp", storage_path=str(tmp_path / "ray"), checkpoints_to_keep=1, max_failures=0,
                            metric="valid_accuracy", every_check=True)
    result = trainer.fit()
    assert result.metrics["train_loss"] == pytest.approx(single[0]["train_loss"], rel=1e-4)
    assert result.metrics["valid_loss"] == pytest.approx(single[0]["valid_loss"], rel=1e-4)
    assert result.metrics["valid_accuracy"] == pytest.approx(single[0]["valid_accuracy"])


def test_each_gloo_worker_draws_its_own_dropout_and_saves_its_own_random_state(local_ray, config_for, tmp_path):
    from bert_hpo_distributed.trial import torch_trainer
    from bertclf.checkpoint import TRAINER_STATE
    config = config_for(n_epochs=1, dropout_p=0.3, save_path=str(tmp_path))
    trainer = torch_trainer(config, shared_for(config), workers=2, use_gpu=False, cpus_per_worker=0.9, placement="PACK",
                            name="seeds", storage_path=str(tmp_path / "ray"), checkpoints_to_keep=1, max_failures=0,
                            metric="best_valid_accuracy", every_check=True)
    with trainer.fit().checkpoint.as_directory() as folder:
        states = torch.load(f"{folder}/{TRAINER_STATE}", weights_only=True)["rng"]
    assert len(states) == 2 and not torch.equal(states[0]["cpu"], states[1]["cpu"])


def test_asha_stops_a_hopeless_trial_early(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    # Fine-tuning with the head's lr fixed at 1e-7: an encoder lr of 3e-3 learns (valid accuracy
    # 0.58, 0.75, 0.96, 1.0 by epoch on this data), one of 1e-7 learns nothing (0.5 throughout).
    # Seed 6 draws (all four in TPE's random phase, run one at a time) good, good, hopeless, good:
    # when the hopeless trial reaches ASHA's rungs, better trials are recorded there.
    proc = run(search_cmd(data, tmp_path / "out", "--name", "asha", "--max-concurrent", "1",
                          "--set", "smoke.num_samples=4", "--set", "smoke.fixed.n_epochs=4",
                          "--set", "smoke.seed=6", "--set", "smoke.startup_trials=4",
                          "--set", "smoke.fixed.lr=1.0e-7",
                          "--set", "smoke.space={lr_main: {choice: [0.003, 1.0e-7]}, mode: {choice: [finetune]}}"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = read_csv(tmp_path / "out" / "asha" / "results.csv")
    stopped = [t for t in trials if t["status"] == "pruned (asha)"]
    assert len(stopped) == 1 and int(stopped[0]["epochs_run"]) < 4
    assert float(stopped[0]["lr_main"]) < 1e-6
    assert sum(t["status"] == "completed" for t in trials) == 3


def running_trial_with_checkpoint(trials_dir: Path, timeout: float = 240) -> Path:
    """A trial folder that holds a checkpoint but whose trial has not finished yet."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for trial in trials_dir.glob("trial_*"):
            lines = (trial / "result.json").read_text().strip().splitlines() if (trial / "result.json").exists() else []
            if lines and not json.loads(lines[-1]).get("done") and list(trial.glob("checkpoint_*")):
                return trial
        time.sleep(0.05)
    raise AssertionError("no running trial with a checkpoint was seen")


@pytest.mark.parametrize("how", ["ctrl-c", "driver killed"])
def test_interrupted_search_resumes_without_rerunning_finished_trials(tmp_path, how):
    data = write_imdb_like(tmp_path / "data")
    out = tmp_path / "out"
    cmd = search_cmd(data, out, "--name", "resume", "--max-concurrent", "1",
                     "--set", "smoke.num_samples=4", "--set", "smoke.fixed.n_epochs=6",
                     "--set", "smoke.space.mode.choice=[finetune]")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
    try:
        finished = wait_for_finished_trials(out / "resume" / "trials", 1)
        running = running_trial_with_checkpoint(out / "resume" / "trials")
        # Ctrl-C reaches the driver alone; a crash takes the driver and the Ray it started
        os.killpg(proc.pid, signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        output = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    if how == "ctrl-c":
        assert proc.returncode == 130, output[-3000:]
        assert "--resume" in output
    else:
        # the worst a crash leaves behind: Tune's state names a checkpoint that num_to_keep deleted
        for checkpoint in running.glob("checkpoint_*"):
            shutil.rmtree(checkpoint)
    assert not (out / "resume" / "results.csv").exists()

    resumed = run(cmd + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = read_csv(out / "resume" / "results.csv")
    assert len(trials) == 4 and all(t["status"] != "error" for t in trials), trials
    for result_file, content in finished.items():
        assert result_file.read_bytes() == content, f"{result_file.parent.name} was re-run"
    # the resumed search went on in the same study: nothing left running; after Ctrl-C (Tune saved its
    # state as it stopped) each trial once, with its score and its checks. After a killed driver the
    # study can differ from results.csv (a trial run again from its start stays FAIL): not asserted
    import optuna
    study = optuna.load_study(study_name="resume", storage=f"sqlite:///{out / 'resume' / 'optuna.db'}")
    assert not [t for t in study.trials if t.state.name == "RUNNING"]
    if how == "ctrl-c":
        told = {f"trial_{t.user_attrs['tune_trial']}": t for t in study.trials}
        assert len(study.trials) == 4 and sorted(told) == sorted(t["trial"] for t in trials)
        for trial in trials:
            assert told[trial["trial"]].value == float(trial["best_valid_accuracy"])
            assert told[trial["trial"]].intermediate_values


def write_nsmc_like(folder: Path, n_train=300, n_test=100):
    import random
    rng = random.Random(3)
    good, bad = ["최고", "재밌다", "감동", "추천"], ["최악", "지루", "별로", "실망"]
    filler = "영화 배우 연기 스토리 감독 장면 오늘 정말".split()
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("ratings_train.txt", n_train), ("ratings_test.txt", n_test)):
        lines = ["id\tdocument\tlabel"]
        for i in range(n):
            y = i % 2
            words = rng.sample(filler, 3) + [rng.choice(good if y else bad)]
            rng.shuffle(words)
            text = " ".join(words) + (' "진짜"" 그렇다' if i % 7 == 0 else "")  # NSMC's bare quotes
            lines.append(f"{i}\t{'' if i == 5 else text}\t{y}")
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_nsmc_smoke_search(tmp_path):
    data = write_nsmc_like(tmp_path / "data")
    cmd = [sys.executable, str(ROOT / "launch.py"), "--search", "nsmc", "--smoke-test", "--data-dir",
           str(data), "--output-dir", str(tmp_path / "out"), "--num-cpus", "2"]
    proc = run(cmd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = read_csv(tmp_path / "out" / "nsmc-smoke" / "results.csv")
    assert len(trials) == 4 and all(t["status"] != "error" for t in trials)
    assert "test accuracy" in (tmp_path / "out" / "nsmc-smoke" / "results.md").read_text()


def test_korquad_smoke_search_splits_the_dev_set_by_article(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    synthetic_korquad(data / "KorQuAD_v1.0_dev.json", n_articles=8)  # the dev set only, as on this machine
    cmd = [sys.executable, str(ROOT / "launch.py"), "--search", "korquad", "--smoke-test", "--data-dir",
           str(data), "--output-dir", str(tmp_path / "out"), "--num-cpus", "2"]
    proc = run(cmd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out" / "korquad-smoke"
    trials = read_csv(out / "results.csv")
    assert len(trials) == 4 and all(t["best_valid_f1"] != "" for t in trials)
    md = (out / "results.md").read_text()
    assert "| valid EM | valid F1 |" in md and "test EM" in md
    assert "split by article" in md and "not comparable to published dev-set scores" in md
    assert json.loads((out / "best_model" / "bert_hpo_model.json").read_text())["task"] == "qa"


def test_warm_start_evaluates_the_earlier_best_first(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    # an earlier search's results.csv: its two best configurations come first, best first; the third
    # lies outside this space (lr_main above its bound) and is left out
    (earlier / "results.csv").write_text(
        "trial,status,lr,lr_main,max_length,best_valid_accuracy\n"
        "a,completed,0.004,0.0005,64,0.71\nb,completed,0.02,0.002,128,0.93\nc,completed,0.01,0.05,64,0.99\n")
    proc = run(search_cmd(data, tmp_path / "out", "--name", "warm", "--max-concurrent", "1", "--warm-start",
                          str(earlier), "--set", "smoke.num_samples=3", "--set", "smoke.startup_trials=2",
                          "--set", "scheduler.type=none", "--set", "smoke.space.mode.choice=[finetune]"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the order Tune created the trials in: the counter that starts each experiment tag ("1_dropout_p=...");
    # result timestamps are whole seconds, too coarse to order trials that start within one second
    (state,) = (tmp_path / "out" / "warm" / "trials").glob("experiment_state-*.json")
    trials = [json.loads(entry[0]) for entry in json.loads(state.read_text())["trial_data"]]
    configs = [t["config"] for t in sorted(trials, key=lambda t: int(t["experiment_tag"].split("_")[0]))]
    assert [(c["lr"], c["lr_main"], c["max_length"]) for c in configs[:2]] == [(0.02, 0.002, 128), (0.004, 0.0005, 64)]
    assert configs[0]["dropout_p"] == configs[1]["dropout_p"] == 0.1  # not searched before: the default point


def test_pbt_search_exploits_and_completes(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    proc = run(search_cmd(data, tmp_path / "out", "--name", "pbt", "--set", "smoke.num_samples=4",
                          "--set", "scheduler={type: pbt, perturbation_interval: 1, quantile_fraction: 0.25}",
                          "--set", "smoke.fixed.n_epochs=4", "--set", "smoke.space.mode.choice=[finetune]"),
               timeout=600)  # 16 epochs and every exploit's restart: over 400 s on a loaded 2-core machine
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = read_csv(tmp_path / "out" / "pbt" / "results.csv")
    assert len(trials) == 4 and all(t["status"] != "error" for t in trials)
    exploits = (tmp_path / "out" / "pbt" / "trials" / "pbt_global.txt").read_text().strip().splitlines()
    assert exploits, "PBT never copied a better trial's weights"
    # every row is its trial's best check among the checks it ran itself since it was last given
    # another's weights (as its own log shows them), whenever PBT's exploits landed
    for row in trials:
        log = tmp_path / "out" / "pbt" / "trials" / row["trial"] / "trial.log"
        epoch, loss, accuracy = _best_own_check(log.read_text())
        assert (float(row["best_epoch"]), f"{float(row['best_valid_loss']):.4f}",
                f"{float(row['best_valid_accuracy']):.4f}") == (epoch, loss, accuracy), row["trial"]
    # the exported best model scores what its row reports, and was trained with the row's configuration
    best, exported = trials[0], tmp_path / "out" / "pbt" / "best_model"
    search_config = json.loads((exported / "search_config.json").read_text())
    assert search_config["trial"] == best["trial"]
    assert all(str(value) == best[key] for key, value in search_config["sampled"].items())
    assert _valid_accuracy(exported, search_config["train_options"]) == float(best["best_valid_accuracy"])


def _best_own_check(log: str):
    """(epoch, valid loss, valid accuracy as logged) of the best check in a trial's log, among the
    checks since the run was last given another run's weights (before that, when none followed)."""
    runs = [[]]
    for line in log.splitlines():
        if "another run's weights" in line:
            runs.append([])
        found = re.match(r"epoch ([0-9.]+): .*valid loss ([0-9.]+), valid accuracy ([0-9.]+)", line)
        if found:
            runs[-1].append((float(found[1]), found[2], found[3]))
    checks = next(run for run in reversed(runs) if run)
    return max(checks, key=lambda c: (float(c[2]), -float(c[1])))


def _valid_accuracy(model_dir, train_options) -> float:
    """The model re-scored on the validation examples its search ranked it on, through the same
    batches and precision as the trial's checks."""
    from dataclasses import replace
    from bertclf.config import TrainConfig
    from bertclf.inputs import prepare_inputs
    from bertclf.predict import score_model
    config = TrainConfig.from_dict(train_options)
    inputs = prepare_inputs(config, lambda message: None)
    valid = replace(inputs, tokens={"test": inputs.tokens["valid"]}, labels={"test": inputs.labels["valid"]})
    return score_model(model_dir, valid, cache_dir=config.cache_dir, device="cpu", precision=config.precision,
                       batch_size=config.eval_batch_size)["accuracy"]


def test_a_refit_that_cannot_split_its_batches_is_refused_before_the_first_trial(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    proc = run(search_cmd(data, tmp_path / "out", "--refit", "--set", "resources.refit_workers=3"))
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "resources.refit_workers is 3 workers" in last, last
    assert not list((tmp_path / "out").glob("*/trials/trial_*")), "trials ran before the refit was checked"


def test_gloo_workers_read_their_own_inputs_without_shared_inputs(local_ray, config_for, tmp_path):
    from bert_hpo_distributed.shared import Shared
    from bert_hpo_distributed.trial import torch_trainer
    config = config_for(n_epochs=1, save_path=str(tmp_path))
    trainer = torch_trainer(config, Shared(), workers=2, use_gpu=False, cpus_per_worker=0.9, placement="PACK",
                            name="own-inputs", storage_path=str(tmp_path / "ray"), checkpoints_to_keep=1,
                            max_failures=0, metric="best_valid_accuracy", every_check=True)
    assert trainer.fit().metrics["valid_accuracy"] > 0


def test_two_gloo_workers_check_on_rank_0s_clock_at_the_same_step(local_ray, config_for, tmp_path):
    """A refit's checkpoints inside its epoch (refit_checkpoint_every): with several workers, rank 0's
    clock is heard every train.CLOCK_SYNC_STEPS steps, and every worker checks there or none does (a
    worker alone in a check's all-reduce would wait for ever)."""
    from bert_hpo_distributed.trial import torch_trainer
    from bertclf.train import CLOCK_SYNC_STEPS
    config = config_for(valid_path=None, valid_fraction=0.0, n_epochs=1, batch_size=8)  # 320 texts: 40 steps
    trainer = torch_trainer(config, shared_for(config), workers=2, use_gpu=False, cpus_per_worker=0.9,
                            placement="PACK", name="clock", storage_path=str(tmp_path / "ray"), checkpoints_to_keep=10,
                            max_failures=0, metric=None, every_check=True, check_every_s=1e-9)
    reports = trainer.fit().metrics_dataframe
    assert CLOCK_SYNC_STEPS == 20 and list(reports["epoch"]) == [0.5, 1.0]  # after step 20 on the clock, 40 the end


def test_refit_on_two_gloo_workers_gives_the_weights_of_one(local_ray, config_for, tmp_path):
    from safetensors.torch import load_file
    from bert_hpo_distributed.refit import refit_config
    from bert_hpo_distributed.spec.bind import fix_options
    from bert_hpo_distributed.spec.load import load_spec
    from bert_hpo_distributed.trial import torch_trainer
    # the refit's own options: all of train, no validation, the best trial's epochs rounded up
    spec = fix_options(load_spec("imdb", profile=["smoke"]), {k: v for k, v in config_for().to_dict().items()
                                                              if k not in ("task", "valid_path", "run_name")})
    config = refit_config(spec, {"mode": "finetune", "lr": 3e-3, "lr_main": 1e-3, "max_length": 32,
                                 "gradient_accumulation_steps": 2, "dropout_p": 0.0}, best_epoch=1.5)
    assert (config.n_epochs, config.valid_fraction, config.valid_path, config.early_stop) == (2, 0.0, None, -1)
    weights = {}
    for workers in (1, 2):
        trainer = torch_trainer(config, shared_for(config), workers=workers, use_gpu=False, cpus_per_worker=0.9,
                                placement="PACK", name=f"refit-{workers}", storage_path=str(tmp_path / "ray"),
                                checkpoints_to_keep=1, max_failures=0, metric=None, every_check=True)
        with trainer.fit().checkpoint.as_directory() as folder:
            weights[workers] = {**load_file(f"{folder}/encoder/model.safetensors"),
                                **{f"head.{k}": v for k, v in load_file(f"{folder}/head.safetensors").items()}}
    assert weights[1].keys() == weights[2].keys()
    for name in weights[1]:
        torch.testing.assert_close(weights[2][name], weights[1][name], atol=1e-5, rtol=1e-4)


def test_a_refit_interrupted_goes_on_from_its_checkpoint_then_the_finished_search_resumed_says_so(tmp_path):
    """One search for four things: the refit reads its own inputs when the trials share none; it
    checkpoints inside its epoch (refit_checkpoint_every); a refit interrupted (as a refit that ran out
    of memory, it leaves the record `refit pending`) runs on --resume, which has no trial left to run,
    from its latest checkpoint; a finished search resumed says so and cannot be given more trials."""
    data = write_imdb_like(tmp_path / "data", n_train=200, n_test=60)
    cmd = search_cmd(data, tmp_path / "out", "--name", "done", "--no-shared-inputs", "--refit",
                     "--set", "smoke.num_samples=2", "--set", "smoke.fixed.n_epochs=1",
                     "--set", "smoke.space.mode.choice=[finetune]", "--set", "refit_checkpoint_every=0.001")
    proc = start_search(cmd)
    try:
        for _ in range(4):  # a check, and so a checkpoint, after each step
            lines = lines_until(proc, "[bert-hpo] refit: epoch 0.")
        assert lines[-1].startswith("[bert-hpo] refit: epoch 0."), lines[-5:]
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C inside the refit's only epoch
        rest = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, rest[-3000:]
    assert rest.strip().splitlines()[-1].endswith("run the same command with --resume"), rest[-3000:]
    results = tmp_path / "out" / "done" / "results.md"
    assert "Refit of the best configuration" not in results.read_text()
    resumed = run(cmd + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[bert-hpo] the refit had not finished: it runs now" in resumed.stderr
    # the best model's test score is kept from the first run, and only the refit's is measured
    assert "[bert-hpo] test: all 60 examples of" in resumed.stderr and "scored before with these weights" \
        in resumed.stderr and resumed.stderr.count("[bert-hpo] test: scoring all") == 1, resumed.stderr[-3000:]
    step = re.search(r"\[bert-hpo\] refit: resumed from \S+ at epoch 1, step (\d+)", resumed.stderr)
    # not from the start: from the latest checkpoint Ray Train had recorded (the Ctrl-C may beat the last)
    assert step and int(step[1]) >= 1, resumed.stderr[-3000:]
    assert "Refit of the best configuration on all of train" in results.read_text()
    again = run(cmd + ["--resume"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"this search had finished already (2 trials, none run now): its outputs are in {tmp_path / 'out' / 'done'}" \
        in again.stderr
    assert "search done:" not in again.stderr  # said before the plan's line, so before Ray starts
    more = run(cmd + ["--resume", "--num-samples", "4"])
    assert more.returncode == 2
    assert more.stderr.strip().splitlines() == [
        f"error: --num-samples 4 with --resume: this search was started for 2 trials, and a resumed Ray Tune search "
        f"keeps that count; to search further from its best, start another: --name NEW --warm-start "
        f"{tmp_path / 'out' / 'done'}"]


def test_ray_lost_under_the_search_is_one_error_line_naming_resume(tmp_path):
    data = write_imdb_like(tmp_path / "data", n_train=200, n_test=60)
    out = tmp_path / "out"
    cmd = search_cmd(data, out, "--name", "lost", "--max-concurrent", "1", "--set", "smoke.num_samples=4",
                     "--set", "smoke.fixed.n_epochs=6", "--set", "smoke.space.mode.choice=[finetune]")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
    try:
        wait_for_finished_trials(out / "lost" / "trials", 1)
        # the raylet this search started (its session), killed as the OOM killer would
        table = subprocess.run(["ps", "-eo", "pid=,sid=,comm="], capture_output=True, text=True).stdout
        raylets = [int(pid) for pid, sid, name in (line.split(None, 2) for line in table.splitlines())
                   if int(sid) == proc.pid and name.strip() == "raylet"]
        assert len(raylets) == 1, table
        os.kill(raylets[0], signal.SIGKILL)
        console = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, console[-3000:]
    # the console (stdout and stderr) is the search's lines and one error line: the 20 lines of the
    # raylet's log that Ray publishes go to ray.log, which the line names when they came first
    lines = console.splitlines()
    assert all(line.startswith("[bert-hpo] ") for line in lines[:-1]), console[-3000:]
    assert lines[-1].startswith("error: Ray stopped under the search") and "--resume" in lines[-1], console[-3000:]
    if f"Ray's own account: {out / 'lost' / 'ray.log'}" in lines[-1]:
        assert "Raylet is terminated" in (out / "lost" / "ray.log").read_text()


def test_ctrl_c_before_the_trials_keeps_nothing_and_says_to_run_the_command_again(tmp_path):
    """Ctrl-C while the driver prepares (reading, tokenising, before Ray and the Tuner): nothing to resume."""
    out = tmp_path / "out"
    proc = subprocess.Popen(search_cmd(write_imdb_like(tmp_path / "data"), out), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                            start_new_session=True)
    try:
        first = proc.stderr.readline()  # the plan's first note: the data are read next, Ray starts after them
        assert first.startswith("[bert-hpo] "), first
        assert (out / "imdb-smoke").is_dir()  # the smoke slice is written there already
        os.killpg(proc.pid, signal.SIGINT)
        output = first + proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output[-3000:]
    assert output.splitlines()[-1] == ("interrupted before any trial started: nothing was kept; run the same "
                                       "command to start the search again"), output[-3000:]
    assert "--resume" not in output and "Traceback" not in output
    assert not (out / "imdb-smoke").exists()  # no folder left to block the same command


def test_a_space_mixing_lora_and_boost_exports_and_refits_a_merged_model(tmp_path):
    """mode lora beside boost in one space, the adapters' rank searched: every trial completes, and the
    winner (LoRA, given the encoder rate it needs and the boost head a rate too small to learn in time)
    is exported and refit (Ray Train) as adapters plus a merged encoder that --predict loads."""
    data = write_imdb_like(tmp_path / "data")
    proc = run(search_cmd(data, tmp_path / "out", "--name", "mix", "--set", "smoke.space.mode.choice=[lora, boost]",
                          "--set", "smoke.space.lora_r={choice: [2, 4]}", "--set", "smoke.fixed.n_epochs=2",
                          "--set", "smoke.fixed.lora_alpha=64", "--set", "smoke.fixed.lora_targets=attention+ffn",
                          "--set", "smoke.space.lr={loguniform: [1e-5, 2e-5]}",
                          "--set", "smoke.space.lr_main={loguniform: [1e-2, 2e-2]}", "--set", "refit=true"),
               timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out" / "mix"
    trials = read_csv(out / "results.csv")
    assert len(trials) == 4 and all(t["status"] != "error" for t in trials)
    assert {t["mode"] for t in trials} == {"lora", "boost"} and trials[0]["mode"] == "lora"
    for model in ("best_model", "refit_model"):
        meta = json.loads((out / model / "bert_hpo_model.json").read_text())
        assert meta["lora"]["r"] == int(trials[0]["lora_r"])
        assert (out / model / "adapter" / "adapter_model.safetensors").is_file()
        assert (out / model / "encoder" / "model.safetensors").is_file()
        predicted = run([sys.executable, str(ROOT / "launch.py"), "--predict", "--model", str(out / model),
                         "--text", "a wonderful film"])
        assert predicted.returncode == 0 and '"label"' in predicted.stdout, predicted.stderr[-2000:]


def test_a_smoke_search_over_precision_and_depth_checks_an_int8_winner(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    proc = run(search_cmd(data, tmp_path / "out", "--name", "deploy", "--set", "smoke.num_samples=3",
                          "--set", "smoke.space.precision.choice=[int8, fp32]",
                          "--set", "smoke.space.encoder_layers.choice=[1, 2]"), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out" / "deploy"
    trials = read_csv(out / "results.csv")
    assert {t["precision"] for t in trials} <= {"int8", "fp32"} and {t["encoder_layers"] for t in trials} <= {"1", "2"}
    best = json.loads((out / "best_model" / "search_config.json").read_text())["train_options"]
    meta = json.loads((out / "best_model" / "bert_hpo_model.json").read_text())
    assert meta["encoder_layers"] == best["encoder_layers"]
    card = (out / "best_model" / "README.md").read_text()
    int8 = out / "best_model" / "onnx" / "model_int8.onnx"
    said = [line for line in proc.stderr.splitlines() if "best_model: int8 copy" in line]
    if best["precision"] == "int8":  # both numbers measured, on the console and the card
        assert len(said) == 1 and re.search(r"valid_accuracy int8 \d\.\d{4}, fp32 \d\.\d{4}", said[0])
        assert said[0].split("best_model: ")[1] in card
        assert ("kept as onnx/model_int8.onnx" in said[0]) == int8.is_file()
    else:
        assert not said and "Precision int8" not in card and not int8.exists()
