"""What one checkpoint costs: the engine's own save_checkpoint (weights + optimiser state + schedule)
for a bert-base-sized model and for MiniLM-L6, fine-tuned; size on disk and seconds to write it.
A search keeps a checkpoint only at a trial's improving checks (distributed/trial.py), so this
cost is paid at most once per improvement, not at every check. Prints one JSON object.

  python bench/checkpoint_cost.py --output bench/results/checkpoint_cost/checkpoint_cost.json
"""
import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bertclf.atomic import write_text  # noqa: E402
from bertclf.config import TrainConfig  # noqa: E402
from bertclf.results_table import csv_text  # noqa: E402
from bertclf.models.tiny_model import build_tiny_bert  # noqa: E402
from bertclf.train import train  # noqa: E402
from transformers import BertConfig, BertModel  # noqa: E402

SIZES = {"bert-base size (110 M, random init)": dict(hidden=768, layers=12, heads=12, intermediate=3072, vocab_size=30522),
         "MiniLM-L6 size (22.7 M, random init)": dict(hidden=384, layers=6, heads=12, intermediate=1536,
                                                      vocab_size=30522)}


def measure(name: str, size: dict, work: Path) -> dict:
    texts = [f"review number {i} was {'good' if i % 2 else 'bad'} and long enough" for i in range(64)]
    model = build_tiny_bert(work / "model", texts * 20, **size)
    # the vocabulary learnt from these texts is small: give the model the real one's 30,522 embeddings,
    # so that the checkpoint has the size of the real model's
    config = BertConfig.from_pretrained(model)
    config.vocab_size = size["vocab_size"]
    BertModel(config).save_pretrained(model)
    data = work / "data.csv"
    data.write_text(csv_text(["text", "label"], [(t, i % 2) for i, t in enumerate(texts)]), encoding="utf-8")
    timings = []

    def report(metrics, save_checkpoint):
        folder = work / f"checkpoint-{len(timings)}"
        started = time.perf_counter()
        save_checkpoint(folder)
        timings.append((time.perf_counter() - started, sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())))
    train(TrainConfig(train_path=str(data), valid_path=str(data), bert_name=model, max_length=32, batch_size=32,
                      n_epochs=3, cache_dir=str(work / "cache"), progress=False), report, save_run=False,
          log=lambda m: None)
    seconds = sorted(t for t, _ in timings)
    return {"model": name, "checkpoint_mb": round(timings[-1][1] / 2**20, 1),
            "write_seconds_median": round(seconds[len(seconds) // 2], 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    report = {"hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores, local disk", "results": []}
    for name, size in SIZES.items():
        work = Path(tempfile.mkdtemp(prefix="bench-ckpt-"))
        try:
            report["results"].append(measure(name, size, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(report["results"][-1]), file=sys.stderr, flush=True)
    write_text(args.output, json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
