"""Regression scores (bertclf/tasks/regression/metrics.py) against their definitions."""
import math

import pytest

from bertclf.tasks.regression.metrics import scores


def test_scores_match_their_definitions():
    truth, predicted = [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 5.0]
    found = scores(truth, predicted)
    errors = [p - t for t, p in zip(truth, predicted)]
    assert found["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in errors) / 4))
    assert found["mae"] == pytest.approx(sum(abs(e) for e in errors) / 4)
    assert found["r2"] == pytest.approx(1 - sum(e * e for e in errors) / 5.0)  # 5: the truth's squared deviations
    assert found["spearman"] == pytest.approx(1.0)  # the same order
    assert 0.9 < found["pearson"] < 1.0


def test_a_constant_prediction_correlates_zero_not_nan():
    found = scores([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert found["pearson"] == 0.0 and found["spearman"] == 0.0 and found["r2"] == pytest.approx(0.0)
