"""The results table: one row per run (or per trial), with the columns of the predecessor project's
README (Pytorch-BERT-Classification), as Markdown and CSV."""
import csv
import io

from .tasks import task_named

RUN_COLUMNS = ["BERT finetune", "Max token Length", "Best Epoch", "train loss", "valid loss"]


def metric_columns(task: str, metric=None) -> list:
    """(title, metric key, format) of the task's valid metrics shown, plus `metric` (a search's chosen one)."""
    columns = list(task_named(task).columns)
    if metric and metric not in [key for _, key, _ in columns]:
        columns.append((metric.replace("_", " "), metric, "{:.4f}"))
    return columns


def run_columns(task: str, metric=None) -> list:
    """The table's columns; the last, valid accuracy, is the task's own (QA: valid EM and F1), then `metric`."""
    return RUN_COLUMNS + [title for title, _, _ in metric_columns(task, metric)]


def format_epoch(epoch) -> str:
    """1 for a whole epoch, 1.5 for a check half-way through the second."""
    return f"{epoch:g}"


def run_row(task: str, finetune: bool, max_length: int, best: dict, metric=None) -> list:
    """best: the best check's metrics (epoch, train_loss, valid_loss and the task's metrics); a run
    without validation (a refit) shows — for those."""
    def shown(key, fmt):
        return fmt.format(best[key]) if best.get(key) is not None else "—"
    return [str(bool(finetune)), str(max_length), format_epoch(best["epoch"]), f"{best['train_loss']:.4f}",
            shown("valid_loss", "{:.4f}")] + [shown(key, fmt) for _, key, fmt in metric_columns(task, metric)]


def markdown_table(columns, rows) -> str:
    """A Markdown table; a cell may hold any text (a '|' or a line break keeps to its cell)."""
    lines = ["| " + " | ".join(map(_cell, columns)) + " |",
             "|" + "|".join(":---:" if i else "---" for i in range(len(columns))) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    return "<br>".join(str(value).replace("|", "\\|").splitlines())


MARKDOWN_SPECIAL = "\\`*_[]<>~$&"  # inline markup (a table cell escapes its "|"); no block starts mid-line


def markdown_text(text) -> str:
    """`text` as Markdown shows it as written: each character Markdown or HTML would read as markup
    (emphasis, links, tags, entities) escaped, line breaks as <br>."""
    escaped = "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in str(text))
    return "<br>".join(escaped.splitlines()) if escaped else escaped


def csv_text(columns, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()
