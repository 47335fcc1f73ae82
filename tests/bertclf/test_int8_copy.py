"""The int8 ONNX copy (bertclf/int8_copy.py): both copies scored on valid in onnxruntime; the int8 file kept
beside the fp32 one only within the tolerance, else removed, and the sentence says which and why; both
copies decide as the shipped model does (at its tuned threshold)."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from bertclf import int8_copy
from bertclf.inputs import prepare_inputs
from bertclf.int8_copy import INT8_PATH, check_int8, onnx_metric
from bertclf.portable import ONNX_PATH, write_portable
from bertclf import predict
from bertclf.quantize import quantize_dynamic_onnx
from bertclf.train import train
from tests.helpers import far_threshold


@pytest.fixture
def learnt(config_for):
    """(model folder with its ONNX copy, its config's prepared inputs) of a model that learnt the toy set."""
    config = config_for(n_epochs=6)
    run_dir = train(config, log=lambda s: None)["run_dir"]
    write_portable(run_dir)
    return run_dir, prepare_inputs(config, lambda s: None)


def damaged_quantisation(src, dst):
    """The real int8 copy, its head's bias then pushed so far to the first label that it always answers it."""
    quantize_dynamic_onnx(src, dst)
    model = onnx.load(str(dst))
    bias = next(i for i in model.graph.initializer if i.name.startswith("head.") and i.name.endswith("bias"))
    values = numpy_helper.to_array(bias).copy()
    values[0] += 1000.0
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    onnx.save(model, str(dst))
    return dst


def test_an_int8_copy_within_tolerance_is_kept_with_both_numbers(learnt):
    run_dir, inputs = learnt
    # 80 valid texts: one answer changed by rounding is 1.25 points
    check = check_int8(run_dir, inputs, "valid_accuracy", tolerance=2.5)
    assert check.fp32 == pytest.approx(onnx_metric(f"{run_dir}/{ONNX_PATH}", inputs, "valid_accuracy", threshold=None))
    assert check.fp32 >= 0.95 and abs(check.change) <= 2.5 and check.kept
    assert (Path(run_dir) / INT8_PATH).is_file()
    assert check.int8_mb < check.fp32_mb
    said = check.describe()
    assert said.startswith("int8 copy kept as onnx/model_int8.onnx")
    assert f"int8 {check.int8:.4f}, fp32 {check.fp32:.4f}" in said
    assert not list((Path(run_dir) / "onnx").glob(".*partial*"))


def test_an_int8_copy_outside_tolerance_is_not_kept_and_says_why(learnt, monkeypatch):
    run_dir, inputs = learnt
    check_int8(run_dir, inputs, "valid_accuracy", tolerance=2.5)  # an earlier, good copy: the failed check removes it
    assert (Path(run_dir) / INT8_PATH).is_file()
    monkeypatch.setattr(int8_copy, "quantize_dynamic_onnx", damaged_quantisation)
    check = check_int8(run_dir, inputs, "valid_accuracy", tolerance=0.5)
    assert check.int8 == pytest.approx(0.5) and check.fp32 >= 0.95 and not check.kept
    assert not (Path(run_dir) / INT8_PATH).exists() and (Path(run_dir) / ONNX_PATH).is_file()
    assert check.describe().startswith("int8 copy not kept: it scores more than 0.5 points below fp32 on valid, "
                                       "so the fp32 copy")
    assert f"{check.change:+.2f} points" in check.describe()


def test_a_tolerance_of_zero_keeps_only_a_copy_that_loses_nothing():
    from bertclf.int8_copy import Int8Check
    same = Int8Check("valid_accuracy", fp32=0.9, int8=0.9, tolerance=0.0, fp32_mb=2.0, int8_mb=1.0)
    lower = Int8Check("valid_accuracy", fp32=0.9, int8=0.8999, tolerance=0.0, fp32_mb=2.0, int8_mb=1.0)
    within = Int8Check("valid_accuracy", fp32=0.9, int8=0.895, tolerance=0.5, fp32_mb=2.0, int8_mb=1.0)
    assert same.kept and not lower.kept and within.kept and np.isclose(within.change, -0.5)


def test_both_copies_are_scored_at_the_model_s_tuned_threshold_as_predict_decides(learnt, toy, tmp_path):
    """A two-label model whose meta holds a threshold far above 0.5 (as a search on macro-F1 saves one): the
    check's fp32 and int8 figures are the thresholded decisions' accuracy, which --predict's scoring (torch,
    at the meta's threshold) gives on the same texts, not the most probable label's."""
    run_dir, inputs = learnt
    threshold, thresholded = far_threshold(run_dir, inputs)
    check = check_int8(run_dir, inputs, "valid_accuracy", tolerance=100)
    assert check.fp32 == pytest.approx(thresholded, abs=1e-12)
    assert check.int8 == pytest.approx(onnx_metric(Path(run_dir) / INT8_PATH, inputs, "valid_accuracy",
                                                   threshold=threshold), abs=1e-12)
    test = predict.test_inputs(run_dir, toy["valid"], str(tmp_path / "cache"))  # the valid texts, read as a test split
    predicted = predict.score_model(run_dir, test, cache_dir=str(tmp_path / "cache"), device="cpu", precision="fp32")
    served = onnx_metric(Path(run_dir) / ONNX_PATH, test, "valid_accuracy", split="test", threshold=threshold)
    assert served == pytest.approx(predicted["accuracy"], abs=1e-12) == pytest.approx(thresholded, abs=1e-12)


def test_a_check_of_a_folder_that_is_removed_says_which_copy_would_ship():
    """A front member scored in a folder that is removed afterwards keeps no copy: its sentence says which
    copy would ship, where a kept folder's says which copy it keeps."""
    from bertclf.int8_copy import Int8Check
    passes = Int8Check("valid_accuracy", fp32=0.9, int8=0.9, tolerance=0.5, fp32_mb=2.0, int8_mb=1.0)
    fails = Int8Check("valid_accuracy", fp32=0.9, int8=0.8, tolerance=0.5, fp32_mb=2.0, int8_mb=1.0)
    numbers = "valid_accuracy int8 0.9000, fp32 0.9000 (+0.00 points; tolerance 0.5)"
    assert passes.describe() == f"int8 copy kept as onnx/model_int8.onnx (1.0 MB beside fp32's 2.0 MB): {numbers}"
    assert passes.describe(shipped=False) == ("int8 copy passes its check, so int8 would ship (1.0 MB against "
                                              f"fp32's 2.0 MB): {numbers}")
    assert fails.describe().startswith("int8 copy not kept: it scores more than 0.5 points below fp32 on valid, so "
                                       "the fp32 copy (2.0 MB) ships alone: ")
    assert fails.describe(shipped=False).startswith("int8 copy fails its check: it scores more than 0.5 points "
                                                    "below fp32 on valid, so the fp32 copy (2.0 MB) would ship alone: ")
    assert all("kept" not in check.describe(shipped=False) for check in (passes, fails))
