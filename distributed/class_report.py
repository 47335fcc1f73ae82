"""The best model's test scores class by class, as results.md shows them: every score, a table of
precision / recall / F1 per label (named as written), and a confusion-matrix PNG."""
from pathlib import Path

from typing import Optional

from bertclf.data.label_values import label_text
from bertclf.results_table import markdown_table, markdown_text

from .plots import save_png

TICK_CHARS = 30  # a tick label longer than this is cut, so that the matrix keeps its room
# A cell's luminance (0 black, 1 white) under which its count is written in white: there white and black
# text contrast with the cell equally (WCAG contrast ratio), so the choice keeps the larger contrast.
DARK_CELL = 0.179


def scores_markdown(test: dict, task) -> str:
    """'Test scores: accuracy 0.9000, macro f1 ...' (the task's report_scores) and the per-class table ('' for
    a task without them)."""
    if "per_class" not in test:
        return ""
    shown = ", ".join(f"{name.replace('_', ' ')} {test[name]:.4f}" for name in task.report_scores)
    thresholds = "threshold" in test["per_class"][0]  # a multi-label model's: each label's decision threshold
    rows = [[markdown_text(label_text(r["label"])), f"{r['precision']:.4f}", f"{r['recall']:.4f}",
             f"{r['f1']:.4f}", r["support"], *([f"{r['threshold']:.2f}"] if thresholds else [])]
            for r in test["per_class"]]
    matrix = " (confusion matrix: confusion_matrix.png)" if "confusion" in test else ""
    return (f"\nTest scores of the best configuration: {shown}. Per {'label' if thresholds else 'class'}{matrix}:\n\n"
            + markdown_table(["label", "precision", "recall", "F1", "support", *(["threshold"] if thresholds else [])],
                             rows))


def luminance(rgba) -> float:
    """The relative luminance (WCAG) of a matplotlib colour, 0 for black to 1 for white."""
    from matplotlib.colors import to_rgb
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(rgba)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def confusion_png(test: dict, path: Path, title: str) -> Optional[Path]:
    """The test confusion matrix (rows: true label, columns: predicted), counts in each cell; None
    without matplotlib (a bare machine; the search extra installs it) or without a matrix (QA)."""
    if "confusion" not in test:
        return None
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matrix, names = test["confusion"], [label_text(n) for n in test["labels"]]
    size = max(3.5, 0.6 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(matrix, cmap="Blues")
    # labels as written: '$' is no mathtext, and a long label is cut
    names = [n if len(n) <= TICK_CHARS else n[:TICK_CHARS - 1] + "…" for n in names]
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", parse_math=False)
    ax.set_yticks(range(len(names)), names, parse_math=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            # the cell's colour as drawn: imshow spreads the colormap from the smallest count to the largest
            cell = image.cmap(image.norm(count))
            ax.text(j, i, str(count), ha="center", va="center",
                    color="white" if luminance(cell) < DARK_CELL else "black")
    save_png(fig, path)
    return path
