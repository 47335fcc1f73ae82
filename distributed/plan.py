"""Everything a search can check before Ray starts: the options, the spec in the right profile, the
data, the model (loadable? its position limit?), the space against that limit, where outputs go,
and how many trials run at a time. Every problem is one UserError line."""
import json
import os
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from bertclf.config import INT8_TOLERANCE
from bertclf.data.columns import ColumnNames
from bertclf.data.datasets import resolve as dataset_files
from bertclf.data.label_names import LABEL_NAMES
from bertclf.data.squad import split_dev
from bertclf.models.encoder_facts import trained_pooling
from bertclf.models.size_rule import RULE, encoder_rate
from bertclf.errors import UserError
from bertclf.smoke import smoke_data
from bertclf.tasks import task_named

from .search_lock import holding
from .search_record import finished_already, read_record
from .spec.bind import Model, bind
from .spec.load import Override, flag_overrides, resolve, search_name, spec_overrides
from .spec.model import CUSTOM, SearchSpec

URI_SCHEMES = ("s3://", "gs://", "hdfs://")


@dataclass
class SearchOptions:
    search: str
    overrides: List[str] = field(default_factory=list)
    smoke_test: bool = False
    resume: bool = False
    address: Optional[str] = None
    storage_path: Optional[str] = None
    output_dir: Optional[str] = None
    data_dir: Optional[str] = None
    num_samples: Optional[int] = None
    max_concurrent: Optional[int] = None
    name: Optional[str] = None
    force_cpu: bool = False
    num_cpus: Optional[int] = None
    dashboard_host: str = "127.0.0.1"
    share_inputs: bool = True  # False: every trial tokenises and encodes for itself (Pytorch-BERT-Classification's way)
    warm_start: Optional[str] = None
    refit: bool = False
    keep_checkpoints: bool = False  # False: trial checkpoints are deleted once the best model is exported
    space_check: str = "refuse"  # "warn": a folder without room for the estimate is a warning, not a refusal
    gpu_wait: float = 600.0
    verbose: bool = False
    time_budget: Optional[float] = None  # seconds (overrides the spec's time_budget)
    repeats: Optional[int] = None  # seeds per repeated configuration (overrides the spec's repeats)
    mlflow: Optional[str] = None  # a tracking URI, "" for the default (a file store in the output folder)
    max_latency_ms: Optional[float] = None  # a constraint (overrides the spec's constraints.latency_ms)
    max_model_mb: Optional[float] = None  # a constraint (overrides the spec's constraints.model_mb)
    serve_device: str = "cpu"  # where inference costs are measured: the machine that will serve
    export_front: bool = False  # every Pareto front member's model, not only best_model/
    int8_tolerance: float = INT8_TOLERANCE  # points of the metric an int8 copy may lose to fp32 and ship
    study_storage: Optional[str] = None  # the Optuna study's SQLAlchemy URL; None: SQLite in the output folder


@dataclass(frozen=True)
class Plan:
    opts: SearchOptions
    spec: SearchSpec  # its profile merged, data paths, caches and the model bound
    profile: List[str]
    use_gpu: bool
    name: str
    out_dir: Path  # results.md, results.csv, best_model/ (on this machine)
    storage: str  # trials and checkpoints; also receives a copy of the outputs when it is elsewhere
    experiment: str
    test_path: Optional[Path]
    data_note: str
    models: Dict[str, Model]  # bert_name (as the spec names it) -> where it loads from, its facts
    concurrency: int
    max_epochs: int
    notes: Tuple[str, ...]  # lines for the console: what was decided and why

    def local_folder(self, bert_name: str) -> Optional[str]:
        """The folder on this machine that `bert_name` loads from (a local or packaged model), else None."""
        source = self.models[bert_name].source
        return source if Path(source).is_dir() else None

    @property
    def local(self) -> bool:
        return not self.opts.address


def check_options(opts: SearchOptions) -> None:
    """The options that are not spec keys (those are held to the spec's checks: spec/load.py)."""
    if opts.num_cpus is not None and opts.num_cpus < 1:
        raise UserError(f"--num-cpus {opts.num_cpus}: expected a positive integer")
    if opts.gpu_wait <= 0:
        raise UserError(f"--gpu-wait {opts.gpu_wait}: expected a positive number of seconds")
    if not opts.int8_tolerance >= 0:
        raise UserError(f"--int8-tolerance {opts.int8_tolerance}: expected the points of the metric an int8 copy "
                        f"may lose to fp32, 0 or more (e.g. 0.5)")
    job = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}").get("runtime_env") or {}
    if job.get("working_dir") and opts.output_dir and not Path(opts.output_dir).is_absolute():
        raise UserError(f"--output-dir {opts.output_dir}: a relative path inside `ray job submit --working-dir` "
                        f"lands in Ray's temporary copy of your folder; pass an absolute path, or leave it out: "
                        f"the outputs are written beside the trials in --storage-path")
    if job.get("working_dir") and not opts.storage_path and not opts.output_dir:
        raise UserError("inside `ray job submit`, pass --storage-path (s3://... or a shared folder): the "
                        "trials, checkpoints and outputs go there, where every node and you can reach them")


def _check_options_used(opts: SearchOptions, spec: SearchSpec) -> None:
    """An option the spec gives nothing to act on is an error, not silently dropped."""
    if not spec.measures_cost:
        for flag, given in (("--export-front", opts.export_front), ("--serve-device", opts.serve_device != "cpu")):
            if given:
                raise UserError(f"{flag}: the spec {spec.source} has no objectives or constraints, so no inference "
                                f"cost is measured (objectives: [METRIC, latency_ms], or --max-latency-ms: "
                                f"docs/deploy.md)")
    if opts.int8_tolerance != INT8_TOLERANCE and "int8" not in spec.possible("precision"):
        raise UserError(f"--int8-tolerance {opts.int8_tolerance:g}: no trial of the spec {spec.source} has precision "
                        f"int8 (set fixed.precision=int8 or search it: docs/export.md)")


def make_plan(opts: SearchOptions, say, created: list) -> Plan:
    """The search's plan, everything checked; `created` gets the local folders (output, storage) that
    did not exist yet, as soon as they are known, so that an interrupted start can remove them. The
    plan holds the search's lock (search_lock) until search_lock.release(), or frees it when it fails."""
    check_options(opts)
    notes = []
    cpus = opts.num_cpus or os.cpu_count() or 1
    use_gpu, profile = _profile(opts, notes)
    overrides = spec_overrides(opts.search, opts.overrides, profile, flag_overrides(vars(opts)))
    name = opts.name or (f"{search_name(overrides)}-smoke" if opts.smoke_test else search_name(overrides))
    out_dir, storage, experiment = _places(opts, name, notes)
    spec = resolve(overrides + _resumed_count(opts, overrides, storage, out_dir))
    _check_options_used(opts, spec)
    local = [out_dir] + ([] if storage.startswith(URI_SCHEMES) else [Path(storage)])
    with holding(name, local + [storage], notes):  # before any folder is looked at: the same command twice runs once
        _check_finished(opts, storage, out_dir)
        refusal = _resume_refusal(opts, experiment)  # told after the data's checks: a typed mistake comes first
        created += [] if refusal else [folder for folder in dict.fromkeys(local) if not folder.exists()]
        files, data_note, spec, models = _checked_data(opts, spec, None if refusal else out_dir, say,
                                                       None if use_gpu or opts.address else cpus)
        if refusal:
            raise refusal
    notes += [f"model: {bert_name} from {model.why}" if not opts.smoke_test
              else "model: a tiny BERT built for the smoke test" for bert_name, model in models.items()]
    notes += [f"model: {bert_name}: {note}" for bert_name, model in models.items() for note in model.facts.notes]
    notes.append(recipe_line(spec, models))
    concurrency = _concurrency(spec, use_gpu, not opts.address, cpus)
    return Plan(opts=opts, spec=spec, profile=profile, use_gpu=use_gpu, name=name, out_dir=out_dir,
                storage=storage, experiment=experiment, test_path=Path(files["test"]) if files.get("test") else None,
                data_note=data_note, models=models, concurrency=concurrency,
                max_epochs=max(spec.trial_config(c).n_epochs for c in spec.corners(["n_epochs"])), notes=tuple(notes))


def _data_options(opts: SearchOptions, spec: SearchSpec, files: dict, out_dir: Path) -> dict:
    """The training options the search decides: the data's paths, where runs go, the data set whose
    labels your files use; for --smoke-test the tiny BERT, standing in for every model of the spec."""
    options = {"train_path": str(Path(files["train"]).resolve()), "save_path": str(out_dir / "runs"),
               "progress": False}
    if files.get("valid"):
        options["valid_path"] = str(Path(files["valid"]).resolve())
    if spec.dataset in LABEL_NAMES:  # its files, or yours in its layout: the labels read as its names
        options["dataset"] = spec.dataset
    if opts.smoke_test:
        options["bert_name"] = files["model"]
    return options


def _profile(opts: SearchOptions, notes):
    """(use a GPU?, the spec's sections to merge): cpu: without a GPU, smoke: for --smoke-test."""
    import torch
    if opts.force_cpu:
        use_gpu = False
    elif opts.address:
        use_gpu = True  # a cluster's GPU nodes may come only when trials ask for them (autoscaler)
        notes.append("cluster: trials ask for GPUs; the autoscaler adds GPU nodes for them (--cpu: CPU-sized search)")
    else:
        use_gpu = torch.cuda.is_available()
    profile = [] if use_gpu else ["cpu"]
    if not use_gpu:
        notes.append("no GPU: running on the CPU (with the spec's cpu: section, where it has one)")
    if opts.smoke_test:
        profile.append("smoke")
    return use_gpu, profile


def _places(opts: SearchOptions, name: str, notes):
    """(output folder here, storage, Tune experiment): with --storage-path, trials go there under the
    search's name, and the outputs are copied there too."""
    out_dir = Path(opts.output_dir or "results").resolve() / name
    if opts.storage_path:
        storage = opts.storage_path.rstrip("/") + f"/{name}"
        if not storage.startswith(URI_SCHEMES):
            storage = str(Path(storage).resolve())
        notes.append(f"trials, checkpoints and a copy of the outputs: {storage}")
    else:
        storage = str(out_dir)
    return out_dir, storage, f"{storage}/trials"


def _resume_refusal(opts: SearchOptions, experiment: str) -> Optional[UserError]:
    """Why the trials folder refuses this start (a search there already, or none to resume), else None."""
    from ray.tune import Tuner
    exists = Tuner.can_restore(experiment) if experiment.startswith(URI_SCHEMES) else Path(experiment).exists()
    if exists and not Tuner.can_restore(experiment):  # e.g. a disk that filled as the Tuner was made
        return UserError(f"{experiment} holds a search that saved no state to resume (it ended before its first "
                         f"trial): remove that folder, or use --name")
    if opts.resume and not exists:
        return UserError(f"--resume: no interrupted search at {experiment}")
    if not opts.resume and exists:
        return UserError(f"{experiment} holds a search already: pass --resume to continue it, or --name to "
                         f"start another")
    return None


def _checked_data(opts: SearchOptions, spec: SearchSpec, out_dir: Optional[Path], say, cpus: Optional[int]):
    """(files, note, the spec bound to its model(s), models): the data read and checked, the models
    loaded. out_dir None: a check only, a smoke test's slices written to a temporary folder, not into
    a search's folder that this start will not use. cpus: the local CPUs the trials run on (None: GPUs or
    a cluster), for the threads of a trial (spec/bind.py)."""
    with tempfile.TemporaryDirectory(prefix="bert-hpo-check-") if out_dir is None else nullcontext(out_dir) as folder:
        files, note = _data(opts, spec, Path(folder))
        spec, models = bind(spec, _data_options(opts, spec, files, Path(folder)), say, cpus)
    return files, note, spec, models


def _check_finished(opts: SearchOptions, storage: str, out_dir: Path) -> None:
    """--resume of a search that finished (its record says so, and its results.md stands): nothing to
    run, said before Ray starts."""
    record = read_record(storage) if opts.resume else None
    if record and record.get("finished") is not None and (out_dir / "results.md").exists():
        raise finished_already(record["finished"], out_dir)


def _resumed_count(opts: SearchOptions, overrides, storage: str, out_dir: Path) -> list:
    """[the trial count the search was started with, as an override] on --resume (none for a new
    search): Ray Tune cannot add trials to a restored search."""
    record = read_record(storage) if opts.resume else None
    if record is None:
        return []
    started = record["num_samples"]
    given = [o for o in overrides if o.key == "num_samples" and o.origin.startswith("--")]
    if given and given[-1].value != started:
        raise UserError(f"{given[-1].said} with --resume: this search was started for {started} "
                        f"trials, and a resumed Ray Tune search keeps that count; to search further from its best, "
                        f"start another: --name NEW --warm-start {out_dir}")
    return [Override("num_samples", started, storage)]


def _data(opts: SearchOptions, spec: SearchSpec, out_dir: Path):
    """({"train", "test"[, "valid", "model"]}, note): the spec's own files, or the data set's (its dev set
    split by article when only that is there); for --smoke-test a slice of those, or of the shipped
    slices when neither files nor --data-dir are given."""
    note = ""
    if spec.dataset == CUSTOM and not spec.files:
        raise UserError(f"{spec.source}: your own data needs files: {{train: ..., test: ...}} (or --train_path FILE "
                        f"--test_path FILE), or a data set: dataset: imdb, nsmc or korquad")
    if spec.files:
        missing = [f"{split} {path}" for split, path in spec.files.items() if not Path(path).exists()]
        if missing:
            raise UserError(f"{spec.source}: files: no such file: {', '.join(missing)}")
        files = dict(spec.files)
    elif opts.smoke_test and not opts.data_dir:
        return smoke_data(spec.dataset, out_dir / "smoke-data", spec.seed), ""
    else:
        files = dataset_files(spec.dataset, opts.data_dir, need=("test",) if spec.dev_split else ("train", "test"))
        if spec.dev_split and "train" not in files:
            files, note = split_dev(files["test"], spec.dev_split, out_dir / "data", spec.seed)
    if opts.smoke_test:
        files = smoke_data(spec.dataset, out_dir / "smoke-data", spec.seed, files,
                           ColumnNames.of(spec.trial_config({})), classes=task_named(spec.task).has_classes)
    return files, note


def recipe_line(spec: SearchSpec, models: Dict[str, Model]) -> str:
    """The console's plan line for how trials train: what came from the recipe, and each model's pooling."""
    config = spec.trial_config({"bert_name": spec.models()[0]})
    parts = {"evals_per_epoch": f"{config.evals_per_epoch} checks per epoch",
             "degenerate_check": "runs at chance stop at their first check after 25%" if config.degenerate_check
             else "no degenerate-run stop",
             "truncation": f"{config.truncation} truncation", "warmup_ratio": f"{config.warmup_ratio:.0%} warm-up"}
    from_recipe = [parts[k] for k in spec.recipe]
    pooling = [f"{name.rsplit('/', 1)[-1]}: {_pooling_said(spec, name, model)}" for name, model in models.items()
               if "pooling" in task_named(spec.task).text_options]
    asha = spec.scheduler
    cuts = (f"; ASHA's first cut after {asha.grace_period:g} epoch, 1/{asha.reduction_factor:g} of the trials kept at "
            f"each rung" if asha.type == "asha" else "")
    return ("recipe: " + (", ".join(from_recipe) + " (the defaults; the spec may set each); " if from_recipe else "")
            + _sized_said(spec, models) + "head lr apart from the encoder's" + cuts
            + (f"; pooling {'; '.join(pooling)}" if pooling else ""))


def _sized_said(spec: SearchSpec, models: Dict[str, Model]) -> str:
    """What the recipe line says of the options sized where the spec was bound (spec/bind.py): the first
    trial's encoder rate, a trial's threads."""
    threads = (f"{spec.resources.cpus_per_worker:g} threads a trial (fine-tuning on a CPU; "
               f"resources.cpus_per_worker sets it); ") if "cpus_per_worker" in spec.sized else ""
    if "lr_main" not in spec.sized:
        return threads
    name = spec.models()[0]
    facts = models[name].facts
    rate = spec.first_trial["lr_main"]
    held = "" if rate == encoder_rate(facts.parameters) else ", the nearest the space holds"
    size = f"{facts.parameters / 1e6:.1f}M" if facts.parameters >= 1e6 else f"{facts.parameters / 1e3:.0f}k"
    return (f"first trial's lr_main {rate:.2g}, sized to {name.rsplit('/', 1)[-1]}'s {size} "
            f"parameters ({RULE}{held}; the spec's first_trial sets it); " + threads)


def _pooling_said(spec: SearchSpec, name: str, model: Model) -> str:
    if "pooling" in spec.space_for(name):
        return "searched"
    chosen = spec.trial_config({"bert_name": name}).pooling
    if chosen == "cls":
        return f"cls = {model.facts.cls_pooling}"
    return f"{chosen} (the pooling it was trained with)" if chosen == trained_pooling(model.source) else chosen


def _concurrency(spec: SearchSpec, use_gpu: bool, local: bool, cpus: int) -> int:
    """Trials in flight: the spec's max_concurrent as given (however it was set: spec, --set or
    --max-concurrent); else locally what the CPUs (and GPUs) hold, and on a cluster every trial, so
    that pending trials ask the autoscaler for the nodes they need."""
    if spec.max_concurrent or not local:
        return min(spec.max_concurrent or spec.num_samples, spec.num_samples)
    res = spec.resources
    workers = res.workers_per_trial
    limit = int(cpus // (res.cpus_per_worker * workers + (0.01 if workers > 1 else 0))) or 1
    if use_gpu:
        import torch
        boost_only = spec.feature_cache_uses() == {True} and workers == 1
        per_trial = res.boost_gpu_fraction if boost_only else res.gpus_per_worker * workers
        limit = min(limit, int(torch.cuda.device_count() // per_trial) or 1)
    return max(1, min(limit, spec.num_samples))
