"""A model's scores as it serves (distributed/scoring.py's Served): the console's words and results.csv's
fields, for an fp32 model and for int8 models whose copy was kept or not; the scores themselves decided as
the shipped model decides; the test split of a local CPU search scored in the driver."""
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bert_hpo_distributed import scoring
from bert_hpo_distributed.scoring import Served, score_served, served_columns
from bert_hpo_distributed.shared import Shared
from bertclf.int8_copy import Int8Check


def _check(int8: float) -> Int8Check:
    return Int8Check(metric="valid_accuracy", fp32=0.86, int8=int8, tolerance=0.5, fp32_mb=90.0, int8_mb=23.0)


def test_an_fp32_model_serves_its_fp32_copy():
    served = Served(copy="fp32", valid=0.861, test=0.855, test_data="100 examples of test.csv")
    assert served.describe("valid_accuracy") == "valid_accuracy 0.8610 (fp32), test 0.8550 on 100 examples of test.csv"
    assert served.columns("valid_accuracy") == {"served": "fp32", "served_valid_accuracy": 0.861,
                                                "served_test_accuracy": 0.855, "fp32_valid_accuracy": None,
                                                "int8_valid_accuracy": None}


def test_an_int8_model_shows_both_copies_and_which_one_serves():
    kept = Served(copy="int8", valid=0.858, test=0.85, test_data="100 examples", int8=_check(0.858))
    assert kept.describe("valid_accuracy") == "valid_accuracy 0.8580 (int8; fp32 0.8600), test 0.8500 on 100 examples"
    assert kept.columns("valid_accuracy")["fp32_valid_accuracy"] == 0.86
    dropped = Served(copy="fp32", valid=0.86, test=None, test_data="", int8=_check(0.70))
    assert dropped.describe("valid_accuracy") == "valid_accuracy 0.8600 (fp32; int8 0.7000, not kept)"
    assert dropped.columns("valid_accuracy")["int8_valid_accuracy"] == 0.70


def test_the_fields_are_named_after_the_metric():
    assert served_columns("valid_macro_f1") == ("served", "served_valid_macro_f1", "served_test_macro_f1",
                                                "fp32_valid_macro_f1", "int8_valid_macro_f1")


def test_a_model_with_a_tuned_threshold_is_served_at_it_on_valid_and_test(config_for, toy):
    """A two-label model whose meta holds a threshold far from 0.5: its served valid and test accuracy are
    its thresholded answers' (as --predict's), not the most probable label's."""
    from bertclf.inputs import prepare_inputs
    from bertclf.portable import write_portable
    from bertclf.predict import score_model, test_inputs
    from bertclf.train import train
    from tests.helpers import far_threshold
    config = config_for(n_epochs=6)
    run_dir = Path(train(config, log=lambda s: None)["run_dir"])
    write_portable(run_dir)
    threshold, thresholded = far_threshold(run_dir, prepare_inputs(config, lambda s: None))
    spec = SimpleNamespace(metric="valid_accuracy", max_test_samples=None, default_point=dict,
                           trial_config=lambda point: config)
    plan = SimpleNamespace(spec=spec, test_path=Path(toy["valid"]), models={config.bert_name: SimpleNamespace(
        source=config.bert_name)}, local_folder=lambda name: None)
    served = score_served(plan, run_dir, config)
    predicted = score_model(run_dir, test_inputs(run_dir, toy["valid"], config.cache_dir), cache_dir=config.cache_dir,
                            device="cpu", precision="fp32")
    assert served.copy == "fp32" and served.valid == pytest.approx(thresholded, abs=1e-12)
    assert served.test == pytest.approx(predicted["accuracy"], abs=1e-12)


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs for this module's tests, stopped after the last."""
    import ray
    from bert_hpo_distributed import ray_compat
    ray.init(num_cpus=2, include_dashboard=False, **ray_compat.local_init_options(), log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def _local_cpu_plan(tmp_path) -> SimpleNamespace:
    """A plan of a local search on the CPU, as score_on_test reads it."""
    config = SimpleNamespace(cache_dir=str(tmp_path / "cache"), eval_batch_size=8)
    spec = SimpleNamespace(trial_config=lambda point: config, default_point=dict, max_test_samples=None,
                           resources=SimpleNamespace(cpus_per_worker=1))
    return SimpleNamespace(local=True, use_gpu=False, spec=spec, test_path=tmp_path / "test.csv",
                           out_dir=tmp_path / "out",
                           models={"tiny": SimpleNamespace(source="tiny")})


@pytest.mark.ray
def test_a_local_cpu_search_scores_test_in_the_driver_on_the_searchs_cpus(local_ray, monkeypatch, tmp_path):
    """No Ray task (a fresh process importing torch): the scoring runs in this process with the free
    CPUs (2) as torch threads, restored after, and the console's progress lines come while it runs."""
    import torch
    from ray import tune
    seen = {}

    def score_model(folder, inputs, **settings):
        seen.update(pid=os.getpid(), threads=torch.get_num_threads(), inputs=inputs.description)
        time.sleep(0.5)
        return {"test_accuracy": 0.75}
    monkeypatch.setattr(scoring, "score_model", score_model)
    monkeypatch.setattr(scoring, "read_meta", lambda folder: {"bert_name": "tiny"})
    monkeypatch.setattr(scoring, "test_split", lambda plan, folder: SimpleNamespace(description="3 examples"))
    monkeypatch.setattr(scoring, "PROGRESS_EVERY_S", 0.1)
    said, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scores = scoring.score_on_test(_local_cpu_plan(tmp_path), tune.Checkpoint.from_directory(str(tmp_path)),
                                       tmp_path, Shared(), said.append)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert seen == {"pid": os.getpid(), "threads": 2, "inputs": "3 examples"}
    assert scores == {"test_accuracy": 0.75, "path": str(tmp_path / "test.csv"), "subset": False,
                      "data": "3 examples"}
    assert said[0] == "test: scoring 3 examples" and "test: scoring, 0.1s so far" in said, said


def test_scoring_past_its_estimate_says_so_instead_of_no_time_left(monkeypatch, tmp_path):
    """A fake clock: each wait for the scoring advances it by the wait, and the scoring ends after 7."""
    clock, waits = [0.0], []

    def started(plan, cpus, *args):
        def wait(timeout):
            waits.append(timeout)
            clock[0] += timeout
            return len(waits) > 7
        return wait, dict
    monkeypatch.setattr(scoring, "_start_scoring", started)
    monkeypatch.setattr(scoring.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(scoring, "cpus_each", lambda tasks=1, free_now=False: 1.0)  # no Ray to ask
    monkeypatch.setattr(scoring, "read_meta", lambda folder: {"bert_name": "tiny"})
    monkeypatch.setattr(scoring, "test_split", lambda plan, folder: SimpleNamespace(description="3 examples"))
    monkeypatch.setattr(scoring, "_estimate", lambda config, inputs, source: 70.02)
    monkeypatch.setattr(scoring, "PROGRESS_EVERY_S", 10)
    said = []
    scoring.score_on_test(_local_cpu_plan(tmp_path), None, tmp_path, Shared(), said.append)
    assert said == ["test: scoring 3 examples, ~1m10s", "test: scoring, 10s so far, ~1m00s left",
                    "test: scoring, 20s so far, ~50s left", "test: scoring, 30s so far, ~40s left",
                    "test: scoring, 40s so far, ~30s left", "test: scoring, 50s so far, ~20s left",
                    "test: scoring, 1m00s so far, ~10s left",
                    "test: scoring, 1m10s so far, past the ~1m10s estimated"], said



def test_a_model_scored_on_a_test_file_is_not_scored_again_until_its_weights_or_the_file_change(
        monkeypatch, tmp_path):
    """A resumed search whose refit was pending writes the trials' outputs again: on all 25,000 IMDB
    reviews its best model's scoring took 8-17 minutes on a 2-core CPU (bench/results/imdb_chunks)."""
    runs = []

    def started(plan, cpus, *args):
        runs.append(1)
        return (lambda timeout: True), (lambda: {"test_accuracy": 0.75, "confusion": [[1, 0], [0, 1]]})
    monkeypatch.setattr(scoring, "_start_scoring", started)
    monkeypatch.setattr(scoring, "cpus_each", lambda tasks=1, free_now=False: 1.0)
    monkeypatch.setattr(scoring, "read_meta", lambda folder: {"bert_name": "tiny"})
    monkeypatch.setattr(scoring, "test_split", lambda plan, folder: SimpleNamespace(description="3 examples"))
    monkeypatch.setattr(scoring, "_estimate", lambda config, inputs, source: 0.0)
    plan, model = _local_cpu_plan(tmp_path), tmp_path / "best_model"
    (model / "encoder").mkdir(parents=True)
    (model / "encoder" / "model.safetensors").write_bytes(b"weights")
    plan.test_path.write_text("text,label\na,1\n")
    said = []
    first = scoring.score_on_test(plan, None, model, Shared(), said.append)
    again = scoring.score_on_test(plan, None, model, Shared(), said.append)
    assert len(runs) == 1 and again == first
    assert said[-1].startswith("test: 3 examples, scored before with these weights ("), said
    (model / "encoder" / "model.safetensors").write_bytes(b"other weights")
    scoring.score_on_test(plan, None, model, Shared(), said.append)
    plan.test_path.write_text("text,label\na,1\nb,0\n")
    scoring.score_on_test(plan, None, model, Shared(), said.append)
    assert len(runs) == 3 and said[-1] == "test: scoring 3 examples", said
    for kept in (plan.out_dir / scoring.SCORES_FOLDER).glob("*.json"):
        kept.write_text("{damaged")  # a copy cut short: measured again, not an error
    scoring.score_on_test(plan, None, model, Shared(), said.append)
    assert len(runs) == 4, said


@pytest.mark.ray
def test_an_error_of_the_scoring_in_the_driver_reaches_the_caller(local_ray, monkeypatch, tmp_path):
    from ray import tune

    def score_model(folder, inputs, **settings):
        raise ValueError("the test split has no label column")
    monkeypatch.setattr(scoring, "score_model", score_model)
    monkeypatch.setattr(scoring, "read_meta", lambda folder: {"bert_name": "tiny"})
    monkeypatch.setattr(scoring, "test_split", lambda plan, folder: SimpleNamespace(description="3 examples"))
    with pytest.raises(ValueError, match="no label column"):
        scoring.score_on_test(_local_cpu_plan(tmp_path), tune.Checkpoint.from_directory(str(tmp_path)), tmp_path,
                              Shared())
