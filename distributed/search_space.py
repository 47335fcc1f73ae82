"""Search spaces as data: search_spaces/<name>.yaml, loaded, overridden (--set) and validated.

Every error names the file, the key and what was expected.
"""
import copy
import dataclasses
import itertools
from pathlib import Path
from typing import Any, Dict, List

import yaml

from bertclf.config import TrainConfig
from bertclf.datasets import TASKS as DATASET_TASKS
from bertclf.errors import UserError

SPACES_DIR = Path(__file__).resolve().parent.parent / "search_spaces"
TOP_KEYS = {"name", "dataset", "description", "metric", "mode", "fixed", "space", "num_samples",
            "seed", "startup_trials", "scheduler", "resources", "max_failures", "checkpoints_to_keep",
            "cpu", "smoke", "anchors", "max_test_samples", "dev_split"}
SCHEDULER_KEYS = {"type", "grace_period", "reduction_factor"}
RESOURCE_KEYS = {"workers_per_trial", "cpus_per_worker", "gpus_per_worker", "boost_gpu_fraction", "placement"}
PLACEMENTS = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")
DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
MODES = {"finetune": {"bert_finetuning": True, "boost": False},
         "boost": {"bert_finetuning": False, "boost": True},
         "frozen": {"bert_finetuning": False, "boost": False}}
TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
SET_BY_SEARCH = {"train_path", "valid_path", "save_path", "run_name", "overwrite"}
METRICS = {"classification": ("valid_accuracy",), "qa": ("valid_f1", "valid_exact_match")}
DEFAULTS = {"metric": None, "mode": "max", "num_samples": 8, "seed": 0,
            "startup_trials": 4, "max_failures": 1, "checkpoints_to_keep": 1, "max_test_samples": None,
            "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
            "resources": {"workers_per_trial": 1, "cpus_per_worker": 1, "gpus_per_worker": 1,
                          "boost_gpu_fraction": 0.25, "placement": "PACK"},
            "fixed": {}, "space": {}}


def spec_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    return SPACES_DIR / f"{name_or_path}.yaml"


def _number(value, where: str):
    if isinstance(value, bool):
        raise UserError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return value
    try:  # YAML 1.1 reads 1e-4 (no dot) as a string
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: expected a number, got {value!r}") from None


def apply_overrides(raw: dict, overrides: List[str], source: str) -> dict:
    """--set a.b=value: value is read as YAML (numbers, lists, booleans)."""
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
        node[parts[-1]] = yaml.safe_load(text)
    return raw


def merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        out[key] = merge(out.get(key) or {}, value) if isinstance(value, dict) and key != "space" else value
    return out


def load_spec(name_or_path: str, overrides=(), *, profile=None) -> dict:
    """The validated spec; `profile` merges the spec's `cpu:` or `smoke:` section over it."""
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
    raw = apply_overrides(raw, list(overrides), str(path))
    return validate(raw, str(path), profile)


def validate(raw: dict, source: str, profile=None) -> dict:
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise UserError(f"{source}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(TOP_KEYS))})")
    spec = merge(DEFAULTS, raw)
    for section in ("cpu", "smoke"):
        spec.setdefault(section, {})
        if not isinstance(spec[section], dict):
            raise UserError(f"{source}: {section}: expected a mapping of overrides")
    if profile:
        for section in profile:
            spec = merge(spec, spec[section])
    for key in ("name", "dataset"):
        if not isinstance(spec.get(key), str):
            raise UserError(f"{source}: {key}: expected a string")
    if spec["dataset"] not in DATASET_TASKS:
        raise UserError(f"{source}: dataset: expected one of {', '.join(sorted(DATASET_TASKS))}, "
                        f"got {spec['dataset']!r}")
    task = DATASET_TASKS[spec["dataset"]]
    if spec["fixed"].get("task", task) != task:
        raise UserError(f"{source}: fixed.task: {spec['dataset']} is a {task} data set")
    spec["metric"] = spec["metric"] or METRICS[task][0]
    if spec["metric"] not in METRICS[task] or spec["mode"] != "max":
        raise UserError(f"{source}: metric/mode: {spec['dataset']} is scored by "
                        f"{' or '.join(METRICS[task])} with mode max, got {spec['metric']} / {spec['mode']}")
    if spec.get("dev_split") is not None and not (isinstance(spec["dev_split"], float) and 0 < spec["dev_split"] < 1):
        raise UserError(f"{source}: dev_split: expected a fraction in (0, 1) or null")
    for key in ("num_samples", "startup_trials", "checkpoints_to_keep"):
        if not isinstance(spec[key], int) or spec[key] < 1:
            raise UserError(f"{source}: {key}: expected a positive integer, got {spec[key]!r}")
    if spec["max_test_samples"] is not None and (not isinstance(spec["max_test_samples"], int)
                                                 or spec["max_test_samples"] < 1):
        raise UserError(f"{source}: max_test_samples: expected a positive integer or null")
    fixed = spec["fixed"]
    for key in fixed:
        if key not in TRAIN_FIELDS or key in SET_BY_SEARCH or key == "task":
            raise UserError(f"{source}: fixed.{key}: not a training option a search can fix "
                            f"(expected one of {', '.join(sorted(TRAIN_FIELDS - SET_BY_SEARCH))})")
    if "mode" in fixed:
        raise UserError(f"{source}: fixed.mode: put mode under space (choice) or set bert_finetuning/boost")
    space = spec["space"]
    if not isinstance(space, dict):
        raise UserError(f"{source}: space: expected a mapping of option: {{distribution: ...}}")
    for key, dist in space.items():
        space[key] = _validate_distribution(key, dist, source)
    for key in ("grace_period", "reduction_factor"):
        _number(spec["scheduler"].get(key, 1), f"{source}: scheduler.{key}")
    for section, allowed in (("scheduler", SCHEDULER_KEYS), ("resources", RESOURCE_KEYS)):
        extra = sorted(set(spec[section]) - allowed)
        if extra:
            raise UserError(f"{source}: {section}.{extra[0]}: unknown key (expected {', '.join(sorted(allowed))})")
    if spec["resources"]["placement"] not in PLACEMENTS:
        raise UserError(f"{source}: resources.placement: expected {', '.join(PLACEMENTS)}, "
                        f"got {spec['resources']['placement']!r}")
    if spec["scheduler"]["type"] not in ("asha", "none"):
        raise UserError(f"{source}: scheduler.type: expected asha or none, got {spec['scheduler']['type']!r}")
    spec["fixed"]["task"] = task
    _check_batch_divisibility(spec, source)
    for config in trial_grid_sample(spec):  # every corner of the space must be a valid run
        try:
            TrainConfig.from_dict(config).validate()
        except UserError as e:
            raise UserError(f"{source}: a configuration of this space is invalid: {e}") from None
    return spec


def _validate_distribution(key: str, dist: Any, source: str) -> dict:
    where = f"{source}: space.{key}"
    if key not in TRAIN_FIELDS and key != "mode" or key in SET_BY_SEARCH:
        raise UserError(f"{where}: not a searchable option (expected mode or a training option)")
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
        return {kind: args}
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
    return {kind: [low, high]}


def _check_batch_divisibility(spec, source):
    def values(key):
        if key in spec["space"]:
            dist = spec["space"][key]
            if "choice" in dist:
                return dist["choice"]
            raise UserError(f"{source}: space.{key}: use a choice so every value divides evenly")
        return [spec["fixed"].get(key, getattr(TrainConfig(), key))]
    for batch, accumulation in itertools.product(values("batch_size"), values("gradient_accumulation_steps")):
        if batch % accumulation:
            raise UserError(f"{source}: batch_size {batch} is not divisible by gradient_accumulation_steps "
                            f"{accumulation}; adjust the choices in space or fixed")


def expand(sampled: Dict[str, Any]) -> dict:
    """One trial's sampled values as training options: `mode` becomes its two booleans."""
    values = {}
    for key, value in sampled.items():
        if key == "mode":
            values.update(MODES[value])
        else:
            values[key] = value
    return values


def trial_grid_sample(spec: dict):
    """The configurations at the corners of the space (each choice, each bound)."""
    keys = list(spec["space"])
    options = []
    for key in keys:
        (kind, args), = spec["space"][key].items()
        options.append(args if kind == "choice" else [args[0], args[1]])
    for combo in itertools.islice(itertools.product(*options), 256):
        yield {**spec["fixed"], **expand(dict(zip(keys, combo)))}


def optuna_space(spec: dict):
    import optuna.distributions as d
    space = {}
    for key, dist in spec["space"].items():
        (kind, args), = dist.items()
        if kind == "loguniform":
            space[key] = d.FloatDistribution(args[0], args[1], log=True)
        elif kind == "uniform":
            space[key] = d.FloatDistribution(args[0], args[1])
        elif kind == "int":
            space[key] = d.IntDistribution(args[0], args[1])
        else:
            space[key] = d.CategoricalDistribution(args)
    return space
