"""The checks a spec passes once, as it is resolved: its top-level values (each error naming the
override that set it: file and key, --set KEY or the flag as typed), then the whole spec (scheduler,
resources, space, every corner a valid run)."""
import itertools
from typing import Dict

from bertclf.cost import COST_FIELDS, COSTS
from bertclf.errors import UserError
from bertclf.inputs import inputs_key
from bertclf.tasks import TASKS, check_task_options, task_named

from .model import SearchSpec

# the corners every spec is validated at, at most: the product of a large space's values is huge
CORNERS_VALIDATED = 4096
PLACEMENTS = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")
SCHEDULERS = ("asha", "pbt", "none")
TOKENIZE_ON = ("driver", "workers")  # where a search's texts are tokenised (distributed/worker_tokens.py)


def number(value, where: str):
    if isinstance(value, bool):
        raise UserError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return value
    try:  # YAML 1.1 reads 1e-4 (no dot) as a string
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: expected a number, got {value!r}") from None


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_seconds(value):
    seconds = number(value, "")
    if seconds <= 0:
        raise ValueError
    return seconds


def _is(test):
    """A check of VALUES from a test of the value: the value itself when it passes."""
    def check(value):
        if not test(value):
            raise ValueError
        return value
    return check


POSITIVE = (_is(lambda v: _whole(v) and v >= 1), "a positive integer")
OPTIONAL_POSITIVE = (_is(lambda v: v is None or (_whole(v) and v >= 1)), "a positive integer or null")
BOOLEAN = (_is(lambda v: isinstance(v, bool)), "true or false")
# top-level key: (its check: the value as the spec holds it, or ValueError; what it expects)
VALUES = {
    "num_samples": POSITIVE, "startup_trials": POSITIVE, "checkpoints_to_keep": POSITIVE, "max_failures": POSITIVE,
    "repeat_top": POSITIVE, "max_concurrent": OPTIONAL_POSITIVE, "max_test_samples": OPTIONAL_POSITIVE,
    "repeats": (_is(lambda v: _whole(v) and (v == 0 or v >= 2)),
                "0 (no repeats) or a number of seeds of at least 2"),
    "time_budget": (lambda v: None if v is None else _positive_seconds(v), "a positive number of seconds or null"),
    "refit_checkpoint_every": (_positive_seconds, "a positive number of seconds"),
    "dev_split": (_is(lambda v: v is None or (isinstance(v, float) and 0 < v < 1)), "a fraction in (0, 1) or null"),
    "refit": BOOLEAN, "start_from_defaults": BOOLEAN,
    "tokenize_on": (_is(lambda v: v in TOKENIZE_ON), " or ".join(TOKENIZE_ON)),
    "objectives": (_is(lambda v: isinstance(v, list) and v and all(isinstance(n, str) for n in v)
                       and len(set(v)) == len(v)),
                   f"a list of one metric and measured costs ({', '.join(COSTS)}), e.g. [valid_accuracy, latency_ms]"),
    "constraints": (lambda v: _limits(v), f"a mapping of measured costs ({', '.join(COSTS)}) to positive limits, "
                                          f"e.g. {{latency_ms: 10}}"),
}


def _limits(value) -> dict:
    """A constraints mapping with its limits as numbers; ValueError for another quantity or limit."""
    if not isinstance(value, dict) or set(value) - set(COSTS):
        raise ValueError
    limits = {name: number(limit, "") for name, limit in value.items()}
    if any(limit <= 0 for limit in limits.values()):
        raise ValueError
    return limits


def check_values(merged: dict, origins: Dict[str, object]) -> dict:
    """`merged` with its top-level values checked (numbers read as numbers); an error names the
    override that set the value (load.Override.where)."""
    out = dict(merged)
    for key, (check, expected) in VALUES.items():
        if key not in merged:
            continue
        try:
            out[key] = check(merged[key])
        except (ValueError, UserError):
            where, show = origins[key].where(key)
            raise UserError(f"{where}: expected {expected}" + (f", got {merged[key]!r}" if show else "")) from None
    return out


def check_spec(spec: SearchSpec) -> None:
    """Everything about a spec its single values do not say: how its parts fit together, and that every
    corner of its space is a valid run."""
    _check_data(spec)
    try:  # every corner must be a valid run
        for sampled in itertools.islice(spec.corners(), CORNERS_VALIDATED):
            check_task_options(spec.trial_config(sampled))
    except UserError as e:
        raise UserError(f"{spec.source}: a configuration of this space is invalid: {e}") from None
    _check_scheduler(spec)
    _check_objectives(spec)
    _check_folds(spec)
    _check_resources(spec)
    _check_space(spec)
    _check_ranges_keep_inputs(spec)


def _check_data(spec: SearchSpec) -> None:
    files = spec.files
    if not isinstance(files, dict) or set(files) - {"train", "valid", "test"} or \
            not all(isinstance(v, str) for v in files.values()) or (files and "train" not in files):
        raise UserError(f"{spec.source}: files: expected a mapping with train (and optionally valid, test) file paths")
    if spec.tokenize_on == "workers" and not task_named(spec.task).streams_texts:
        streamed = " / ".join(name for name, task in TASKS.items() if task.streams_texts)
        raise UserError(f"{spec.source}: tokenize_on: workers tokenise {streamed} data only; a {spec.task} "
                        f"search tokenises on the driver (tokenize_on: driver)")


def _check_scheduler(spec: SearchSpec) -> None:
    source, s = spec.source, spec.scheduler
    if s.type not in SCHEDULERS:
        raise UserError(f"{source}: scheduler.type: expected {', '.join(SCHEDULERS)}, got {s.type!r}")
    for key in ("grace_period", "perturbation_interval"):
        if getattr(s, key) <= 0:
            raise UserError(f"{source}: scheduler.{key}: expected a positive number of epochs")
    if s.reduction_factor <= 1:
        raise UserError(f"{source}: scheduler.reduction_factor: expected a number above 1")
    if not 0 <= s.quantile_fraction <= 0.5 or not 0 <= s.resample_probability <= 1:
        key = "quantile_fraction" if not 0 <= s.quantile_fraction <= 0.5 else "resample_probability"
        raise UserError(f"{source}: scheduler.{key}: out of range")
    if s.type != "pbt":
        return
    if not any(not d.is_choice for d in spec.space.values()):
        raise UserError(f"{source}: scheduler.type pbt: needs a continuous hyperparameter in space to mutate")
    if spec.has_model_ranges:
        raise UserError(f"{source}: per_model: ranges of their own need the TPE searcher (scheduler asha or none); "
                        f"PBT mutates one range shared by every trial")
    if spec.resources.workers_per_trial > 1:
        raise UserError(f"{source}: scheduler.type pbt with resources.workers_per_trial "
                        f"{spec.resources.workers_per_trial}: PBT hands a trial another trial's checkpoint, but a "
                        f"trial of several workers is a TorchTrainer that restores only its own; use "
                        f"workers_per_trial 1, or scheduler asha")


def _check_objectives(spec: SearchSpec) -> None:
    """Costs are measured on text classifiers' architectures (a pooled encoder and a head), and several
    objectives or constraints need Optuna's searcher (PBT draws at random)."""
    what = "objectives" if spec.objectives else "constraints"
    if spec.measures_cost and "pooling" not in task_named(spec.task).text_options:
        raise UserError(f"{spec.source}: {what}: inference costs are measured for searches that pool a text "
                        f"(classification, regression, multilabel), not {spec.task}")
    if spec.measures_cost and spec.scheduler.type == "pbt":
        raise UserError(f"{spec.source}: {what}: costs steer Optuna's searcher, which PBT does not use; use "
                        f"scheduler asha or none")
    ranged = [key for key in COST_FIELDS if key in spec.space and not spec.space[key].is_choice]
    if spec.measures_cost and ranged:  # costs are measured per architecture, before the trials: a finite set
        raise UserError(f"{spec.source}: space.{ranged[0]}: with {what}, the cost of every architecture is measured "
                        f"before the trials; use a choice, e.g. {{choice: [...]}}")


def _check_folds(spec: SearchSpec) -> None:
    """cv_folds: a trial's folds run one after another in the trial itself, each reported once it ends."""
    if not spec.cv_folds:
        return
    if spec.files.get("valid"):
        raise UserError(f"{spec.source}: cv_folds {spec.cv_folds} validates on folds of train: the valid file "
                        f"{spec.files['valid']} would not be read; give one of them")
    if spec.scheduler.type == "pbt":
        raise UserError(f"{spec.source}: cv_folds {spec.cv_folds} with scheduler.type pbt: PBT hands a trial another "
                        f"trial's weights mid-run, but each fold starts from the encoder's; use scheduler asha or none")
    if "int8" in spec.possible("precision"):
        raise UserError(f"{spec.source}: cv_folds {spec.cv_folds} with precision int8: the int8 copy is checked on a "
                        f"valid split, which folds do not hold out; drop one of them")
    if spec.resources.workers_per_trial > 1:
        raise UserError(f"{spec.source}: cv_folds {spec.cv_folds} with resources.workers_per_trial "
                        f"{spec.resources.workers_per_trial}: folds run in a one-worker trial; use workers_per_trial 1")


def _check_resources(spec: SearchSpec) -> None:
    source, r = spec.source, spec.resources
    if r.workers_per_trial > 1:
        check_batches_divide(spec, r.workers_per_trial, "resources.workers_per_trial")
    if r.placement not in PLACEMENTS:
        raise UserError(f"{source}: resources.placement: expected {', '.join(PLACEMENTS)}, got {r.placement!r}")
    cpus_bad = r.cpus_per_worker is not None and r.cpus_per_worker <= 0  # None: sized when bound (bind.py)
    if r.workers_per_trial < 1 or cpus_bad or r.gpus_per_worker < 0 or not 0 < r.boost_gpu_fraction <= 1:
        raise UserError(f"{source}: resources: workers_per_trial >= 1, cpus_per_worker > 0, "
                        f"gpus_per_worker >= 0, 0 < boost_gpu_fraction <= 1")
    if r.refit_workers is not None and r.refit_workers < 1:
        raise UserError(f"{source}: resources.refit_workers: expected a positive integer or null")


def _check_space(spec: SearchSpec) -> None:
    if "bert_name" in spec.space and not spec.space["bert_name"].is_choice:
        raise UserError(f"{spec.source}: space.bert_name: expected {{choice: [model, ...]}}")
    for key in ("batch_size", "gradient_accumulation_steps"):
        if key in spec.space and not spec.space[key].is_choice:
            raise UserError(f"{spec.source}: space.{key}: use a choice, so that every batch size divides evenly")


def check_batches_divide(spec: SearchSpec, workers: int, what: str) -> None:
    """Every micro-batch the space can make (batch_size / gradient_accumulation_steps) splits evenly
    over `workers` DDP workers; else one UserError line naming `what` decided the count."""
    for sampled in spec.corners(["batch_size", "gradient_accumulation_steps"]):
        config = spec.trial_config(sampled)
        if config.micro_batch_size % workers:
            raise UserError(f"{spec.source}: {what} is {workers} workers, but batch_size {config.batch_size} / "
                            f"gradient_accumulation_steps {config.gradient_accumulation_steps} = micro-batch "
                            f"{config.micro_batch_size} does not split evenly over them; choose batch sizes (or a "
                            f"worker count) so that it does")


def _check_ranges_keep_inputs(spec: SearchSpec) -> None:
    """Inputs are prepared once per distinct value: an option that changes them must be a choice (so a
    model's limit only ever drops choices: bind.within_limit)."""
    for key, dist in spec.space.items():
        if dist.is_choice:
            continue
        point = spec.default_point()
        low, high = ({**point, key: dist.args[0]}, {**point, key: dist.args[1]})
        if inputs_key(spec.trial_config(low)) != inputs_key(spec.trial_config(high)):
            raise UserError(f"{spec.source}: space.{key}: inputs are prepared once per distinct value of this "
                            f"option; use a choice, not a range")
