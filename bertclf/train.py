"""The training loop. One function, read top to bottom; it serves three drivers:

- a plain local run (`launch.py --train_path ...`),
- a Ray Train worker (torch.distributed already initialised: DDP, sharded batches),
- a Ray Tune trial (a report at every check, checkpoints through `save_checkpoint`).

It never imports Ray. `report(metrics, save_checkpoint)` is called at every check (the end of each
epoch, or `evals_per_epoch` times per epoch, and on the clock with `check_every_s`); a driver that
wants a checkpoint calls `save_checkpoint(folder)`. The metrics of a run's last report carry
`done_reason`: completed, early stop (patience) or degenerate; a run stopped from outside (a search's
scheduler) has none.
"""
import csv
import io
import json
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Callable, List, Optional

import torch
from tqdm.auto import tqdm

from .atomic import atomic_folder
from .batching import batch_stream, shard, training_steps
from .checkpoint import restore, rng_state, save_checkpoint
from .config import TrainConfig
from .errors import UserError
from .heap import PeriodicTrim
from .inference import bars_shown, run_batches
from .inputs import prepared_for
from .models.device import autocast, pick_device, uses_bf16
from .models.encoder_facts import facts_of, fitting_layers, fitting_lengths, trained_pooling
from .models.encoders import load_encoder, load_tokenizer, resolve_model
from .models.lora import no_targets, with_lora
from .models.model_io import save_model
from .quantize import dynamic_int8
from .results_table import format_epoch, markdown_table, run_columns, run_row
from .tasks import check_task_options, task_named

Report = Callable[[dict, Callable[[Path], None]], None]
# --degenerate_check judges a run at its first check after this share of its epochs: Dodge et al.
# (2020) found doomed fine-tuning runs recognisable at 20-30% of training; earlier, slow starters
# still look like chance
DEGENERATE_AT = 0.25
HEARTBEAT_S = 60
CLOCK_SYNC_STEPS = 20  # several workers agree on a check on the clock at every this many steps (one all-reduce)
FUSED_ADAMW = ("cuda", "cpu")  # the devices torch has a fused AdamW for


def log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Run:
    """One run's state: what a checkpoint saves and a check updates."""
    config: TrainConfig
    task: object
    net: torch.nn.Module  # the model, wrapped in DDP when there are several workers
    optimizer: torch.optim.Optimizer
    scheduler: object
    param_groups: list  # as built from the config: name, lr, weight_decay
    tokenizer: object
    device: torch.device
    bf16: bool
    rank: int
    world: int
    say: Callable[[str], None]
    epoch: int = 1  # the epoch in progress, and the optimizer steps done in it
    step: int = 0
    history: List[dict] = field(default_factory=list)
    best: Optional[dict] = None
    best_state: Optional[dict] = None  # the best check's weights, on CPU (rank 0 only)
    rng_states: list = field(default_factory=list)  # every worker's rng_state() at the latest check
    bad_checks: int = 0
    should_stop: Callable[[], bool] = lambda: False
    stopped: bool = False  # by should_stop
    check_every_s: float = 0.0  # also a check when this many seconds of training passed since the last (0: never)

    def rank_key(self, metrics: dict):
        """Higher is better: the valid metric (by its mode), then the lower valid loss; the latest without
        validation."""
        if not self.config.has_validation:
            return metrics["epoch"]
        return self.task.rank_score(metrics), -metrics["valid_loss"]

    def meta(self, check: Optional[dict]) -> dict:
        """The metadata of the model of `check` (its metrics; None before any)."""
        c = self.config
        return {**self.task.meta, **self.task.decision(check), "bert_name": c.bert_name, "max_length": c.max_length,
                "dropout_p": c.dropout_p, "finetuned": c.bert_finetuning,
                # a frozen encoder is cut again on each load; a fine-tuned one's saved config says its count
                **({"encoder_layers": c.encoder_layers} if c.encoder_layers else {}),
                **({"lora": {"r": c.lora_r, "alpha": c.lora_alpha, "dropout": c.lora_dropout,
                             "targets": c.lora_targets}} if c.lora else {})}


def train(config: TrainConfig, report: Optional[Report] = None, *, inputs=None, model_path: Optional[str] = None,
          resume_from=None, own_checkpoint: bool = True, save_run: bool = True,
          log: Callable[[str], None] = log_stderr, should_stop: Callable[[], bool] = lambda: False,
          check_every_s: float = 0.0) -> dict:
    """Train one configuration; return {"best", "history", "task", "metric", "done_reason", "run_dir"}.

    inputs: what prepare_inputs prepared for this configuration (a search prepares them once for
    many trials); None reads and tokenises the data here. model_path: a local copy of
    config.bert_name to load the weights from (config.bert_name is still what the model records).
    should_stop: asked after every optimizer step; True ends the run there, without a report (a
    search's scheduler stopped it, and the process should be free for the next trial at once).
    check_every_s: > 0 adds a check (a report, so a checkpoint) whenever that many seconds of training
    passed since the last check, wherever the epoch stands: a long epoch without validation (a refit)
    resumes from the latest of them instead of its start; a check without validation costs no pass.
    own_checkpoint: False when resume_from is another run's checkpoint (PBT's donor): only its
    weights and place are taken, not its history or best (see checkpoint.restore); a donor's
    checkpoint of its last check gets one check of its weights (train loss NaN: no step was taken).
    """
    check_task_options(config)  # the task's own options; TrainConfig checked the others as it was made
    if check_every_s and config.has_validation:  # a validating check ranks, counts to early_stop and to ASHA
        raise ValueError("check_every_s is for a run without validation (a refit); with one, evals_per_epoch")
    run_folder = prepare_run_dir(config) if save_run and _rank() == 0 else None
    run = set_up(config, inputs, model_path, log)
    run.should_stop, run.check_every_s = should_stop, check_every_s
    if resume_from is not None:
        restore(run, resume_from, own=own_checkpoint)
        run.say(f"resumed from {resume_from} at epoch {run.epoch}, step {run.step}" + (
            "" if own_checkpoint else " (another run's weights: its checks are not this run's)"))
    run.say(describe(run))
    done = ""
    if resume_from is not None and not own_checkpoint and run.epoch > config.n_epochs:
        # given another run's weights after its last check (PBT exploits at any report): nothing is left
        # to train, so one check of those weights is this run's own report. Without it a search holds
        # only the donor's (Tune keeps the donor's last report as this trial's until the trial reports).
        metrics = check(run, 0, 1, float("nan"), 0.0)
        if report is not None:
            report(dict(metrics), partial(save_checkpoint, run=run))
    while run.epoch <= config.n_epochs and not done and not run.stopped:
        for metrics in train_until_checks(run):
            done = metrics["done_reason"]
            if report is not None:
                report(dict(metrics), partial(save_checkpoint, run=run))
            if done:
                break
    return finish(run, run_folder)


def _rank() -> int:
    return distributed_world()[0]


def distributed_world():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def all_reduce_sum(values, device, world: int):
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world > 1:
        torch.distributed.all_reduce(t)
    return t.tolist()


def gather(value, world: int) -> list:
    """[value of each worker], in rank order (every worker calls it)."""
    if world == 1:
        return [value]
    values = [None] * world
    torch.distributed.all_gather_object(values, value)
    return values


def pooled_as_trained(config: TrainConfig) -> TrainConfig:
    """`config` with the pooling its model was trained with (a sentence-transformers model's mean, as a
    search gives it: distributed/spec/bind.py) where the model's files name one and the task pools: a
    single run's default when --pooling is not given."""
    if "pooling" not in task_named(config.task).text_options:
        return config
    try:
        source = resolve_model(config.bert_name)[0]
    except UserError:  # train() names the model it cannot find, after the checks that come first there
        return config
    pooling = trained_pooling(source)
    return replace(config, pooling=pooling) if pooling else config


def prepare_run_dir(config: TrainConfig) -> Path:
    name = config.run_name or datetime.now().strftime("run-%Y%m%d-%H%M%S")
    folder = Path(config.save_path) / name
    if folder.exists() and not config.overwrite:
        raise UserError(f"--save_path {folder}: this run folder exists already; choose another "
                        f"--run_name, or pass --overwrite True to replace it")
    return folder


# --- set-up: data, model, optimiser ------------------------------------------------------------

def set_up(config: TrainConfig, inputs, model_path: Optional[str], log) -> Run:
    rank, world = distributed_world()
    if config.micro_batch_size % world:
        raise UserError(f"--batch_size {config.batch_size} / --gradient_accumulation_steps "
                        f"{config.gradient_accumulation_steps} = micro-batch {config.micro_batch_size}, "
                        f"not divisible by {world} workers")
    say = log if rank == 0 else (lambda message: None)
    source, found = (model_path, "the search's copy") if model_path else resolve_model(config.bert_name)
    facts = facts_of(source)
    fitting_lengths((config.max_length,), facts, config.bert_name, f"--max_length {config.max_length}")
    fitting_layers(config.encoder_layers, facts, config.bert_name, f"--encoder_layers {config.encoder_layers}")
    if config.lora and config.lora_targets not in facts.adapter_targets:
        raise no_targets(config.lora_targets, config.bert_name)
    if inputs is None:
        inputs = prepared_for(config, say, source)
    device = pick_device(config.device)
    # boost trains the head on cached features: the encoder's weights are not needed
    encoder = None if config.uses_feature_cache else load_encoder(source, config.encoder_layers)
    if encoder is not None and not config.bert_finetuning:
        encoder.requires_grad_(False)
    task = task_named(config.task).build(config, inputs, encoder, device)
    if config.lora:  # after the task has dropped what its pooling does not read: only used layers get adapters
        task.model.encoder = with_lora(task.model.encoder, config.lora_r, config.lora_alpha, config.lora_dropout,
                                       config.lora_targets)
    pooling = (task.meta.get("pooling"), task.meta.get("layers"))
    pooled = (f"; pooling cls = {facts.cls_pooling}" if pooling == ("cls", "last") else
              f"; pooling {pooling[0]}, the pooling it was trained with" if pooling[0] == trained_pooling(source)
              else "")
    say(f"model: {config.bert_name} from {found} ({facts.model_type}, {facts.position_limit} positions, "
        f"{facts.attention} attention){pooled}")
    for note in facts.notes:
        say(f"model: {note}")
    # the same initial weights everywhere (built from config.seed), but each worker its own dropout
    torch.manual_seed(worker_seed(config.seed, rank))
    model = task.model.to(device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    groups = parameter_groups(model, config)
    steps_per_epoch = len(training_steps(task.train_lengths, config.batch_size,
                                         config.gradient_accumulation_steps, config.training_seed, 1))
    total_steps = steps_per_epoch * config.n_epochs
    # fused: one kernel for every weight's update, on CPUs too (bench/adamw_step.py: the same update, the
    # optimizer's part of a MiniLM step about 4x faster on a 2-core CPU than torch's default)
    optimizer = torch.optim.AdamW([dict(g) for g in groups], fused=device.type in FUSED_ADAMW)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_linear(total_steps, int(config.warmup_ratio * total_steps)))
    tokenizer = load_tokenizer(source) if config.bert_finetuning else None  # saved beside a fine-tuned encoder
    return Run(config=config, task=task, net=net, optimizer=optimizer, scheduler=scheduler,
               param_groups=[{k: g[k] for k in ("name", "lr", "weight_decay")} for g in groups],
               tokenizer=tokenizer, device=device, bf16=uses_bf16(config.precision, device),
               rank=rank, world=world, say=say)


def worker_seed(seed: int, rank: int) -> int:
    """The random seed of worker `rank` after the model is built: one worker runs on config.seed's
    own stream; under DDP each worker draws different dropout masks for its different examples."""
    return seed + 1_000_003 * rank


def parameter_groups(model, config: TrainConfig):
    """Encoder (its adapters with LoRA: the weights that train) at lr_main, head at lr; no weight decay
    on biases and LayerNorm weights."""
    groups = []
    named = [("head", model.head.named_parameters(), config.lr)]
    if config.bert_finetuning:
        named.insert(0, ("encoder", model.encoder.named_parameters(), config.lr_main))
    for name, params, lr in named:
        decay, no_decay = [], []
        for pname, p in params:
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "norm" in pname.lower() else decay).append(p)
        groups.append({"name": name, "params": decay, "lr": lr, "weight_decay": config.weight_decay})
        groups.append({"name": f"{name}_no_decay", "params": no_decay, "lr": lr, "weight_decay": 0.0})
    return [g for g in groups if g["params"]]


def warmup_linear(total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


def describe(run: Run) -> str:
    c = run.config
    lora = f"LoRA (rank {c.lora_r}, alpha {c.lora_alpha:g}, adapters on {c.lora_targets}), head"
    mode = (lora if c.lora else "fine-tune" if c.bert_finetuning else
            "boost (cached features, head only)" if c.uses_feature_cache else "frozen encoder, head only")
    workers = f" ({c.micro_batch_size // run.world} on each of {run.world} workers)" if run.world > 1 else ""
    checks = f", {c.evals_per_epoch} checks per epoch" if c.evals_per_epoch > 1 else ""
    if c.truncation == "chunks" and not c.uses_feature_cache:  # task.pieces: the memory bound of long texts
        workers += f", at most {max(c.micro_batch_size // run.world, c.max_chunks)} windows a forward pass"
    return (f"training: {run.task.kind}, {mode}, {c.n_epochs} epoch(s){checks}, effective batch {c.batch_size} = "
            f"{c.gradient_accumulation_steps} x {c.micro_batch_size}{workers}, device {run.device}"
            f"{', bf16 autocast' if run.bf16 else ''}")


# --- one epoch: optimizer steps, with a check after some of them -------------------------------

def train_until_checks(run: Run):
    """Train the epoch in progress from its current step; yield a check's metrics at each check."""
    c, task, model = run.config, run.task, run.task.model
    steps = training_steps(task.train_lengths, c.batch_size, c.gradient_accumulation_steps, c.training_seed, run.epoch)
    checks = check_steps(len(steps), c.evals_per_epoch if c.has_validation else 1)
    passes = forward_passes(run, steps)
    set_train_mode(run)
    started, loss_sum, seen = time.perf_counter(), torch.zeros((), device=run.device, dtype=torch.float64), 0
    bars = bars_shown(c.progress)
    bar = tqdm(total=len(steps), initial=run.step, desc=f"epoch {run.epoch}/{c.n_epochs}", unit="step",
               disable=not (bars and run.rank == 0), leave=False)
    heartbeat = time.perf_counter()  # without a bar (a trial, a refit, a pipe), a line every HEARTBEAT_S says where it is
    trim = PeriodicTrim()  # passes of many shapes (chunks, dynamic padding) leave free heap behind (heap.py)
    inputs_stream = stream(run, [p[1] for p in passes], "train")
    for (number, part, weight, step_examples, last), inputs in zip(passes, inputs_stream):
        with (run.net.no_sync() if run.world > 1 and not last else nullcontext()):
            with autocast(run.device, run.bf16):
                outputs = forward(run, run.net, inputs)
            ce = task.loss(outputs, part)
            # sum over the step / examples in the step, x world because DDP averages:
            # the same gradient as one big batch, however the step is split
            (ce * (weight * run.world / step_examples)).backward()
        loss_sum += ce.detach() * weight
        seen += len(part) * int(weight)
        if not last:
            continue
        if c.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), c.max_grad_norm)
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
        run.step = number
        trim.tick()
        bar.update()
        if not bars and time.perf_counter() - heartbeat > HEARTBEAT_S:
            heartbeat = time.perf_counter()
            rate = seen * run.world / (heartbeat - started)
            run.say(f"epoch {run.epoch}: step {number}/{len(steps)}, train loss {loss_sum.item() / max(seen, 1):.4f}, "
                    f"{rate:.1f} samples/s, ~{(len(steps) - number) * c.batch_size / max(rate, 1e-9) / 60:.0f} min "
                    f"left in the epoch")
        if run.should_stop():
            run.stopped = True
            break
        if number not in checks and not clock_check_due(run, number, started):
            continue
        loss_total, seen_total = all_reduce_sum([loss_sum.item(), seen], run.device, run.world)
        speed = seen_total / (time.perf_counter() - started)
        if number == len(steps):
            run.epoch, run.step = run.epoch + 1, 0
        yield check(run, number, len(steps), loss_total / seen_total, speed)
        set_train_mode(run)
        started, seen = time.perf_counter(), 0
        loss_sum.zero_()
    bar.close()


def forward_passes(run: Run, steps) -> list:
    """This worker's forward passes of `steps` from the step in progress on: (step number, indices, weight,
    examples in the step, last of the step), a micro-batch's share split by task.pieces."""
    passes = []
    for number, step in enumerate(steps[run.step:], start=run.step + 1):
        step_examples = sum(len(mb) for mb in step)
        for k, micro_batch in enumerate(step):
            part, weight = shard(micro_batch, run.rank, run.world), 1.0
            if not part:  # this worker has nothing in a short last batch, but DDP must sync
                part, weight = micro_batch[:1], 0.0
            pieces = run.task.pieces(part)
            passes += [(number, piece, weight, step_examples, k == len(step) - 1 and j == len(pieces) - 1)
                       for j, piece in enumerate(pieces)]
    return passes


def clock_check_due(run: Run, step: int, since: float) -> bool:
    """Whether run.check_every_s seconds passed since `since` (0: never). Several workers go by rank 0's
    clock, heard at every CLOCK_SYNC_STEPS-th step, so that all of them check after the same step."""
    if not run.check_every_s:
        return False
    due = time.perf_counter() - since > run.check_every_s
    if run.world == 1:
        return due
    if step % CLOCK_SYNC_STEPS:
        return False
    return all_reduce_sum([float(due and run.rank == 0)], run.device, run.world)[0] > 0


def check_steps(n_steps: int, per_epoch: int) -> set:
    """The step numbers after which a check runs: per_epoch of them, evenly spaced, the last at the end."""
    return {max(1, round(n_steps * k / per_epoch)) for k in range(1, per_epoch + 1)}


def set_train_mode(run: Run) -> None:
    model = run.task.model
    model.train()
    if model.encoder is not None and not run.config.bert_finetuning:
        model.encoder.eval()  # a frozen encoder runs without dropout, as boost's features do


def stream(run: Run, batches, split):
    """The model inputs of each batch, in order (built by --num_workers processes if > 0)."""
    workers = run.config.num_workers if run.task.parallel_inputs else 0
    return batch_stream(batches, run.task.batch_inputs(split), workers, pin_memory=run.device.type == "cuda")


def forward(run: Run, module, inputs):
    return module(**{k: v.to(run.device, non_blocking=True) for k, v in inputs.items()})


# --- a check: evaluate, keep the best, decide whether to stop ----------------------------------

def check(run: Run, step: int, n_steps: int, train_loss: float, speed: float) -> dict:
    c, task = run.config, run.task
    started = time.perf_counter()
    epoch = run.epoch - 1 + run.step / n_steps if run.step else run.epoch - 1
    metrics = {"epoch": round(epoch, 4), "train_loss": train_loss, "train_samples_per_s": speed}
    if c.has_validation:
        metrics.update(validate(run))
    metrics["check_seconds"] = time.perf_counter() - started
    if run.best is None or run.rank_key(metrics) > run.rank_key(run.best):
        run.best, run.bad_checks = metrics, 0
        if run.rank == 0:
            run.best_state = {k: v.detach().to("cpu", copy=True) for k, v in task.model.state_dict().items()}
    else:
        run.bad_checks += 1
    metrics.update({f"best_{k}": v for k, v in run.best.items() if k in ("epoch", "train_loss", "valid_loss")
                    or k in task.metrics})
    run.rng_states = gather(rng_state(), run.world)  # a checkpoint of this check resumes every worker's stream
    judged = not any(m["epoch"] >= DEGENERATE_AT * c.n_epochs for m in run.history)
    run.history.append(metrics)
    metrics["done_reason"] = ""
    if run.epoch > c.n_epochs:
        metrics["done_reason"] = "completed"
    elif c.early_stop > 0 and run.bad_checks >= c.early_stop:
        metrics["done_reason"] = "early stop"
    elif c.degenerate_check and judged and metrics["epoch"] >= DEGENERATE_AT * c.n_epochs and task.degenerate(metrics):
        metrics["done_reason"] = "degenerate"
    shown = "".join(f", {k.replace('_', ' ')} {metrics[k]:.4f}" for k in ("valid_loss", *task.metrics) if k in metrics)
    run.say(f"epoch {format_epoch(metrics['epoch'])}: train loss {train_loss:.4f}{shown}, {speed:.1f} samples/s"
            + ("  (best)" if run.best is metrics and c.has_validation else "")  # without: the latest is the model
            + (f"  -> {metrics['done_reason']}" if metrics["done_reason"] not in ("", "completed") else ""))
    return metrics


def validate(run: Run) -> dict:
    """The task's valid metrics of the model; with precision int8, those of its int8 copy (the model that
    ships: quantize.dynamic_int8, on the CPU), and the fp32 model's beside them as fp32_<name>."""
    def reduce(values):
        return all_reduce_sum(values, run.device, run.world)
    found = run.task.evaluate(partial(run_valid, run), run.rank, run.world, reduce)
    if run.config.precision != "int8":
        return found
    quantised = run.task.evaluate(partial(run_valid, run, model=dynamic_int8(run.task.model)), run.rank, run.world,
                                  reduce)
    return {**quantised, **{f"fp32_{name}": value for name, value in found.items()}}


def run_valid(run: Run, batches, model=None):
    """(indices, outputs) of the model (or `model`, a CPU copy of it) over the valid batches."""
    # the bare model, not DDP: workers evaluate different numbers of batches, and DDP's
    # forward would wait for the others in a collective (a deadlock)
    device, bf16 = (run.device, run.bf16) if model is None else (torch.device("cpu"), False)
    for indices, _, outputs in run_batches(run.task.model if model is None else model, batches,
                                           stream(run, batches, "valid"), device=device, bf16=bf16):
        yield indices, outputs.float().cpu()


# --- finish: the best check's model, saved ----------------------------------------------------

def finish(run: Run, run_folder: Optional[Path]) -> dict:
    result = {"best": run.best, "history": run.history, "task": run.task.kind, "metric": run.task.metric,
              "done_reason": run.history[-1]["done_reason"] if run.history else "", "run_dir": None}
    if run_folder is not None and run.best is not None:
        if run.best_state is not None:
            run.task.model.load_state_dict(run.best_state)
        result["run_dir"] = str(write_run_folder(run_folder, run))
        run.say(f"saved the best check (epoch {format_epoch(run.best['epoch'])}) to {result['run_dir']}")
    return result


def write_run_folder(folder: Path, run: Run) -> Path:
    """Build the whole run folder beside its final place, then move it in: never half-written.
    An existing folder is replaced only with --overwrite True (checked before training)."""
    columns = list(dict.fromkeys(k for m in run.history for k in m))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(run.history)
    with atomic_folder(folder) as staging:
        save_model(staging, run.task.model, run.tokenizer, run.meta(run.best))
        (staging / "run_config.json").write_text(json.dumps(run.config.to_dict(), indent=2), encoding="utf-8")
        (staging / "metrics.csv").write_text(buf.getvalue(), encoding="utf-8")
        (staging / "results.md").write_text(markdown_table(
            run_columns(run.task.kind), [run_row(run.task.kind, run.config.bert_finetuning,
                                                   run.config.max_length, run.best)]), encoding="utf-8")
    return folder
