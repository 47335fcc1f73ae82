"""KorQuAD 1.0's official EM/F1 (bertclf/tasks/qa/metrics.py)."""
import pytest

from bertclf.tasks.qa.metrics import exact_match, f1, korquad_scores, normalize_answer


@pytest.mark.parametrize("prediction, truth, em, f1_value", [
    ("《세종대왕》", "세종대왕", 1.0, 1.0),            # KorQuAD's extra brackets are dropped
    ("세종 대왕", "세종대왕", 0.0, 1.0),                # F1 counts characters, spaces ignored
    ("대왕", "세종대왕", 0.0, 2 * 1.0 * 0.5 / 1.5),     # P = 2/2, R = 2/4
    ("The (Cat)!", "the cat", 1.0, 1.0),              # lower case, ASCII punctuation removed
    ("‘1997년’", "1997년", 1.0, 1.0),
    ("사과", "바나나", 0.0, 0.0),
])
def test_korquad_exact_match_and_f1(prediction, truth, em, f1_value):
    assert exact_match(prediction, truth) == em
    assert f1(prediction, truth) == pytest.approx(f1_value)


def test_score_takes_the_best_gold_answer_and_reports_percent():
    result = korquad_scores({"q1": "세종", "q2": "없음"}, {"q1": ["세종대왕", "세종"], "q2": ["바나나"]})
    assert result == {"exact_match": 50.0, "f1": 50.0}
    assert normalize_answer("  《가》 나  ") == "가 나"
