"""bench/int8.py: the static copy is calibrated on single train texts as the model reads them, and a run
with --static and --dynamic-settings measures every copy side by side (on a tiny BERT; the real figures:
bench/results/int8/)."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from bertclf.inputs import prepare_inputs
from bertclf.portable import ONNX_PATH, write_portable
from bertclf.train import train
from tests.helpers import ROOT, write_imdb_like


def bench_module():
    spec = importlib.util.spec_from_file_location("int8_bench", ROOT / "bench" / "int8.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calibration_feeds_are_a_seeded_slice_of_train_one_unpadded_text_each(config_for):
    bench = bench_module()
    inputs = prepare_inputs(config_for(), lambda s: None)
    feeds = bench.calibration_feeds(inputs, ["input_ids", "attention_mask"], 8)
    assert len(feeds) == 8 and all(list(f) == ["input_ids", "attention_mask"] for f in feeds)
    assert all(f["input_ids"].shape[0] == 1 and f["attention_mask"].all() for f in feeds)
    again = bench.calibration_feeds(inputs, ["input_ids", "attention_mask"], 8)
    other = bench.calibration_feeds(inputs, ["input_ids", "attention_mask"], 8, seed=1)
    assert all((a["input_ids"] == b["input_ids"]).all() for a, b in zip(feeds, again))
    assert any(a["input_ids"].shape != b["input_ids"].shape or (a["input_ids"] != b["input_ids"]).any()
               for a, b in zip(feeds, other))
    ids = {tuple(f["input_ids"][0].tolist()) for f in feeds}
    train = {tuple(t.tolist()) for t in (inputs.tokens["train"][i] for i in range(len(inputs.tokens["train"])))}
    assert ids <= train
    assert len(bench.calibration_feeds(inputs, ["input_ids"], 10_000)) == len(inputs.tokens["train"])


def test_the_static_copy_answers_close_to_fp32(config_for, tmp_path):
    bench = bench_module()
    config = config_for(n_epochs=3)
    run_dir = train(config, log=lambda s: None)["run_dir"]
    write_portable(run_dir)
    inputs = prepare_inputs(config, lambda s: None)
    fp32 = Path(run_dir) / ONNX_PATH
    static = bench.static_copy(fp32, tmp_path / "static.onnx",
                               bench.calibration_feeds(inputs, ["input_ids", "attention_mask"], 32))
    kinds = {i.data_type for i in onnx.load(str(static)).graph.initializer}
    assert onnx.TensorProto.INT8 in kinds  # MatMul weights; the embeddings (most of a tiny model) stay fp32
    feeds = bench.calibration_feeds(inputs, ["input_ids", "attention_mask"], 8, seed=5)
    sessions = [onnxruntime.InferenceSession(str(p)) for p in (fp32, static)]
    gaps = [np.abs(sessions[0].run(None, f)[0] - sessions[1].run(None, f)[0]).max() for f in feeds]
    assert 0 < max(gaps) < 0.3  # rounded (activations to the calibrated ranges), not broken


def test_static_and_dynamic_settings_are_measured_beside_fp32_and_the_shipped_int8(toy, tmp_path):
    bench = bench_module()
    data = write_imdb_like(tmp_path / "data", n_train=240, n_test=80)
    report = bench.main(["--data", str(data), "--model", toy["model"], "--encoder-layers", "1",
                         "--train-samples", "160", "--valid-samples", "60", "--test-samples", "60",
                         "--max-length", "32", "--timed", "64", "--static", "--calibration-texts", "16",
                         "--dynamic-settings", "--threads", "2", "--out", str(tmp_path / "out")])
    names = ["fp32", "int8", "int8_per_channel_reduce_range", "int8_matmul_only", "int8_preprocessed", "static_int8"]
    assert list(report["size_mb"]) == names and list(report["speed"]) == names
    assert json.loads((tmp_path / "out" / "static_32_threads2.json").read_text()) == json.loads(json.dumps(report))
    ops = {name: found["in_file"] for name, found in report["graph_ops"].items()}
    assert "QuantizeLinear" in ops["static_int8"] and "DynamicQuantizeLinear" not in ops["static_int8"]
    assert "DynamicQuantizeLinear" in ops["int8"] and "QuantizeLinear" not in ops["int8"]
    assert "DequantizeLinear" not in ops["fp32"] and "DynamicQuantizeLinear" not in ops["fp32"]
    # the embeddings (Gather) stay fp32: fewer weights dequantised than in the shipped copy
    assert ops["int8_matmul_only"].get("DequantizeLinear", 0) < ops["int8"]["DequantizeLinear"]
    assert "cut to 1 layers" in report["model"]
    for name in names[1:]:  # a few answers may change by rounding (one valid review is 4.2 points here)
        assert abs(report["change_points"][name]["valid"]) <= 12.5, name
        assert report["size_mb"][name] < report["size_mb"]["fp32"]
        assert report["speed"][name]["speedup_batch1_median"] > 0 and report["speed"][name]["speedup_batch64"] > 0
    rows = bench.table(report).splitlines()
    assert len(rows) == 2 + len(names) and rows[-1].startswith("| static_int8 |")


def test_without_static_the_report_is_int8_json(toy, tmp_path, monkeypatch):
    bench = bench_module()
    monkeypatch.setattr(bench, "static_copy", lambda *a: pytest.fail("--static was not asked for"))
    data = write_imdb_like(tmp_path / "data", n_train=120, n_test=70)
    report = bench.main(["--data", str(data), "--model", toy["model"], "--train-samples", "80",
                         "--valid-samples", "40", "--test-samples", "40", "--max-length", "32", "--timed", "64",
                         "--out", str(tmp_path / "out")])
    assert list(report["speed"]) == ["fp32", "int8"] and (tmp_path / "out" / "int8.json").is_file()
    assert not list((tmp_path / "out").glob("static_*"))
