"""The per-class report shows every label as written, whatever characters it holds: the Markdown table
keeps its columns, and the confusion matrix draws (a '$' is no mathtext)."""
import re

import numpy as np
import pytest

from bert_hpo_distributed.class_report import confusion_png, luminance, scores_markdown
from bertclf.tasks import task_named
from bertclf.tasks.classification.metrics import per_class, scores

LABELS = ["a|b", "line\nbreak", "<b>bold</b>", "**md**", "$\\frac{1}{$", "50% {0}", "😀", "L" * 50, 2.5, 7]


def report():
    matrix = np.arange(len(LABELS) ** 2).reshape(len(LABELS), -1) % 7 + np.eye(len(LABELS), dtype=int) * 9
    return {**scores(matrix), "per_class": per_class(matrix, LABELS), "confusion": matrix.tolist(), "labels": LABELS}


def test_the_table_keeps_its_columns_and_shows_labels_as_written():
    text = scores_markdown(report(), task_named("classification"))
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(LABELS)
    assert all(len(re.split(r"(?<!\\)\|", row)) == 7 for row in rows)  # 5 cells between unescaped pipes
    cells = [re.split(r"(?<!\\)\| ", row)[1].strip() for row in rows]
    assert cells[:5] == ["a\\|b", "line<br>break", "\\<b\\>bold\\</b\\>", "\\*\\*md\\*\\*", "\\$\\\\frac{1}{\\$"]
    assert cells[5:] == ["50% {0}", "😀", "L" * 50, "2.5", "7"]


def test_the_confusion_matrix_draws_any_label(tmp_path):
    path = confusion_png(report(), tmp_path / "confusion.png", "test")
    assert path.stat().st_size > 1000


def test_the_scores_shown_are_the_tasks_report_scores():
    shown = scores_markdown(report(), task_named("classification")).split(". Per class")[0]
    assert shown.startswith("\nTest scores of the best configuration: accuracy ")
    assert [part.rsplit(" ", 1)[0] for part in shown.split(": ", 1)[1].split(", ")] == \
        ["accuracy", "macro f1", "weighted f1", "balanced accuracy", "mcc"]
    assert scores_markdown({"exact_match": 80.0, "f1": 90.0}, task_named("qa")) == ""


def test_a_multilabel_report_is_per_label_with_each_threshold_and_no_matrix(tmp_path):
    from bertclf.tasks.multilabel.metrics import per_label
    from bertclf.tasks.multilabel.metrics import scores as label_scores
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    probabilities = np.array([[0.9, 0.2, 0.7], [0.1, 0.8, 0.3], [0.6, 0.4, 0.1]])
    thresholds = np.array([0.5, 0.35, 0.65])
    test = {**label_scores(truth, probabilities, thresholds), "labels": LABELS[:3],
            "per_class": per_label(truth, probabilities, thresholds, LABELS[:3])}
    text = scores_markdown(test, task_named("multilabel"))
    assert "hamming loss 0.0000" in text and "mean average precision 1.0000" in text and "confusion" not in text
    assert "| label | precision | recall | F1 | support | threshold |" in text
    assert "| a\\|b | 1.0000 | 1.0000 | 1.0000 | 2 | 0.50 |" in text
    assert confusion_png(test, tmp_path / "confusion.png", "test") is None


def contrast(one, other) -> float:
    """The WCAG contrast ratio of two colours, 1 (none) to 21 (black on white)."""
    low, high = sorted([luminance(one), luminance(other)])
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("matrix", [[[22, 20], [21, 23]], [[23, 27], [22, 28]], [[0, 3, 90], [1, 50, 2], [4, 0, 70]]])
def test_each_count_contrasts_with_its_cell_as_drawn(matrix, tmp_path, monkeypatch):
    import matplotlib.figure
    figures = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *args, **kwargs: figures.append(fig))
    confusion_png({"confusion": matrix, "labels": ["neg", "pos", "mixed"][:len(matrix)]}, tmp_path / "c.png", "t")
    ax = figures[0].axes[0]
    image = ax.images[0]
    counts = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
    assert len(counts) == len(matrix) ** 2
    for (i, j), text in counts.items():
        cell = image.cmap(image.norm(matrix[i][j]))
        assert text.get_text() == str(matrix[i][j])
        assert contrast(text.get_color(), cell) >= 4.5, (matrix[i][j], text.get_color())  # WCAG AA
