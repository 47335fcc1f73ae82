"""A search's spec as data: the typed SearchSpec (fixed options, the searched space, per-model options,
scheduler, resources). `SearchSpec.trial_config(sampled)` is the one place where a trial's training
options are made; everything downstream receives that TrainConfig. Made by spec/load.py, checked by
spec/check.py, bound to its models by spec/bind.py."""
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from bertclf.config import TrainConfig
from bertclf.cost import COSTS
from bertclf.inputs import TOKEN_OPTIONS
from bertclf.tasks import task_named

MODES = {"finetune": {"bert_finetuning": True, "boost": False, "lora": False},
         "lora": {"bert_finetuning": True, "boost": False, "lora": True},
         "boost": {"bert_finetuning": False, "boost": True, "lora": False},
         "frozen": {"bert_finetuning": False, "boost": False, "lora": False}}
CUSTOM = "custom"  # dataset: custom (or none): your own files, given under files: (and columns:)
# options whose values change a trial's prepared inputs (token ids, boost's features): the search
# prepares inputs for every combination of their values
INPUT_OPTIONS = (*TOKEN_OPTIONS, "mode", "bert_finetuning", "boost", "pooling", "layers")
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
    # None: sized where the spec is bound (spec/bind.py, sized_threads): 2 for fine-tuning on a CPU, else 1
    cpus_per_worker: Optional[float] = None
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
    # seconds of the refit's training between its checkpoints inside an epoch (and at each epoch's end):
    # what a lost worker or an interrupted refit loses at most
    refit_checkpoint_every: float = 600.0
    time_budget: Optional[float] = None  # seconds from the trials' start; then no new trial starts
    repeats: int = 0  # >= 2: the best repeat_top configurations trained again with this many seeds each
    repeat_top: int = 3
    start_from_defaults: bool = True
    # searched option -> the first trial's value where the space holds it (over the engine's default):
    # a spec's known-good start, e.g. a small model's larger encoder rate
    first_trial: Dict[str, Any] = field(default_factory=dict)
    # the options sized where the spec is bound (spec/bind.py), not given by the spec: first_trial's
    # lr_main (sized_start), resources' cpus_per_worker (sized_threads)
    sized: Tuple[str, ...] = ()
    files: Dict[str, str] = field(default_factory=dict)  # your own train / valid / test files, instead of the data set's
    columns: Dict[str, str] = field(default_factory=dict)  # text / pair / label: the files' column names
    description: str = ""
    anchors: str = ""
    # the metric and the measured costs (bertclf.cost.COSTS) the search optimises together; () for the
    # metric alone
    objectives: Tuple[str, ...] = ()
    constraints: Dict[str, float] = field(default_factory=dict)  # a measured cost -> its limit

    @property
    def measures_cost(self) -> bool:
        """Each architecture's inference cost is measured before the trials (bertclf.cost)."""
        return bool(self.objectives or self.constraints)

    @property
    def cost_objectives(self) -> Tuple[str, ...]:
        """The measured costs among the objectives: with any, the search has several objectives."""
        return tuple(name for name in self.objectives if name in COSTS)

    @property
    def searched_metrics(self) -> Tuple[Tuple[str, str], ...]:
        """(the reported key, "max" or "min") of each objective the searcher optimises: the score first."""
        return ((self.score_key, self.mode), *((name, COSTS[name]) for name in self.cost_objectives))

    @property
    def data_label(self) -> str:
        """What the console and results.md call the data: the data set's name, or your files' names."""
        if self.dataset != CUSTOM:
            return self.dataset
        return ", ".join(f"{split} {Path(path).name}" for split, path in self.files.items())

    @property
    def cv_folds(self) -> int:
        """The folds every trial trains on (fixed.cv_folds), 0 for one held-out split."""
        return self.fixed.get("cv_folds", 0)

    @property
    def score_key(self) -> str:
        """The one score every part of a search judges a trial by: its best check so far (TPE, ASHA,
        PBT, checkpoint ranking, the results table), so that a trial whose latest check dips below
        its best is judged on its best, as the search ranks it at the end."""
        return f"best_{self.metric}"

    @property
    def mode(self) -> str:
        """"max" or "min": how every part of a search judges score_key (the task's mode of its metric)."""
        return task_named(self.task).mode(self.metric)

    def signed(self, score: float) -> float:
        """`score` of the metric as higher-is-better (a minimised metric negated), to rank by."""
        return score if self.mode == "max" else -score

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

    def possible(self, key: str) -> list:
        """The values `key` can take in a trial: its choices (a range's ends) in space, else its fixed value."""
        if key in self.space:
            return list(self.space[key].corners())
        return [self.fixed.get(key)]

    def feature_cache_uses(self) -> set:
        """{True} when every trial trains a head on cached features (boost), {False} when none does, both
        when the space mixes them: read at the corners of the options that decide it."""
        return {self.trial_config(c).uses_feature_cache for c in self.corners(["mode", "boost", "bert_finetuning"])}

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


def expand(sampled: Dict[str, Any]) -> dict:
    """One trial's sampled values as training options: `mode` becomes its booleans."""
    values = {}
    for key, value in sampled.items():
        values.update(MODES[value] if key == "mode" else {key: value})
    return values
