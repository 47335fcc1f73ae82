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
import math
import os
import random
import shutil
import sys
import time
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .atomic import write_text
from .batching import eval_batches, pad_batch, shard, training_steps
from .config import TrainConfig
from .data import load_splits
from .errors import UserError
from .feature_cache import frozen_features
from .model import (BertClassifier, encoder_fingerprint, load_encoder, load_tokenizer,
                    pick_device, position_limit)
from .model_io import load_trainer_state, load_weights, save_model, save_trainer_state
from .results_table import SEED_COLUMNS, markdown_table, seed_row
from .tokenization import tokenize_cached

Report = Callable[[dict, Callable[[Path], None]], None]


def log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


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


def parameter_groups(model: BertClassifier, config: TrainConfig):
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
    """Train one configuration; return {"best", "history", "run_dir", "label_names", ...}.

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

    # --- data, tokenizer, model ------------------------------------------------------------
    splits = load_splits(config.train_path, config.valid_path, valid_fraction=config.valid_fraction,
                         seed=config.seed, max_train_samples=config.max_train_samples,
                         max_valid_samples=config.max_valid_samples)
    empty = splits.train.empty_texts + splits.valid.empty_texts
    if empty:
        say(f"note: {empty} example(s) have an empty text; they are kept and read as [CLS] [SEP]")
    say(f"data: {len(splits.train)} train / {len(splits.valid)} valid ({splits.valid_source}); "
        f"labels {splits.label_names}")
    tokenizer = load_tokenizer(config.bert_name)
    encoder = load_encoder(config.bert_name)
    if config.max_length > position_limit(encoder):
        raise UserError(f"--max_length {config.max_length}: above {config.bert_name}'s limit of "
                        f"{position_limit(encoder)} positions")
    t0 = time.perf_counter()
    train_tokens = tokenize_cached(tokenizer, splits.train.texts, config.max_length,
                                   config.truncation, config.cache_dir)
    valid_tokens = tokenize_cached(tokenizer, splits.valid.texts, config.max_length,
                                   config.truncation, config.cache_dir)
    say(f"tokens: {int(train_tokens.lengths.sum())} train tokens, mean length "
        f"{train_tokens.lengths.float().mean():.0f} ({time.perf_counter() - t0:.1f} s)")
    train_y = torch.tensor(splits.train_labels)
    valid_y = torch.tensor(splits.valid_labels)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    if features_only and not config.uses_feature_cache:
        return {"features": None}
    seed_everything(config.seed)
    model = BertClassifier(encoder, len(splits.label_names), config.dropout_p, config.pooling)
    encoder_id = None
    if not config.bert_finetuning:
        model.encoder.requires_grad_(False)
    train_features = valid_features = None
    if config.uses_feature_cache:
        encoder_id = encoder_fingerprint(encoder)
        model.encoder.to(device)
        feats = {}
        for split, tokens in (("train", train_tokens), ("valid", valid_tokens)):
            feats[split], hit, path = frozen_features(
                model, tokens, encoder_id=encoder_id, device=device, batch_size=config.eval_batch_size,
                cache_dir=config.cache_dir, pad_id=pad_id, progress=show_progress,
                desc=f"boost: encoding {split}")
            say(f"boost: {split} features {'loaded from cache' if hit else 'computed and cached'} "
                f"({len(tokens)} x {feats[split].shape[1]}, {path})")
        train_features, valid_features = feats["train"], feats["valid"]
        if features_only:
            return {"features": {split: str(t.shape) for split, t in feats.items()}}
        model.encoder = None  # only the head trains; the encoder is not needed any more
    model.to(device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if cuda else None)

    def logits_of(indices, split):
        if train_features is not None:
            feats = (train_features if split == "train" else valid_features)[indices]
            return net(features=feats.to(device, torch.float32))
        tokens = train_tokens if split == "train" else valid_tokens
        ids, mask = pad_batch(tokens, indices, pad_id, multiple=8 if cuda else 1)
        return net(ids.to(device, non_blocking=True), mask.to(device, non_blocking=True))

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()

    def evaluate():
        model.eval()
        loss_sum = correct = count = 0.0
        batches = eval_batches(valid_tokens.lengths.tolist(), config.eval_batch_size)
        with torch.inference_mode():
            for idx in batches[rank::world]:
                with autocast():
                    logits = logits_of(idx, "valid").float()
                y = valid_y[idx].to(device)
                loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
                correct += (logits.argmax(-1) == y).sum().item()
                count += len(idx)
        loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], device, world)
        return loss_sum / count, correct / count

    # --- optimiser and schedule --------------------------------------------------------------
    train_lengths = train_tokens.lengths.tolist()
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
        best = max(history, key=lambda m: (m["valid_accuracy"], -m["valid_loss"]), default=None)
        say(f"resumed from {resume_from} after epoch {start_epoch - 1}")

    def save_checkpoint(folder) -> None:
        """The current weights (a model folder launch.py --predict can load) + optimiser state."""
        if rank != 0:
            return
        save_model(folder, model, tokenizer, model_meta(config, splits.label_names, model, encoder_id))
        save_trainer_state(Path(folder) / "trainer_state.pt", {
            "epoch": history[-1]["epoch"], "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "history": json.dumps(history),
            "bad_epochs": bad_epochs})

    mode = ("fine-tune" if config.bert_finetuning else
            "boost (cached features, head only)" if config.uses_feature_cache else "frozen encoder, head only")
    say(f"training: {mode}, {config.n_epochs} epoch(s) x {steps_per_epoch} step(s), effective batch "
        f"{config.batch_size} = {config.gradient_accumulation_steps} x {config.micro_batch_size}"
        f"{f' x {world} workers' if world > 1 else ''}, device {device}")

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
        bar = tqdm(steps, desc=f"epoch {epoch}/{config.n_epochs}", disable=not show_progress,
                   unit="step", leave=False)
        for step in bar:
            step_examples = sum(len(mb) for mb in step)
            for k, micro_batch in enumerate(step):
                part, weight = shard(micro_batch, rank, world), 1.0
                if not part:  # this worker has nothing in a short last batch, but DDP must sync
                    part, weight = micro_batch[:1], 0.0
                last = k == len(step) - 1
                with (net.no_sync() if world > 1 and not last else nullcontext()):
                    with autocast():
                        logits = logits_of(part, "train")
                    ce = F.cross_entropy(logits.float(), train_y[part].to(device), reduction="sum")
                    # sum over the step / examples in the step, x world because DDP averages:
                    # the same gradient as one big batch, however the step is split
                    (ce * (weight * world / step_examples)).backward()
                loss_sum += ce.detach() * weight
                seen += len(part) * int(weight)
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if show_progress:
                bar.set_postfix(loss=f"{loss_sum.item() / max(seen, 1):.4f}", refresh=False)
        train_seconds = time.perf_counter() - started
        loss_total, seen_total = all_reduce_sum([loss_sum.item(), seen], device, world)
        valid_loss, valid_accuracy = evaluate()
        metrics = {"epoch": epoch, "train_loss": loss_total / seen_total, "valid_loss": valid_loss,
                   "valid_accuracy": valid_accuracy, "epoch_seconds": time.perf_counter() - started,
                   "train_samples_per_s": seen_total / train_seconds}
        if best is None or (valid_accuracy, -valid_loss) > (best["valid_accuracy"], -best["valid_loss"]):
            best, bad_epochs = metrics, 0
            if save_run and rank == 0:
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        metrics.update(best_epoch=best["epoch"], best_valid_accuracy=best["valid_accuracy"],
                       best_train_loss=best["train_loss"], best_valid_loss=best["valid_loss"])
        history.append(metrics)
        say(f"epoch {epoch}: train loss {metrics['train_loss']:.4f}, valid loss {valid_loss:.4f}, "
            f"valid accuracy {valid_accuracy:.4f}, {metrics['train_samples_per_s']:.1f} samples/s, "
            f"{metrics['epoch_seconds']:.1f} s" + ("  (best)" if best is metrics else ""))
        if report is not None:
            report(dict(metrics), save_checkpoint)
        if config.early_stop > 0 and bad_epochs >= config.early_stop:
            say(f"early stop: no better valid accuracy for {bad_epochs} epoch(s); best epoch {best['epoch']}")
            break

    result = {"best": best, "history": history, "label_names": splits.label_names,
              "run_dir": None, "valid_source": splits.valid_source}
    if run_folder is not None:
        if best_state is not None:
            model.load_state_dict(best_state)
        result["run_dir"] = str(write_run_folder(run_folder, config, model, tokenizer, splits.label_names,
                                                 encoder_id, history, best))
        say(f"saved the best epoch ({best['epoch']}) to {result['run_dir']}")
    return result


def model_meta(config: TrainConfig, label_names, model: BertClassifier, encoder_id) -> dict:
    return {"label_names": label_names, "bert_name": config.bert_name, "pooling": config.pooling,
            "max_length": config.max_length, "truncation": config.truncation,
            "dropout_p": config.dropout_p, "finetuned": config.bert_finetuning,
            "hidden_size": model.head.in_features, "encoder_fingerprint": encoder_id}


def write_run_folder(folder: Path, config, model, tokenizer, label_names, encoder_id, history, best) -> Path:
    """Build the whole run folder beside its final place, then move it in: never half-written."""
    staging = folder.parent / f".{folder.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    save_model(staging, model, tokenizer, model_meta(config, label_names, model, encoder_id))
    (staging / "run_config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    columns = list(history[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    (staging / "metrics.csv").write_text(buf.getvalue(), encoding="utf-8")
    write_text(staging / "results.md", markdown_table(
        SEED_COLUMNS, [seed_row(config.bert_finetuning, config.max_length, best)]))
    if folder.exists():
        shutil.rmtree(folder)  # only reached with --overwrite True (checked before training)
    os.replace(staging, folder)
    return folder
