"""The sections of a merged spec read into their typed parts (fixed, columns, space, per_model,
first_trial, scheduler, resources) and the SearchSpec they make, each error naming file and key."""
import dataclasses
import typing
from typing import Any, Callable, Dict

from bertclf.config import TrainConfig
from bertclf.cost import COSTS
from bertclf.data.datasets import TASKS as DATASET_TASKS
from bertclf.errors import UserError, expected
from bertclf.tasks import TASKS, task_named

from .check import number
from .model import CUSTOM, MODES, Distribution, Resources, Scheduler, SearchSpec

TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
FLOAT_FIELDS = {f.name for f in dataclasses.fields(TrainConfig) if f.type in (float, "float")}
SET_BY_SEARCH = {"train_path", "valid_path", "save_path", "run_name", "overwrite", "task", "metric"}
COLUMN_OPTIONS = {"text": "text_column", "pair": "text_pair_column", "label": "label_column",
                  "labels": "label_columns"}
# options that decide which examples are validated on: every trial must be ranked on the same ones
DATA_DEFINING = ("train_path", "valid_path", "seed", "valid_fraction", "cv_folds", "max_valid_samples",
                 *COLUMN_OPTIONS.values())
DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
# What a search does unless its spec says otherwise: the recipe that won the equal-budget race
# against Trainer.hyperparameter_search (bench/README.md). Checks twice per epoch let ASHA stop a
# doomed run after a sixth of its budget, and the degenerate check stops a run still at chance;
# head+tail keeps the start and the end of a long text (Sun et al. 2019); warm-up over 10% of the
# steps. The head's own learning rate (lr) is the engine's already, ASHA's first cut at the first check
# is Scheduler's default, and the pooling suited to each model is chosen when the model is known (plan.py).
RECIPE = {"evals_per_epoch": 2, "degenerate_check": True, "truncation": "head+tail", "warmup_ratio": 0.1}
PROFILES = ("cpu", "smoke")
# metric_mode: whether the metric is maximised or minimised (Ray Tune's `mode`, named apart from `mode` in a
# space, which is finetune | lora | boost | frozen); the metric's own (the task's), accepted so that a spec may say so
TOP_KEYS = {f.name for f in dataclasses.fields(SearchSpec)} - {"source", "recipe"} | {*PROFILES, "metric_mode"}
# the start of an error about a dotted key (fixed.n_epochs): the override that set it, as its user wrote it
Where = Callable[[str], str]


def build_spec(merged: dict, source: str, at: Where) -> SearchSpec:
    """The SearchSpec of a merged spec whose top-level values are checked (check.check_values); `at`
    names where a key was set."""
    dataset, task, metric = _scoring(merged, source, at)
    fixed = _fixed(merged.get("fixed") or {}, at)
    fixed.update(_columns(merged.get("columns") or {}, source))
    space = _space(merged.get("space") or {}, at)
    recipe = tuple(k for k in RECIPE if k not in fixed and k not in space and _recipe_applies(k, fixed, task))
    fixed = {**{k: RECIPE[k] for k in recipe}, **fixed, "task": task, "metric": metric}
    return SearchSpec(
        name=merged["name"], dataset=dataset, task=task, metric=metric, fixed=fixed, space=space,
        source=source, per_model=_per_model(merged.get("per_model") or {}, space, fixed, source), recipe=recipe,
        scheduler=_section(Scheduler, merged.get("scheduler"), "scheduler", at),
        resources=_section(Resources, merged.get("resources"), "resources", at),
        **{k: merged[k] for k in ("num_samples", "seed", "startup_trials", "checkpoints_to_keep", "max_failures",
                                  "max_concurrent", "max_test_samples", "dev_split", "refit", "refit_checkpoint_every",
                                  "time_budget", "repeats", "repeat_top", "start_from_defaults", "files", "columns",
                                  "description", "anchors", "tokenize_on", "constraints") if k in merged},
        objectives=tuple(merged.get("objectives") or ()),
        first_trial=_first_trial(merged.get("first_trial") or {}, space, source))


def _scoring(merged: dict, source: str, at: Where):
    """(dataset, task, metric): a named data set's (custom: your own files, classified unless the spec
    states its task), and the metric that ranks the trials, in its own mode (max, or min for an error)."""
    dataset = merged.get("dataset") or CUSTOM
    if not isinstance(merged.get("name"), str) or not isinstance(dataset, str):
        raise UserError(f"{source}: {'name' if not isinstance(merged.get('name'), str) else 'dataset'}: "
                        f"expected a string")
    if dataset not in DATASET_TASKS and dataset != CUSTOM:
        raise UserError(f"{source}: dataset: expected one of {', '.join(sorted(DATASET_TASKS))}, or {CUSTOM} "
                        f"(or none) for your own files, got {dataset!r}")
    task = merged.get("task") or DATASET_TASKS.get(dataset, "classification")
    if task not in TASKS or (dataset != CUSTOM and task != DATASET_TASKS[dataset]):
        raise UserError(f"{source}: task: expected " + (f"{DATASET_TASKS[dataset]} (the task of {dataset})"
                        if dataset != CUSTOM else " | ".join(TASKS)) + f", got {task!r}")
    metrics = TASKS[task].metrics
    chosen = _objective_metric(merged.get("objectives") or [], metrics, task, source)
    metric = merged.get("metric") or chosen or metrics[0]
    if chosen and chosen != metric:
        raise UserError(f"{source}: objectives: its metric {chosen} is not the spec's metric {metric}; name one")
    mode = TASKS[task].mode(metric)
    if metric not in metrics or merged.get("metric_mode", mode) != mode:
        said = at("metric")  # a metric of the command line, in its words
        raise UserError(f"{said if said.startswith('--set') else f'{source}: metric/metric_mode'}: {task if merged.get('task') else dataset} is scored "
                        f"by {' or '.join(metrics)}, each in its own mode (max; min for "
                        f"{', '.join(TASKS[task].minimised) or 'none'}), got {metric} / {merged.get('metric_mode')}")
    return dataset, task, metric


def _objective_metric(objectives: list, metrics, task: str, source: str):
    """The one metric among `objectives` (the task's `metrics`; the others: measured costs), None for none."""
    unknown = [name for name in objectives if name not in metrics and name not in COSTS]
    if unknown:
        raise UserError(f"{source}: objectives: unknown objective {unknown[0]!r} (expected one metric of {task}: "
                        f"{', '.join(metrics)}; and measured costs: {', '.join(COSTS)})")
    chosen = [name for name in objectives if name in metrics]
    if objectives and len(chosen) != 1:
        raise UserError(f"{source}: objectives: expected exactly one metric of {task} ({', '.join(metrics)}) beside "
                        f"the measured costs, got {objectives}")
    return chosen[0] if chosen else None


def _recipe_applies(key: str, fixed: dict, task: str) -> bool:
    """A recipe option the task reads; checks per epoch only where the spec sets no early_stop, whose
    patience (counted in checks) it wrote for one check per epoch."""
    if key == "evals_per_epoch":
        return "early_stop" not in fixed
    return key not in ("truncation", "pooling") or key in task_named(task).text_options


def _fixed(fixed, at: Where) -> dict:
    if not isinstance(fixed, dict):
        raise UserError(f"{at('fixed')}: expected a mapping of training options")
    for key in fixed:
        if key == "mode":
            raise UserError(f"{at('fixed.mode')}: put mode under space (choice) or set bert_finetuning/boost/lora")
        if key in TOP_KEYS & SET_BY_SEARCH:  # task, metric: the spec states them once, at its top level
            raise UserError(f"{at('fixed.' + key)}: a top-level key of the spec, not a fixed option "
                            f"(--set {key}={fixed[key]}, or {key}: {fixed[key]} in the file)")
        if key not in TRAIN_FIELDS or key in SET_BY_SEARCH:
            raise UserError(f"{at('fixed.' + key)}: not a training option a search can fix "
                            f"({expected(key, TRAIN_FIELDS - SET_BY_SEARCH)})")
    # YAML 1.1 reads 3e-5 (no dot) as a string: a float option's value is read as a number
    return {key: number(value, at(f"fixed.{key}")) if key in FLOAT_FIELDS else value
            for key, value in fixed.items()}


def _columns(columns, source) -> dict:
    """columns: {text, pair, label, labels} -> the training options text_column, text_pair_column,
    label_column, label_columns (labels: a list of 0/1 columns, multi-label)."""
    labels = columns.get("labels") if isinstance(columns, dict) else None
    if not isinstance(columns, dict) or set(columns) - set(COLUMN_OPTIONS) or \
            not all(isinstance(v, str) for role, v in columns.items() if role != "labels") or \
            (labels is not None and not (isinstance(labels, list) and labels and
                                         all(isinstance(v, str) and "," not in v for v in labels))):
        raise UserError(f"{source}: columns: expected a mapping of text, pair, label to column names, and of "
                        f"labels to a list of 0/1 column names (multilabel), e.g. {{text: comment, label: target}}")
    return {COLUMN_OPTIONS[role]: ",".join(name) if role == "labels" else name for role, name in columns.items()}


def _space(space, at: Where) -> Dict[str, Distribution]:
    if not isinstance(space, dict):
        raise UserError(f"{at('space')}: expected a mapping of option: {{distribution: ...}}")
    out = {}
    for key, dist in space.items():
        where = at(f"space.{key}")
        if key in DATA_DEFINING:
            raise UserError(f"{where}: decides which examples are validated on, and every trial must be ranked on "
                            f"the same ones; set it under fixed (or as files), not in space")
        if (key not in TRAIN_FIELDS and key != "mode") or key in SET_BY_SEARCH:
            raise UserError(f"{where}: not a searchable option "
                            f"({expected(key, TRAIN_FIELDS - SET_BY_SEARCH | {'mode'})})")
        out[key] = _distribution(key, dist, where)
    return out


def _first_trial(values, space, source) -> Dict[str, Any]:
    """first_trial: {option: value}: values of searched options (numbers read as numbers); one the
    space does not hold is left to the default point's rule, as an engine default outside it is."""
    if not isinstance(values, dict):
        raise UserError(f"{source}: first_trial: expected a mapping of searched option: value, e.g. {{lr_main: 1e-4}}")
    out = {}
    for key, value in values.items():
        if key not in space or key == "bert_name":
            raise UserError(f"{source}: first_trial.{key}: not a searched option (space: "
                            f"{', '.join(k for k in space if k != 'bert_name') or 'empty'}); a value for every "
                            f"trial goes under fixed")
        out[key] = value if space[key].is_choice else number(value, f"{source}: first_trial.{key}")
    return out


def _per_model(per_model, space, fixed, source) -> Dict[str, Dict[str, Any]]:
    """per_model: {model: {option: value or {distribution: ...}}}: a model's own fixed options and
    ranges; a range only for an option the space searches (the searcher needs it for every model)."""
    if not isinstance(per_model, dict):
        raise UserError(f"{source}: per_model: expected a mapping of model name: {{option: value or range}}")
    models = list(space["bert_name"].args) if "bert_name" in space else [fixed.get("bert_name", TrainConfig.bert_name)]
    out = {}
    for model, options in per_model.items():
        where = f"{source}: per_model.{model}"
        if model not in models:
            raise UserError(f"{where}: not a model of this search (space.bert_name or fixed.bert_name: "
                            f"{', '.join(map(str, models))})")
        if not isinstance(options, dict):
            raise UserError(f"{where}: expected a mapping of option: value or {{distribution: ...}}")
        out[model] = {}
        for key, value in options.items():
            if key not in TRAIN_FIELDS or key in SET_BY_SEARCH | {"bert_name"}:
                raise UserError(f"{where}.{key}: not a training option a model can have its own value of")
            if isinstance(value, dict):
                if key not in space:
                    raise UserError(f"{where}.{key}: a range for one model needs the option in space too (the "
                                    f"range of the other models)")
                out[model][key] = _distribution(key, value, f"{where}.{key}")
                if out[model][key].kind != space[key].kind:
                    raise UserError(f"{where}.{key}: expected a {space[key].kind} distribution, as space.{key} has")
            elif key in space:
                raise UserError(f"{where}.{key}: space searches this option; give this model a range "
                                f"({{choice: [{value}]}} for one value)")
            else:
                out[model][key] = value
    return out


def _distribution(key: str, dist, where: str) -> Distribution:
    if not isinstance(dist, dict) or len(dist) != 1:
        raise UserError(f"{where}: expected one distribution, e.g. {{loguniform: [1e-5, 1e-4]}} "
                        f"or {{choice: [256, 512]}}")
    (kind, args), = dist.items()
    if kind not in DISTRIBUTIONS:
        raise UserError(f"{where}: unknown distribution {kind!r} (expected {', '.join(DISTRIBUTIONS)})")
    if not isinstance(args, list) or not args:
        raise UserError(f"{where}.{kind}: expected a non-empty list")
    if kind == "choice":
        if key == "mode" and any(v not in MODES for v in args):
            raise UserError(f"{where}.choice: modes are {', '.join(MODES)}, got {args}")
        return Distribution(kind, tuple(args))
    if len(args) != 2:
        raise UserError(f"{where}.{kind}: expected [low, high], got {args}")
    low, high = (number(v, f"{where}.{kind}") for v in args)
    if not low < high:
        raise UserError(f"{where}.{kind}: low {low} must be below high {high}")
    if kind == "loguniform" and low <= 0:
        raise UserError(f"{where}.loguniform: bounds must be positive, got {low}")
    if kind == "int":
        if int(low) != low or int(high) != high:
            raise UserError(f"{where}.int: bounds must be whole numbers, got {args}")
        low, high = int(low), int(high)
    return Distribution(kind, (low, high))


def _section(cls, values, name: str, at: Where):
    values = values or {}
    if not isinstance(values, dict):
        raise UserError(f"{at(name)}: expected a mapping")
    allowed = {f.name: f for f in dataclasses.fields(cls)}
    extra = sorted(set(values) - set(allowed))
    if extra:
        raise UserError(f"{at(name + '.' + extra[0])}: unknown key ({expected(extra[0], allowed)})")
    out = {}
    for key, value in values.items():
        default = allowed[key].default
        if isinstance(default, str):
            out[key] = value
        elif value is None and default is None:
            out[key] = None
        else:
            value = number(value, at(f"{name}.{key}"))
            out[key] = int(value) if _integral(allowed[key]) else float(value)
    return cls(**out)


def _integral(field: dataclasses.Field) -> bool:
    """Whether a numeric field holds a whole number: by its type, Optional[...] looked through."""
    kinds = typing.get_args(field.type) or (field.type,)
    return int in kinds and float not in kinds
