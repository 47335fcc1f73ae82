"""Search spaces as data: search_spaces/<name>.yaml, loaded, overridden (--set), validated once into a
typed SearchSpec. `SearchSpec.trial_config(sampled)` is the one place where a trial's training
options are made; everything downstream receives that TrainConfig.

Every error names the file, the key and what was expected.
"""
import copy
import dataclasses
import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import yaml

from bertclf.config import TrainConfig
from bertclf.data.datasets import TASKS as DATASET_TASKS
from bertclf.errors import UserError
from bertclf.inputs import TOKEN_OPTIONS, inputs_key
from bertclf.tasks import check_task_options, task_named

SPACES_DIR = Path(__file__).resolve().parent.parent / "search_spaces"
MODES = {"finetune": {"bert_finetuning": True, "boost": False},
         "boost": {"bert_finetuning": False, "boost": True},
         "frozen": {"bert_finetuning": False, "boost": False}}
TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
SET_BY_SEARCH = {"train_path", "valid_path", "save_path", "run_name", "overwrite", "task", "metric"}
CUSTOM = "custom"  # dataset: custom (or none): your own files, given under files: (and columns:)
COLUMN_OPTIONS = {"text": "text_column", "pair": "text_pair_column", "label": "label_column"}
# options that decide which examples are validated on: every trial must be ranked on the same ones
DATA_DEFINING = ("train_path", "valid_path", "seed", "valid_fraction", "max_valid_samples", *COLUMN_OPTIONS.values())
# options whose values change a trial's prepared inputs (token ids, boost's features): the search
# prepares inputs for every combination of their values
INPUT_OPTIONS = (*TOKEN_OPTIONS, "mode", "bert_finetuning", "boost", "pooling", "layers")
# the corners every spec is validated at, at most: the product of a large space's values is huge
CORNERS_VALIDATED = 4096
PLACEMENTS = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")
SCHEDULERS = ("asha", "pbt", "none")
TOKENIZE_ON = ("driver", "workers")  # where a search's texts are tokenised (distributed/worker_tokens.py)
DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
# What a search does unless its spec says otherwise: the recipe that won the equal-budget race
# against Trainer.hyperparameter_search (bench/README.md). Checks twice per epoch let ASHA stop a
# doomed run after a sixth of its budget, and the degenerate check stops a run still at chance;
# head+tail keeps the start and the end of a long text (Sun et al. 2019); warm-up over 10% of the
# steps. The head's own learning rate (lr) is the engine's already, ASHA's first cut at the first check
# is Scheduler's default, and the pooling suited to each model is chosen when the model is known (plan.py).
RECIPE = {"evals_per_epoch": 2, "degenerate_check": True, "truncation": "head+tail", "warmup_ratio": 0.1}
# the searched name of an option whose range is given per model: its option name and the model's
# position in space.bert_name (a model name may hold "/", which Tune would read as nesting)
PER_MODEL_NAME = "{key}@{index}"


@dataclass(frozen=True)
class Distribution:
    kind: str  # loguniform | uniform | int | choice
    args: tuple  # (low, high), or the choices

    @property
    def is_choice(self) -> bool:
        return self.kind == "choice"

    def corners(self) -> list:
        return list(self.args) if self.is_choice else [self.args[0], self.args[1]]

    def contains(self, value) -> bool:
        if self.is_choice:
            return value in self.args
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.args[0] <= value <= self.args[1]

    def to_optuna(self):
        import optuna.distributions as d
        if self.kind == "loguniform":
            return d.FloatDistribution(self.args[0], self.args[1], log=True)
        if self.kind == "uniform":
            return d.FloatDistribution(self.args[0], self.args[1])
        if self.kind == "int":
            return d.IntDistribution(self.args[0], self.args[1])
        return d.CategoricalDistribution(list(self.args))

    def to_tune(self):
        from ray import tune
        return {"loguniform": tune.loguniform, "uniform": tune.uniform,
                "int": lambda low, high: tune.randint(low, high + 1)}[self.kind](*self.args) \
            if not self.is_choice else tune.choice(list(self.args))


@dataclass(frozen=True)
class Scheduler:
    type: str = "asha"  # asha | pbt | none
    # asha: epochs a trial runs before its first cut; half an epoch, the recipe's first check, so a doomed
    # run stops after a sixth of a 3-epoch budget (a spec with one check per epoch is cut at its first)
    grace_period: float = 0.5
    reduction_factor: float = 2.0  # asha: 1 / the share of trials kept at each rung
    perturbation_interval: float = 1.0  # pbt: epochs between exploit / explore steps
    quantile_fraction: float = 0.25  # pbt: the bottom share copies the top share
    resample_probability: float = 0.25  # pbt: chance a mutated value is drawn anew


@dataclass(frozen=True)
class Resources:
    workers_per_trial: int = 1  # > 1: each trial is a Ray Train TorchTrainer (DDP)
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 1.0
    boost_gpu_fraction: float = 0.25  # boost trials train a head only: they share a GPU
    placement: str = "PACK"  # of a multi-worker trial's workers
    refit_workers: Optional[int] = None  # the refit's TorchTrainer: None = every GPU (1 worker on a CPU)


@dataclass(frozen=True)
class SearchSpec:
    name: str
    dataset: str
    task: str
    metric: str
    fixed: Dict[str, Any]  # training options every trial shares
    space: Dict[str, Distribution]  # training options (or mode) searched
    source: str  # the file it came from, for messages
    # bert_name -> options that differ for that model: a value (fixed) or a Distribution (its own range)
    per_model: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    recipe: Tuple[str, ...] = ()  # the RECIPE options this spec left to the recipe
    num_samples: int = 8
    seed: int = 0
    startup_trials: int = 4
    scheduler: Scheduler = field(default_factory=Scheduler)
    resources: Resources = field(default_factory=Resources)
    checkpoints_to_keep: int = 1
    max_failures: int = 1
    max_concurrent: Optional[int] = None  # None: as many as the resources allow (all trials on a cluster)
    tokenize_on: str = "driver"  # workers: Ray tasks tokenise, the driver only reads and splits (TOKENIZE_ON)
    max_test_samples: Optional[int] = None
    dev_split: Optional[float] = None
    refit: bool = False
    time_budget: Optional[float] = None  # seconds from the trials' start; then no new trial starts
    repeats: int = 0  # >= 2: the best repeat_top configurations trained again with this many seeds each
    repeat_top: int = 3
    start_from_defaults: bool = True
    # searched option -> the first trial's value where the space holds it (over the engine's default):
    # a spec's known-good start, e.g. a small model's larger encoder rate
    first_trial: Dict[str, Any] = field(default_factory=dict)
    files: Dict[str, str] = field(default_factory=dict)  # your own train / valid / test files, instead of the data set's
    columns: Dict[str, str] = field(default_factory=dict)  # text / pair / label: the files' column names
    description: str = ""
    anchors: str = ""

    @property
    def data_label(self) -> str:
        """What the console and results.md call the data: the data set's name, or your files' names."""
        if self.dataset != CUSTOM:
            return self.dataset
        return ", ".join(f"{split} {Path(path).name}" for split, path in self.files.items())

    @property
    def score_key(self) -> str:
        """The one score every part of a search judges a trial by: its best check so far (TPE, ASHA,
        PBT, checkpoint ranking, the results table), so that a trial whose latest check dips below
        its best is judged on its best, as the search ranks it at the end."""
        return f"best_{self.metric}"

    def trial_config(self, sampled: Dict[str, Any]) -> TrainConfig:
        """The one place a trial's options are made: fixed options, the trial's model's own fixed
        options, then the sampled ones (searcher-internal per-model names are left out)."""
        values = expand({k: v for k, v in sampled.items() if "@" not in k})
        model = values.get("bert_name", self.fixed.get("bert_name", TrainConfig.bert_name))
        own = {k: v for k, v in self.per_model.get(model, {}).items() if not isinstance(v, Distribution)}
        return TrainConfig.from_dict({**self.fixed, **own, **values})

    def models(self) -> List[str]:
        """Every model a trial can use: space.bert_name's choices, or the one fixed model."""
        if "bert_name" in self.space:
            return list(self.space["bert_name"].args)
        return [self.fixed.get("bert_name", TrainConfig.bert_name)]

    def space_for(self, model: str) -> Dict[str, Distribution]:
        """The space a trial of `model` samples from: its own ranges over the common ones."""
        own = {k: v for k, v in self.per_model.get(model, {}).items() if isinstance(v, Distribution)}
        return {**self.space, **own}

    def searched_name(self, key: str, model: str) -> str:
        """The name the searcher knows `key` by in a trial of `model`."""
        if not isinstance(self.per_model.get(model, {}).get(key), Distribution):
            return key
        return PER_MODEL_NAME.format(key=key, index=self.models().index(model))

    def span(self, key: str) -> Distribution:
        """One distribution that holds every model's values of the searched option `key` (for the
        results' plots and fANOVA): the union of the choices, or the lowest low to the highest high."""
        dists = [self.space_for(model)[key] for model in self.models()]
        if dists[0].is_choice:
            return Distribution("choice", tuple(dict.fromkeys(v for d in dists for v in d.args)))
        return Distribution(dists[0].kind, (min(d.args[0] for d in dists), max(d.args[1] for d in dists)))

    @property
    def has_model_ranges(self) -> bool:
        return any(isinstance(v, Distribution) for own in self.per_model.values() for v in own.values())

    def bind(self, **options) -> "SearchSpec":
        """The same spec with options the search decides (data paths, caches, the model) fixed."""
        return replace(self, fixed={**self.fixed, **options})

    def corners(self, options=None) -> Iterator[Dict[str, Any]]:
        """Sampled values at the corners of the space (each choice, each bound) of the searched
        `options` (all when None), every one of their combinations, for each model in its own space;
        the other options at the default point (a model's own range: at its first corner)."""
        default = self.default_point()
        for model in self.models():
            space = {k: d for k, d in self.space_for(model).items() if k != "bert_name"}
            own = self.per_model.get(model, {})
            base = {k: d.corners()[0] if isinstance(own.get(k), Distribution) else default[k]
                    for k, d in space.items()}
            if "bert_name" in self.space:
                base["bert_name"] = model
            keys = [k for k in space if options is None or k in options]
            for combo in itertools.product(*(space[k].corners() for k in keys)):
                yield {**base, **dict(zip(keys, combo))}

    def input_corners(self) -> Iterator[Dict[str, Any]]:
        """A sampled point for every distinct input a trial can ask for (the corners of the options
        that change the inputs)."""
        return self.corners(INPUT_OPTIONS)

    def default_point(self) -> Dict[str, Any]:
        """The configuration a search evaluates first: each searched option at the spec's first_trial
        value, else the value the engine would use anyway (its default, or the spec's fixed value),
        where the space holds it; else the centre of its range (geometric for log ranges) or the first
        choice. Its model is the first."""
        model = self.models()[0]
        point, unsearched = {}, self.trial_config({"bert_name": model} if "bert_name" in self.space else {})
        for key, dist in self.space_for(model).items():
            if key == "mode":
                point[key] = dist.args[0]
                continue
            given = key in self.first_trial and dist.contains(self.first_trial[key])
            value = self.first_trial[key] if given else getattr(unsearched, key)
            if not dist.contains(value):
                low, high = dist.args[0], dist.args[-1]
                value = (dist.args[0] if dist.is_choice else math.sqrt(low * high) if dist.kind == "loguniform"
                         else round((low + high) / 2) if dist.kind == "int" else (low + high) / 2)
            point[key] = value
        return point


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


def expand(sampled: Dict[str, Any]) -> dict:
    """One trial's sampled values as training options: `mode` becomes its two booleans."""
    values = {}
    for key, value in sampled.items():
        values.update(MODES[value] if key == "mode" else {key: value})
    return values


# --- loading -----------------------------------------------------------------------------------

def spec_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    return SPACES_DIR / f"{name_or_path}.yaml"


def apply_overrides(raw: dict, overrides: List[str], source: str) -> dict:
    """--set a.b=value: value is read as YAML (numbers, lists, booleans, mappings)."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected key=value, e.g. num_samples=8 or fixed.n_epochs=2")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {key}: {part} in {source} is not a mapping")
        try:
            node[parts[-1]] = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise UserError(f"--set {item!r}: the value is not valid YAML ({str(e).splitlines()[0]})") from None
    return raw


def merge(base: dict, extra: dict) -> dict:
    """extra over base, mapping by mapping; a section's `space` replaces the whole space."""
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        out[key] = merge(out.get(key) or {}, value) if isinstance(value, dict) and key != "space" else value
    return out


def load_spec(name_or_path: str, overrides=(), *, profile=()) -> SearchSpec:
    """The validated spec; `profile` merges the spec's `cpu:` and/or `smoke:` sections over it, in order."""
    path = spec_path(name_or_path)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SPACES_DIR.glob("*.yaml")))
        raise UserError(f"--search {name_or_path}: no search space {path} (known: {known})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of keys at the top level")
    # `--set cpu.KEY=...` edits a profile section; any other `--set` wins over the sections merged in
    in_section = [o for o in overrides if override_root(o) in PROFILES]
    return parse(apply_overrides(raw, in_section, str(path)), str(path), profile,
                 [o for o in overrides if o not in in_section])


PROFILES = ("cpu", "smoke")


def override_root(item: str) -> str:
    """The top-level spec key a `--set a.b=value` changes: a."""
    return item.split("=", 1)[0].strip().split(".")[0]
# metric_mode: whether the metric is maximised (Ray Tune's `mode`; renamed, since `mode` in a space is
# finetune | boost | frozen); always max, accepted so that a spec may say so
TOP_KEYS = {f.name for f in dataclasses.fields(SearchSpec)} - {"task", "source", "recipe"} | {*PROFILES, "metric_mode"}


def parse(raw: dict, source: str, profile=(), overrides=()) -> SearchSpec:
    if "mode" in raw:
        raise UserError(f"{source}: mode: a spec's top-level mode (max) is now metric_mode; mode (finetune | boost "
                        f"| frozen) belongs under space")
    unknown = [(source, k) for k in sorted(set(raw) - TOP_KEYS)] + [
        (f"--set {o.split('=', 1)[0].strip()}", override_root(o)) for o in overrides if override_root(o) not in TOP_KEYS]
    if unknown:
        where, key = unknown[0]
        raise UserError(f"{where}: unknown key {key!r} (expected one of {', '.join(sorted(TOP_KEYS))})")
    for section in PROFILES:
        if not isinstance(raw.get(section) or {}, dict):
            raise UserError(f"{source}: {section}: expected a mapping of overrides")
    merged = {k: v for k, v in raw.items() if k not in PROFILES}
    for section in profile:
        merged = merge(merged, raw.get(section) or {})
    merged = apply_overrides(merged, list(overrides), source)
    merged["dataset"] = merged.get("dataset") or CUSTOM
    for key in ("name", "dataset"):
        if not isinstance(merged.get(key), str):
            raise UserError(f"{source}: {key}: expected a string")
    if merged["dataset"] not in DATASET_TASKS and merged["dataset"] != CUSTOM:
        raise UserError(f"{source}: dataset: expected one of {', '.join(sorted(DATASET_TASKS))}, or {CUSTOM} "
                        f"(or none) for your own files, got {merged['dataset']!r}")
    task = DATASET_TASKS.get(merged["dataset"], "classification")
    metrics = task_named(task).metrics
    metric = merged.get("metric") or metrics[0]
    if metric not in metrics or merged.get("metric_mode", "max") != "max":
        raise UserError(f"{source}: metric/metric_mode: {merged['dataset']} is scored by {' or '.join(metrics)} "
                        f"with metric_mode max, got {metric} / {merged.get('metric_mode')}")
    fixed = _fixed(merged.get("fixed") or {}, source)
    fixed.update(_columns(merged.get("columns") or {}, source))
    space = _space(merged.get("space") or {}, source)
    recipe = tuple(k for k in RECIPE if k not in fixed and k not in space and _recipe_applies(k, fixed, task))
    fixed = {**{k: RECIPE[k] for k in recipe}, **fixed, "task": task, "metric": metric}
    per_model = _per_model(merged.get("per_model") or {}, space, fixed, source)
    spec = SearchSpec(
        name=merged["name"], dataset=merged["dataset"], task=task, metric=metric, fixed=fixed, space=space,
        source=source, per_model=per_model, recipe=recipe,
        scheduler=_section(Scheduler, merged.get("scheduler"), "scheduler", source),
        resources=_section(Resources, merged.get("resources"), "resources", source),
        **{k: merged[k] for k in ("num_samples", "seed", "startup_trials", "checkpoints_to_keep", "max_failures",
                                  "max_concurrent", "max_test_samples", "dev_split", "refit", "time_budget",
                                  "repeats", "repeat_top", "start_from_defaults", "files", "columns", "description",
                                  "anchors", "tokenize_on") if k in merged},
        first_trial=_first_trial(merged.get("first_trial") or {}, space, source))
    _check_values(spec, source)
    for sampled in itertools.islice(spec.corners(), CORNERS_VALIDATED):  # every corner must be a valid run
        try:
            check_task_options(spec.trial_config(sampled).validate_options())
        except UserError as e:
            raise UserError(f"{source}: a configuration of this space is invalid: {e}") from None
    _check_ranges_keep_inputs(spec)
    return spec


def _check_ranges_keep_inputs(spec: SearchSpec) -> None:
    """Inputs are prepared once per distinct value: an option that changes them must be a choice (so a
    model's limit only ever drops choices: plan._within_limit)."""
    for key, dist in spec.space.items():
        if dist.is_choice:
            continue
        point = spec.default_point()
        low, high = ({**point, key: dist.args[0]}, {**point, key: dist.args[1]})
        if inputs_key(spec.trial_config(low)) != inputs_key(spec.trial_config(high)):
            raise UserError(f"{spec.source}: space.{key}: inputs are prepared once per distinct value of this "
                            f"option; use a choice, not a range")


def _recipe_applies(key: str, fixed: dict, task: str) -> bool:
    """A recipe option the task reads; checks per epoch only where the spec sets no early_stop, whose
    patience (counted in checks) it wrote for one check per epoch."""
    if key == "evals_per_epoch":
        return "early_stop" not in fixed
    return key not in ("truncation", "pooling") or key in task_named(task).text_options


def _fixed(fixed, source) -> dict:
    if not isinstance(fixed, dict):
        raise UserError(f"{source}: fixed: expected a mapping of training options")
    for key in fixed:
        if key == "mode":
            raise UserError(f"{source}: fixed.mode: put mode under space (choice) or set bert_finetuning/boost")
        if key not in TRAIN_FIELDS or key in SET_BY_SEARCH:
            raise UserError(f"{source}: fixed.{key}: not a training option a search can fix "
                            f"(expected one of {', '.join(sorted(TRAIN_FIELDS - SET_BY_SEARCH))})")
    return dict(fixed)


def _columns(columns, source) -> dict:
    """columns: {text, pair, label} -> the training options text_column, text_pair_column, label_column."""
    if not isinstance(columns, dict) or set(columns) - set(COLUMN_OPTIONS) or \
            not all(isinstance(v, str) for v in columns.values()):
        raise UserError(f"{source}: columns: expected a mapping of text, pair, label to column names, "
                        f"e.g. {{text: comment, label: target}}")
    return {COLUMN_OPTIONS[role]: name for role, name in columns.items()}


def _number(value, where: str):
    if isinstance(value, bool):
        raise UserError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return value
    try:  # YAML 1.1 reads 1e-4 (no dot) as a string
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: expected a number, got {value!r}") from None


def _space(space, source) -> Dict[str, Distribution]:
    if not isinstance(space, dict):
        raise UserError(f"{source}: space: expected a mapping of option: {{distribution: ...}}")
    out = {}
    for key, dist in space.items():
        where = f"{source}: space.{key}"
        if key in DATA_DEFINING:
            raise UserError(f"{where}: decides which examples are validated on, and every trial must be ranked on "
                            f"the same ones; set it under fixed (or as files), not in space")
        if (key not in TRAIN_FIELDS and key != "mode") or key in SET_BY_SEARCH:
            raise UserError(f"{where}: not a searchable option (expected mode or a training option)")
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
        out[key] = value if space[key].is_choice else _number(value, f"{source}: first_trial.{key}")
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
    low, high = (_number(v, f"{where}.{kind}") for v in args)
    if not low < high:
        raise UserError(f"{where}.{kind}: low {low} must be below high {high}")
    if kind == "loguniform" and low <= 0:
        raise UserError(f"{where}.loguniform: bounds must be positive, got {low}")
    if kind == "int":
        if int(low) != low or int(high) != high:
            raise UserError(f"{where}.int: bounds must be whole numbers, got {args}")
        low, high = int(low), int(high)
    return Distribution(kind, (low, high))


def _section(cls, values, name: str, source: str):
    values = values or {}
    if not isinstance(values, dict):
        raise UserError(f"{source}: {name}: expected a mapping")
    allowed = {f.name: f for f in dataclasses.fields(cls)}
    extra = sorted(set(values) - set(allowed))
    if extra:
        raise UserError(f"{source}: {name}.{extra[0]}: unknown key (expected {', '.join(sorted(allowed))})")
    out = {}
    for key, value in values.items():
        default = allowed[key].default
        if isinstance(default, str):
            out[key] = value
        elif value is None and default is None:
            out[key] = None
        else:
            number = _number(value, f"{source}: {name}.{key}")
            out[key] = int(number) if isinstance(default, int) or default is None else float(number)
    return cls(**out)


def _check_values(spec: SearchSpec, source: str) -> None:
    def positive_int(key, value, allow_none=False):
        if value is None and allow_none:
            return
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserError(f"{source}: {key}: expected a positive integer{' or null' if allow_none else ''}, "
                            f"got {value!r}")
    for key in ("num_samples", "startup_trials", "checkpoints_to_keep", "max_failures"):
        positive_int(key, getattr(spec, key))
    for key in ("max_concurrent", "max_test_samples"):
        positive_int(key, getattr(spec, key), allow_none=True)
    positive_int("repeat_top", spec.repeat_top)
    if not isinstance(spec.repeats, int) or isinstance(spec.repeats, bool) or spec.repeats < 0 or spec.repeats == 1:
        raise UserError(f"{source}: repeats: expected 0 (no repeats) or a number of seeds of at least 2, "
                        f"got {spec.repeats!r}")
    if spec.time_budget is not None and (_number(spec.time_budget, f"{source}: time_budget") <= 0):
        raise UserError(f"{source}: time_budget: expected a positive number of seconds or null, "
                        f"got {spec.time_budget!r}")
    if spec.dev_split is not None and not (isinstance(spec.dev_split, float) and 0 < spec.dev_split < 1):
        raise UserError(f"{source}: dev_split: expected a fraction in (0, 1) or null")
    if not isinstance(spec.files, dict) or set(spec.files) - {"train", "valid", "test"} or \
            not all(isinstance(v, str) for v in spec.files.values()) or (spec.files and "train" not in spec.files):
        raise UserError(f"{source}: files: expected a mapping with train (and optionally valid, test) file paths")
    for key in ("refit", "start_from_defaults"):
        if not isinstance(getattr(spec, key), bool):
            raise UserError(f"{source}: {key}: expected true or false")
    if spec.tokenize_on not in TOKENIZE_ON:
        raise UserError(f"{source}: tokenize_on: expected {' or '.join(TOKENIZE_ON)}, got {spec.tokenize_on!r}")
    if spec.tokenize_on == "workers" and not task_named(spec.task).streams_texts:
        raise UserError(f"{source}: tokenize_on: workers tokenise classification data only; a {spec.task} search "
                        f"tokenises on the driver (tokenize_on: driver)")
    s, r = spec.scheduler, spec.resources
    if s.type not in SCHEDULERS:
        raise UserError(f"{source}: scheduler.type: expected {', '.join(SCHEDULERS)}, got {s.type!r}")
    for key in ("grace_period", "perturbation_interval"):
        if getattr(s, key) <= 0:
            raise UserError(f"{source}: scheduler.{key}: expected a positive number of epochs")
    if s.reduction_factor <= 1:
        raise UserError(f"{source}: scheduler.reduction_factor: expected a number above 1")
    for key in ("quantile_fraction", "resample_probability"):
        if not 0 <= getattr(s, key) <= 0.5 if key == "quantile_fraction" else not 0 <= getattr(s, key) <= 1:
            raise UserError(f"{source}: scheduler.{key}: out of range")
    if s.type == "pbt" and not any(not d.is_choice for k, d in spec.space.items()):
        raise UserError(f"{source}: scheduler.type pbt: needs a continuous hyperparameter in space to mutate")
    if s.type == "pbt" and spec.has_model_ranges:
        raise UserError(f"{source}: per_model: ranges of their own need the TPE searcher (scheduler asha or none); "
                        f"PBT mutates one range shared by every trial")
    if "bert_name" in spec.space and not spec.space["bert_name"].is_choice:
        raise UserError(f"{source}: space.bert_name: expected {{choice: [model, ...]}}")
    if s.type == "pbt" and r.workers_per_trial > 1:
        raise UserError(f"{source}: scheduler.type pbt with resources.workers_per_trial {r.workers_per_trial}: PBT "
                        f"hands a trial another trial's checkpoint, but a trial of several workers is a "
                        f"TorchTrainer that restores only its own; use workers_per_trial 1, or scheduler asha")
    if r.workers_per_trial > 1:
        check_batches_divide(spec, r.workers_per_trial, "resources.workers_per_trial")
    if r.placement not in PLACEMENTS:
        raise UserError(f"{source}: resources.placement: expected {', '.join(PLACEMENTS)}, got {r.placement!r}")
    if r.workers_per_trial < 1 or r.cpus_per_worker <= 0 or r.gpus_per_worker < 0 or not 0 < r.boost_gpu_fraction <= 1:
        raise UserError(f"{source}: resources: workers_per_trial >= 1, cpus_per_worker > 0, "
                        f"gpus_per_worker >= 0, 0 < boost_gpu_fraction <= 1")
    for key in ("batch_size", "gradient_accumulation_steps"):
        if key in spec.space and not spec.space[key].is_choice:
            raise UserError(f"{source}: space.{key}: use a choice, so that every batch size divides evenly")
    if r.refit_workers is not None and r.refit_workers < 1:
        raise UserError(f"{source}: resources.refit_workers: expected a positive integer or null")
