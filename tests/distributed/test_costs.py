"""A search's inference costs: measured once per architecture before Ray, cached, and the constraints'
verdict on each; end to end, a smoke search with a constraint that skips configurations."""
import csv
import dataclasses
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import bert_hpo_distributed.costs as costs_module
import bertclf.cost as cost_module
from bert_hpo_distributed.costs import SearchCosts, measure_costs, served_cost, with_costs
from bert_hpo_distributed.spec.load import load_spec
from bertclf.cost import COLUMNS, Cost, cost_key
from bertclf.errors import UserError
from bertclf.models.tiny_model import build_tiny_bert
from tests.helpers import ROOT, run

TEXTS = [f"review {i}: " + ("a fine film " if i % 2 else "a dull film ") * (i % 7 + 1) for i in range(12)]


ONE_DEPTH_FP32 = ["space.encoder_layers={choice: [2]}", "space.precision={choice: [fp32]}"]  # lengths alone vary


def _plan(tmp_path, sets=()):
    """A plan as far as measure_costs reads it: imdb-deploy's smoke spec on a tiny BERT and a small file."""
    tiny = build_tiny_bert(tmp_path / "tiny", TEXTS, vocab_size=200)
    train = tmp_path / "train.csv"
    with open(train, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *((t, i % 2) for i, t in enumerate(TEXTS))])
    spec = load_spec("imdb-deploy", list(sets), profile=["smoke"])
    spec = dataclasses.replace(spec, fixed={**spec.fixed, "bert_name": tiny, "train_path": str(train),
                                            "cache_dir": str(tmp_path / "cache")})
    return SimpleNamespace(spec=spec, opts=SimpleNamespace(serve_device="cpu", smoke_test=True),
                           models={tiny: SimpleNamespace(source=tiny)})


def _by_length(latency: dict):
    def cost(config, *args):
        return Cost(latency[config.max_length], latency[config.max_length], 100.0, 1.0, 0.5, "a test CPU")
    return cost


def test_each_architecture_is_measured_once_and_a_second_search_reads_the_cache(tmp_path, monkeypatch):
    plan, said = _plan(tmp_path), []
    costs = measure_costs(plan, said.append)
    assert len(costs.by_key) == 8 and {(dict(k)["max_length"], dict(k)["encoder_layers"], dict(k)["precision"])
                                       for k in costs.by_key} == {(n, k, p) for n in (32, 64) for k in (1, 2)
                                                                  for p in ("fp32", "int8")}
    assert said[0].startswith("inference cost: measuring 8 architecture(s) on ") and said[0].endswith(" ...")
    assert said[-1].startswith("inference cost: 8 architecture(s) on ") and "cores (CPU)" in costs.hardware
    said.clear()

    def measured_again(*args):
        raise AssertionError("measured again")
    monkeypatch.setattr(cost_module, "measure_cost", measured_again)
    assert measure_costs(plan, said.append) == costs
    assert len(said) == 1 and said[0].startswith("inference cost: 8 architecture(s) on ")  # no plan: nothing to measure
    table = with_costs(__import__("pandas").DataFrame({"config": [{"max_length": 64, "encoder_layers": 2, "precision": "int8",
                                                                 "lr_main": 1e-3}]}),
                       plan.spec, costs)
    assert list(table.columns[1:]) == [*COLUMNS, "feasible"] and bool(table["feasible"][0])


def test_an_int8_model_whose_copy_was_not_kept_costs_what_its_fp32_file_costs():
    spec = load_spec("imdb-deploy", profile=["smoke"])
    int8 = spec.trial_config({"max_length": 64, "encoder_layers": 2, "precision": "int8"})
    fp32 = spec.trial_config({"max_length": 64, "encoder_layers": 2, "precision": "fp32"})
    costs = SearchCosts({cost_key(int8): Cost(2.0, 3.0, 500.0, 1.0, 1.0, "a test CPU"),
                         cost_key(fp32): Cost(5.0, 6.0, 200.0, 4.0, 1.0, "a test CPU")}, {}, "a test CPU", "cpu")
    assert served_cost(costs, int8, "int8").latency_ms == 2.0
    assert served_cost(costs, int8, "fp32").latency_ms == 5.0  # the int8 check dropped its copy
    assert served_cost(costs, fp32, "fp32").latency_ms == 5.0
    only_int8 = SearchCosts({cost_key(int8): costs.of(int8)}, {}, "a test CPU", "cpu")
    assert served_cost(only_int8, int8, "fp32").latency_ms == 2.0  # no fp32 architecture measured


def test_a_search_without_objectives_or_constraints_measures_nothing(tmp_path):
    plan = SimpleNamespace(spec=load_spec("imdb"), opts=SimpleNamespace(serve_device="cpu", smoke_test=True))
    assert measure_costs(plan, print) is None


def test_the_console_names_the_architectures_a_constraint_skips(tmp_path, monkeypatch):
    monkeypatch.setattr(costs_module, "cached_cost", _by_length({32: 1.0, 64: 4.0}))
    said = []
    costs = measure_costs(_plan(tmp_path, ["constraints={latency_ms: 2}", *ONE_DEPTH_FP32]), said.append)
    assert said[2] == ("constraints latency_ms <= 2: 1 of 2 architectures break them; their configurations are "
                       "skipped, never trained: max_length=64 (latency_ms 4 > 2)")
    assert costs.constraints == {"latency_ms": 2}


def test_a_constraint_no_architecture_meets_is_one_error(tmp_path, monkeypatch):
    monkeypatch.setattr(costs_module, "cached_cost", _by_length({32: 3.0, 64: 4.0}))
    monkeypatch.setattr(costs_module, "hardware", lambda device: "a test CPU")
    with pytest.raises(UserError) as e:
        measure_costs(_plan(tmp_path, ["constraints={latency_ms: 2}", *ONE_DEPTH_FP32]), print)
    assert str(e.value) == ("constraints latency_ms <= 2 (the spec's constraints, --max-latency-ms, --max-model-mb): "
                            "no configuration of this search meets them on a test CPU: max_length=32: latency_ms 3 > 2; "
                            "max_length=64: latency_ms 4 > 2")


def test_serving_on_a_gpu_this_machine_lacks_is_one_error_naming_the_option(tmp_path, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    plan = SimpleNamespace(spec=load_spec("imdb-deploy"), opts=SimpleNamespace(serve_device="cuda", smoke_test=False))
    with pytest.raises(UserError, match=r"^--serve-device cuda: this machine has no usable CUDA GPU"):
        measure_costs(plan, print)


def _search(tmp_path, *extra, sets=ONE_DEPTH_FP32):
    return run([sys.executable, str(ROOT / "launch.py"), "--search", "imdb-deploy", "--smoke-test", "--output-dir",
                str(tmp_path / "out"), "--num-cpus", "2", "--set", "space.head={choice: [linear, mlp]}",
                *(arg for value in sets for arg in ("--set", value)), *extra],
               timeout=1200)


def test_an_impossible_constraint_ends_before_ray_with_one_error_line(tmp_path):
    proc = _search(tmp_path, "--max-model-mb", "0.01")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
    assert errors[0].startswith("error: constraints model_mb <= 0.01 (the spec's constraints, --max-latency-ms, "
                                "--max-model-mb): no configuration of this search meets them")
    assert "Traceback" not in proc.stderr and "Started a local Ray instance" not in proc.stderr


@pytest.mark.ray
def test_a_multi_objective_smoke_search_skips_what_breaks_a_constraint_and_writes_the_front(tmp_path):
    # the tiny BERT's int8 ONNX file: 0.16 MB with a linear head, 0.18 MB with an MLP head; every trial int8,
    # its copy kept whatever it loses (--int8-tolerance 100), so each front member serves its int8 file
    proc = _search(tmp_path, "--max-model-mb", "0.17", "--num-samples", "2", "--export-front",
                   "--int8-tolerance", "100", sets=[ONE_DEPTH_FP32[0], "space.precision={choice: [int8]}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "constraints model_mb <= 0.17: 2 of 4 architectures break them" in proc.stderr
    out = tmp_path / "out" / "imdb-deploy-smoke"
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {r["head"] for r in rows} == {"linear"} and all(float(r["model_mb"]) < 0.17 for r in rows)
    results = (out / "results.md").read_text()
    assert "## Pareto front" in results and "| latency ms | examples/s | ONNX MB | status |" in results
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "best_model" / "search_config.json").read_text())
    assert saved["inference_cost"]["model_mb"] < 0.17 and saved["inference_cost"]["device"] == "cpu"
    assert "- Inference cost on " in (out / "best_model" / "README.md").read_text()
    members = [r for r in rows if r["served"]]
    assert members and {r["trial"] for r in members} == {p.name for p in (out / "front").iterdir()}
    for row in members:
        _check_served(out, row, results, proc.stderr)
    assert any(line.startswith(("Fastest within 1 point", "None faster than", "The most accurate member"))
               for line in results.splitlines())
    assert not list(out.glob(".front-*"))


def _check_served(out, row: dict, results: str, console: str):
    """A front member's folder is complete, and its scores as served are its int8 file's on valid and test."""
    from bertclf.config import TrainConfig
    from bertclf.inputs import prepare_inputs
    from bertclf.int8_copy import onnx_metric
    from bertclf.predict import test_inputs
    folder = out / "front" / row["trial"]
    card = (folder / "README.md").read_text()
    assert (folder / "onnx" / "model.onnx").is_file() and (folder / "onnx" / "model_int8.onnx").is_file()
    assert "a member of the search's Pareto front (../../results.md)" in card and "- As served (its int8" in card
    options = json.loads((folder / "search_config.json").read_text())["train_options"]
    config = TrainConfig.from_dict(options)
    valid = onnx_metric(folder / "onnx" / "model_int8.onnx", prepare_inputs(config, print, model_path=config.bert_name),
                        "valid_accuracy", threshold=None)
    fp32 = onnx_metric(folder / "onnx" / "model.onnx", prepare_inputs(config, print, model_path=config.bert_name),
                       "valid_accuracy", threshold=None)
    test = onnx_metric(folder / "onnx" / "model_int8.onnx",
                       test_inputs(folder, Path(config.train_path).with_name("test.csv"), config.cache_dir,
                                   encoder_path=config.bert_name), "valid_accuracy", split="test",
                       threshold=None)  # an accuracy search: no tuned threshold
    assert row["served"] == "int8" and float(row["served_valid_accuracy"]) == pytest.approx(valid, abs=1e-12)
    assert float(row["served_test_accuracy"]) == pytest.approx(test, abs=1e-12)
    assert float(row["fp32_valid_accuracy"]) == pytest.approx(fp32, abs=1e-12)
    assert f"| {valid:.4f} int8 (fp32 {fp32:.4f}) | {test:.4f} |" in results
    said = f"front {row['trial']}: as served, valid_accuracy {valid:.4f} (int8; fp32 {fp32:.4f}), test {test:.4f}"
    assert said in console
