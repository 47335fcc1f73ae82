"""The training loop. One function, read top to bottom; it serves three drivers:

- a plain local run (`launch.py --train_path ...`),
- a Ray Train worker (torch.distributed already initialised: DDP, sharded batches),
- a Ray Tune trial (per-epoch reports through `report`, checkpoints through `save_checkpoint`).

It never imports Ray. `report(metrics, save_checkpoint)` is called once per epoch; a driver
that wants a checkpoint calls `save_checkpoint(folder)`.
"""
import csv
import io
import json
import os
import shutil
import sys
import time
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

import torch
from tqdm.auto import tqdm

from .atomic import write_text
from .batching import batch_stream, shard, training_steps
from .classification import classification_task
from .config import TrainConfig
from .errors import UserError
from .model import load_encoder, load_tokenizer, pick_device, position_limit
from .model_io import load_trainer_state, load_weights, save_model, save_trainer_state
from .qa_task import qa_task
from .results_table import markdown_table, seed_columns, seed_row

Report = Callable[[dict, Callable[[Path], None]], None]


def log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def distributed_world():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def all_reduce_sum(values, device, world: int):
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world > 1:
        torch.distributed.all_reduce(t)
    return t.tolist()


def prepare_run_dir(config: TrainConfig) -> Path:
    name = config.run_name or datetime.now().strftime("run-%Y%m%d-%H%M%S")
    folder = Path(config.save_path) / name
    if folder.exists() and not config.overwrite:
        raise UserError(f"--save_path {folder}: this run folder exists already; choose another "
                        f"--run_name, or pass --overwrite True to replace it")
    return folder


def warmup_linear(total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


def parameter_groups(model, config: TrainConfig):
    """Encoder at lr_main, head at lr; no weight decay on biases and LayerNorm weights."""
    groups = []
    named = [("head", model.head.named_parameters(), config.lr)]
    if config.bert_finetuning:
        named.insert(0, ("encoder", model.encoder.named_parameters(), config.lr_main))
    for name, params, lr in named:
        decay, no_decay = [], []
        for pname, p in params:
            (no_decay if p.ndim < 2 or "LayerNorm" in pname or "norm" in pname.lower() else decay).append(p)
        groups.append({"name": f"{name}", "params": decay, "lr": lr, "weight_decay": config.weight_decay})
        groups.append({"name": f"{name}_no_decay", "params": no_decay, "lr": lr, "weight_decay": 0.0})
    return [g for g in groups if g["params"]]


def train(config: TrainConfig, report: Optional[Report] = None, *, resume_from=None,
          save_run: bool = True, features_only: bool = False,
          log: Callable[[str], None] = log_stderr) -> dict:
    """Train one configuration; return {"best", "history", "task", "metric", "run_dir"}.

    features_only: stop once the token ids (and, for boost, the frozen features) are cached;
    a search does this once per distinct key before its trials start.
    """
    config.validate()
    rank, world = distributed_world()
    if config.micro_batch_size % world:
        raise UserError(f"--batch_size {config.batch_size} / --gradient_accumulation_steps "
                        f"{config.gradient_accumulation_steps} = micro-batch "
                        f"{config.micro_batch_size}, not divisible by {world} workers")
    if not config.train_path:
        raise UserError("--train_path is required")
    run_folder = prepare_run_dir(config) if save_run and rank == 0 else None
    say = log if rank == 0 else (lambda message: None)
    show_progress = config.progress and rank == 0
    device = pick_device(config.device)
    cuda = device.type == "cuda"

    # --- the task: data, tokens, model -------------------------------------------------------
    tokenizer = load_tokenizer(config.bert_name)
    encoder = load_encoder(config.bert_name)
    if config.max_length > position_limit(encoder):
        raise UserError(f"--max_length {config.max_length}: above {config.bert_name}'s limit of "
                        f"{position_limit(encoder)} positions")
    if not config.bert_finetuning:
        encoder.requires_grad_(False)
    build = qa_task if config.task == "qa" else classification_task
    task = build(config, tokenizer, encoder, device, say, show_progress, features_only=features_only)
    if features_only:
        return {"cached": True}
    model = task.model.to(device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if cuda else None)

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()

    def stream(batches, split):
        """The model inputs of each batch, in order (built by --num_workers processes if > 0)."""
        workers = config.num_workers if task.parallel_inputs else 0
        return batch_stream(batches, task.batch_inputs(split), workers, pin_memory=cuda)

    def forward(module, inputs):
        return module(**{k: v.to(device, non_blocking=True) for k, v in inputs.items()})

    def run_valid(batches):
        # the bare model, not DDP: workers evaluate different numbers of batches, and DDP's
        # forward would wait for the others in a collective (a deadlock)
        model.eval()
        with torch.inference_mode():
            for indices, inputs in zip(batches, stream(batches, "valid")):
                with autocast():
                    outputs = forward(model, inputs)
                yield indices, outputs.float().cpu()

    # --- optimiser and schedule --------------------------------------------------------------
    train_lengths = task.train_lengths
    steps_per_epoch = len(training_steps(train_lengths, config.batch_size,
                                         config.gradient_accumulation_steps, config.seed, 1))
    total_steps = steps_per_epoch * config.n_epochs
    optimizer = torch.optim.AdamW(parameter_groups(model, config), fused=cuda)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_linear(total_steps, int(config.warmup_ratio * total_steps)))
    history, best, best_state, bad_epochs, start_epoch = [], None, None, 0, 1

    if resume_from is not None:
        state = load_trainer_state(Path(resume_from) / "trainer_state.pt")
        load_weights(model, resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = json.loads(state["history"])
        bad_epochs, start_epoch = int(state["bad_epochs"]), int(state["epoch"]) + 1
        for m in history:
            best = m if best is None or is_better(m, best, task.metric) else best
        say(f"resumed from {resume_from} after epoch {start_epoch - 1}")

    def save_checkpoint(folder) -> None:
        """The current weights (a model folder launch.py --predict can load) + optimiser state."""
        if rank != 0:
            return
        save_model(folder, model, tokenizer, model_meta(config, task))
        save_trainer_state(Path(folder) / "trainer_state.pt", {
            "epoch": history[-1]["epoch"], "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "history": json.dumps(history),
            "bad_epochs": bad_epochs})

    mode = ("fine-tune" if config.bert_finetuning else
            "boost (cached features, head only)" if config.uses_feature_cache else "frozen encoder, head only")
    mode = f"{task.kind}, {mode}"
    say(f"training: {mode}, {config.n_epochs} epoch(s) x {steps_per_epoch} step(s), effective batch "
        f"{config.batch_size} = {config.gradient_accumulation_steps} x {config.micro_batch_size}"
        f"{f' ({config.micro_batch_size // world} on each of {world} workers)' if world > 1 else ''}, "
        f"device {device}")

    # --- epochs ------------------------------------------------------------------------------
    for epoch in range(start_epoch, config.n_epochs + 1):
        model.train()
        if model.encoder is not None and not config.bert_finetuning:
            model.encoder.eval()  # a frozen encoder runs without dropout, as boost's features do
        started = time.perf_counter()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        seen = 0
        steps = training_steps(train_lengths, config.batch_size, config.gradient_accumulation_steps,
                               config.seed, epoch)
        plan = []  # this worker's micro-batches: (indices, weight, examples in the step, last of step)
        for step in steps:
            step_examples = sum(len(mb) for mb in step)
            for k, micro_batch in enumerate(step):
                part, weight = shard(micro_batch, rank, world), 1.0
                if not part:  # this worker has nothing in a short last batch, but DDP must sync
                    part, weight = micro_batch[:1], 0.0
                plan.append((part, weight, step_examples, k == len(step) - 1))
        bar = tqdm(total=len(steps), desc=f"epoch {epoch}/{config.n_epochs}", disable=not show_progress,
                   unit="step", leave=False)
        for (part, weight, step_examples, last), inputs in zip(plan, stream([p[0] for p in plan], "train")):
            with (net.no_sync() if world > 1 and not last else nullcontext()):
                with autocast():
                    outputs = forward(net, inputs)
                ce = task.loss(outputs, part)
                # sum over the step / examples in the step, x world because DDP averages:
                # the same gradient as one big batch, however the step is split
                (ce * (weight * world / step_examples)).backward()
            loss_sum += ce.detach() * weight
            seen += len(part) * int(weight)
            if not last:
                continue
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            bar.update()
            if show_progress:
                bar.set_postfix(loss=f"{loss_sum.item() / max(seen, 1):.4f}", refresh=False)
        bar.close()
        train_seconds = time.perf_counter() - started
        loss_total, seen_total = all_reduce_sum([loss_sum.item(), seen], device, world)
        scores = task.evaluate(run_valid, rank, world,
                               lambda values: all_reduce_sum(values, device, world))
        metrics = {"epoch": epoch, "train_loss": loss_total / seen_total, **scores,
                   "epoch_seconds": time.perf_counter() - started,
                   "train_samples_per_s": seen_total / train_seconds}
        if best is None or is_better(metrics, best, task.metric):
            best, bad_epochs = metrics, 0
            if save_run and rank == 0:
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        metrics.update(best_epoch=best["epoch"], best_train_loss=best["train_loss"],
                       best_valid_loss=best["valid_loss"], **{f"best_{k}": best[k] for k in task.metrics})
        history.append(metrics)
        shown = ", ".join(f"{k.replace('_', ' ')} {metrics[k]:.4f}" for k in task.metrics)
        say(f"epoch {epoch}: train loss {metrics['train_loss']:.4f}, valid loss {metrics['valid_loss']:.4f}, "
            f"{shown}, {metrics['train_samples_per_s']:.1f} samples/s, "
            f"{metrics['epoch_seconds']:.1f} s" + ("  (best)" if best is metrics else ""))
        if report is not None:
            report(dict(metrics), save_checkpoint)
        if config.early_stop > 0 and bad_epochs >= config.early_stop:
            say(f"early stop: no better {task.metric.replace('_', ' ')} for {bad_epochs} epoch(s); "
                f"best epoch {best['epoch']}")
            break

    result = {"best": best, "history": history, "task": task.kind, "metric": task.metric, "run_dir": None}
    if run_folder is not None:
        if best_state is not None:
            model.load_state_dict(best_state)
        result["run_dir"] = str(write_run_folder(run_folder, config, task, tokenizer, history, best))
        say(f"saved the best epoch ({best['epoch']}) to {result['run_dir']}")
    return result


def is_better(metrics: dict, best: dict, metric: str) -> bool:
    """A higher valid metric wins; at a tie, the lower valid loss."""
    return (metrics[metric], -metrics["valid_loss"]) > (best[metric], -best["valid_loss"])


def model_meta(config: TrainConfig, task) -> dict:
    return {**task.meta, "bert_name": config.bert_name, "max_length": config.max_length,
            "dropout_p": config.dropout_p, "finetuned": config.bert_finetuning,
            "hidden_size": task.model.head.in_features}


def write_run_folder(folder: Path, config, task, tokenizer, history, best) -> Path:
    """Build the whole run folder beside its final place, then move it in: never half-written."""
    staging = folder.parent / f".{folder.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    save_model(staging, task.model, tokenizer, model_meta(config, task))
    (staging / "run_config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    columns = list(history[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    (staging / "metrics.csv").write_text(buf.getvalue(), encoding="utf-8")
    write_text(staging / "results.md", markdown_table(
        seed_columns(task.kind), [seed_row(task.kind, config.bert_finetuning, config.max_length, best)]))
    if folder.exists():
        shutil.rmtree(folder)  # only reached with --overwrite True (checked before training)
    os.replace(staging, folder)
    return folder
