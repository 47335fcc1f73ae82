"""A model's scores as it serves (distributed/scoring.py's Served): the console's words and results.csv's
fields, for an fp32 model and for int8 models whose copy was kept or not; the scores themselves decided as
the shipped model decides."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from bert_hpo_distributed.scoring import Served, score_served, served_columns
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
