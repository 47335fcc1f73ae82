"""The seed README's results table: one row per run (or per trial), as Markdown and CSV."""
import csv
import io

SEED_COLUMNS = ["BERT finetune", "Max token Length", "Best Epoch", "train loss", "valid loss",
                "valid accuracy"]


def seed_row(finetune: bool, max_length: int, best: dict) -> list:
    return [str(bool(finetune)), str(max_length), str(best["epoch"]), f"{best['train_loss']:.4f}",
            f"{best['valid_loss']:.4f}", f"{best['valid_accuracy']:.4f}"]


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
