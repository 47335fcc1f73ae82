"""The seed README's results table: one row per run (or per trial), as Markdown and CSV."""
import csv
import io

SEED_COLUMNS = ["BERT finetune", "Max token Length", "Best Epoch", "train loss", "valid loss",
                "valid accuracy"]
# QA replaces accuracy by KorQuAD's two scores (percent)
METRIC_COLUMNS = {"classification": [("valid accuracy", "valid_accuracy", "{:.4f}")],
                  "qa": [("valid EM", "valid_exact_match", "{:.2f}"), ("valid F1", "valid_f1", "{:.2f}")]}


def seed_columns(kind: str = "classification") -> list:
    return SEED_COLUMNS[:5] + [name for name, _, _ in METRIC_COLUMNS[kind]]


def seed_row(kind: str, finetune: bool, max_length: int, best: dict) -> list:
    """best: the best epoch's metrics (epoch, train_loss, valid_loss and the task's metrics)."""
    return [str(bool(finetune)), str(max_length), str(best["epoch"]), f"{best['train_loss']:.4f}",
            f"{best['valid_loss']:.4f}"] + [fmt.format(best[key]) for _, key, fmt in METRIC_COLUMNS[kind]]


def markdown_table(columns, rows) -> str:
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join(":---:" if i else "---" for i in range(len(columns))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_text(columns, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()
