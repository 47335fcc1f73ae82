"""`launch.py --search NAME`: Ray Tune + OptunaSearch (TPE) + ASHA over the engine's loop."""
import itertools
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from bertclf.data import read_examples
from bertclf.datasets import resolve
from bertclf.errors import UserError
from bertclf.results_table import csv_text

from . import ray_session
from .search_space import expand, load_spec, optuna_space


@dataclass
class SearchOptions:
    search: str
    overrides: List[str] = field(default_factory=list)
    smoke_test: bool = False
    resume: bool = False
    address: Optional[str] = None
    storage_path: Optional[str] = None
    output_dir: str = "results"
    data_dir: Optional[str] = None
    num_samples: Optional[int] = None
    max_concurrent: Optional[int] = None
    name: Optional[str] = None
    force_cpu: bool = False
    num_cpus: Optional[int] = None
    dashboard_host: str = "127.0.0.1"
    share_inputs: bool = True  # False: every trial tokenises and encodes for itself (the seed's way)


def say(message: str) -> None:
    print(f"[bert-hpo] {message}", file=sys.stderr, flush=True)


def _smoke_data(files: dict, folder: Path, seed: int, task: str) -> dict:
    """A small slice of the real data and a tiny BERT whose vocabulary was learnt from it."""
    from bertclf.tiny_model import build_tiny_bert
    folder.mkdir(parents=True, exist_ok=True)
    out, texts = {}, []
    if task == "qa":
        from bertclf.squad import read_squad, write_squad
        for split, size in (("train", 120), ("test", 40)):
            examples = read_squad(files[split], f"{split} data")[:size]
            out[split] = folder / f"{split}.json"
            write_squad(examples, out[split])
            texts += [e.question for e in examples] + sorted({e.context for e in examples})
    else:
        for split, size in (("train", 240), ("test", 100)):
            ex = read_examples(files[split], f"{split} data")
            by_label = {}
            for i, label in enumerate(ex.labels):
                by_label.setdefault(label, []).append(i)
            rng = random.Random(seed)
            picked = []
            for label in sorted(by_label):
                picked += rng.sample(by_label[label], min(len(by_label[label]), size // len(by_label)))
            rows = [(ex.texts[i][:400], ex.labels[i]) for i in sorted(picked)]
            out[split] = folder / f"{split}.csv"
            out[split].write_text(csv_text(["text", "label"], rows), encoding="utf-8")
            texts += [text for text, _ in rows]
    out["model"] = build_tiny_bert(folder / "tiny_bert", texts, vocab_size=800)
    return out


def _split_dev(dev_path: Path, fraction: float, folder: Path, seed: int):
    """KorQuAD's train set is absent: split its dev set by article into train and test parts."""
    from bertclf.squad import read_squad, split_by_article, write_squad
    examples = read_squad(dev_path, "dev data")
    train, test = split_by_article(examples, fraction, seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_squad(train, folder / "dev_split_train.json")
    write_squad(test, folder / "dev_split_test.json")
    note = (f"The train set was not available: the dev set ({dev_path.name}) was split by article, "
            f"{len({e.article for e in train})} articles / {len(train)} questions to train and "
            f"{len({e.article for e in test})} articles / {len(test)} questions to test; these scores "
            f"are not comparable to published dev-set scores.")
    return {"train": folder / "dev_split_train.json", "test": folder / "dev_split_test.json"}, note


def _feature_keys(spec: dict) -> list:
    """Each distinct (max_length, truncation, pooling, mode) a trial can ask for."""
    keys = ("max_length", "truncation", "pooling", "mode")
    choices = []
    for key in keys:
        dist = spec["space"].get(key)
        if dist and "choice" in dist:
            choices.append(dist["choice"])
        elif dist:
            raise UserError(f"space.{key}: cached inputs need a choice, not a range")
        else:
            choices.append([None])
    combos = []
    for combo in itertools.product(*choices):
        sampled = {k: v for k, v in zip(keys, combo) if v is not None}
        combos.append(sampled)
    return combos


def precompute_inputs(spec: dict, base: dict, use_gpu: bool, cpus: float) -> float:
    """Tokenise (and, for boost, encode) once per distinct key, before any trial starts.

    Every trial then loads these from the shared cache_dir instead of recomputing them: the
    seed recomputed the frozen features in every run.
    """
    import ray
    from bertclf.config import TrainConfig
    from bertclf.train import train

    @ray.remote(num_cpus=cpus, num_gpus=1 if use_gpu else 0)
    def warm(values):
        import torch
        torch.set_num_threads(max(1, int(cpus)))
        values = dict(values, device="auto")
        return train(TrainConfig.from_dict(values), features_only=True, save_run=False)

    started = time.perf_counter()
    jobs = {}
    for sampled in _feature_keys(spec):
        jobs[warm.remote({**base, **expand(sampled)})] = sampled
    for job, sampled in jobs.items():
        try:
            ray.get(job)
        except ray.exceptions.RayTaskError as e:
            # a key no trial can use (e.g. max_length above the model's limit): its trials fail
            # with this message and end as errors; the rest of the search goes on
            say(f"could not prepare inputs for {sampled}: {str(e.cause).splitlines()[0]}")
    return time.perf_counter() - started


def _tolerant_optuna_search():
    from ray.tune.search.optuna import OptunaSearch

    class TolerantOptunaSearch(OptunaSearch):
        """OptunaSearch that ignores reports of trials it has already closed: a trial re-run after a
        crash (see _run) reports again, and stock OptunaSearch fails with a KeyError on that."""

        def on_trial_result(self, trial_id, result):
            if trial_id in self._ot_trials:
                super().on_trial_result(trial_id, result)

        def on_trial_complete(self, trial_id, result=None, error=False):
            if trial_id in self._ot_trials:
                super().on_trial_complete(trial_id, result, error)

    return TolerantOptunaSearch


def _tpe(spec: dict, concurrency: int):
    import optuna
    # TPE's start-up counts finished trials only; with `concurrency` trials in flight it would
    # draw up to concurrency-1 extra random ones. Shrink it so the random phase stays as asked;
    # constant_liar keeps parallel TPE suggestions apart.
    startup = max(1, spec["startup_trials"] - (concurrency - 1))
    sampler = optuna.samplers.TPESampler(seed=spec["seed"], n_startup_trials=startup,
                                         constant_liar=True)
    return _tolerant_optuna_search()(space=optuna_space(spec), metric=f"best_{spec['metric']}", mode="max",
                        sampler=sampler)


def _scheduler(spec: dict, n_epochs: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    if spec["scheduler"]["type"] == "none":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="training_iteration", metric=spec["metric"], mode="max",
                         max_t=n_epochs, grace_period=int(spec["scheduler"]["grace_period"]),
                         reduction_factor=spec["scheduler"]["reduction_factor"])


def _trial_name(trial) -> str:
    return f"trial_{trial.trial_id}"


def build_trainable(spec: dict, base: dict, use_gpu: bool, storage_path: str):
    from ray import tune
    from .trial import run_in_trial, run_with_torch_trainer
    res = spec["resources"]
    workers, cpus = int(res["workers_per_trial"]), float(res["cpus_per_worker"])
    if workers > 1:
        fn = tune.with_parameters(run_with_torch_trainer, spec=spec, base=base, workers=workers,
                                  use_gpu=use_gpu, cpus_per_worker=cpus, storage_path=storage_path)
        return tune.with_resources(fn, {"cpu": 0.01})  # the trial only waits on its workers

    def resources(sampled):
        values = {**base, **expand(sampled)}
        boost = values.get("boost", False) and not values.get("bert_finetuning", True)
        gpu = (res["boost_gpu_fraction"] if boost else res["gpus_per_worker"]) if use_gpu else 0
        return {"cpu": cpus, "gpu": gpu}

    fn = tune.with_parameters(run_in_trial, spec=spec, base=base, cpus=cpus)
    return tune.with_resources(fn, resources)


def _concurrency(spec: dict, use_gpu: bool, explicit: Optional[int]) -> int:
    import ray
    if explicit:
        return explicit
    res, total = spec["resources"], ray.cluster_resources()
    workers = int(res["workers_per_trial"])
    by_cpu = int(total.get("CPU", 1) // (float(res["cpus_per_worker"]) * workers + (0.01 if workers > 1 else 0)))
    limit = by_cpu
    if use_gpu:
        modes = spec["space"].get("mode", {}).get("choice", [])
        all_boost = modes == ["boost"] or (not modes and spec["fixed"].get("boost") and
                                          not spec["fixed"].get("bert_finetuning", True))
        per_trial = res["boost_gpu_fraction"] if all_boost and workers == 1 else res["gpus_per_worker"] * workers
        limit = min(limit, int(total.get("GPU", 0) // per_trial))
    return max(1, min(limit, spec["num_samples"]))


def run_search(opts: SearchOptions) -> dict:
    load_spec(opts.search, opts.overrides)  # bad files fail before Ray starts
    started = ray_session.start(opts.address, opts.num_cpus, opts.dashboard_host)
    try:
        return _run(opts)
    finally:
        ray_session.stop(started)


def _run(opts: SearchOptions) -> dict:
    import ray
    from ray import tune

    gpus = ray.cluster_resources().get("GPU", 0)
    profile = []  # the spec's sections merged over it, in order: smoke last, so it wins
    use_gpu = gpus > 0 and not opts.force_cpu
    if not use_gpu:
        if opts.address and not opts.force_cpu:
            say("the cluster shows no GPU yet: trials wait until the autoscaler adds GPU workers "
                "(pass --cpu to run the CPU-sized search instead)")
            use_gpu = True
        else:
            say("no GPU found: running the CPU-sized search (the spec's cpu: section); "
                "on a GPU machine the full search runs")
            profile.append("cpu")
    if opts.smoke_test:
        profile.append("smoke")
    spec = load_spec(opts.search, opts.overrides, profile=profile)
    if opts.num_samples:
        spec["num_samples"] = opts.num_samples
    name = opts.name or (f"{spec['name']}-smoke" if opts.smoke_test else spec["name"])
    out_dir = Path(opts.output_dir).resolve() / name
    storage = opts.storage_path or str(out_dir)
    if not storage.startswith(("s3://", "gs://", "hdfs://")):
        storage = str(Path(storage).resolve())
    experiment = f"{storage.rstrip('/')}/trials"

    from ray.tune import Tuner
    if opts.resume:
        if not Tuner.can_restore(experiment):
            raise UserError(f"--resume: no interrupted search at {experiment}")
    elif (Path(experiment).exists() if "://" not in experiment else Tuner.can_restore(experiment)):
        raise UserError(f"{experiment} holds a search already: pass --resume to continue it, or "
                        f"--name to start another")

    task = spec["fixed"]["task"]
    dev_split = spec.get("dev_split")
    files = resolve(spec["dataset"], opts.data_dir, need=("test",) if dev_split else ("train", "test"))
    note = ""
    if dev_split and "train" not in files:
        files, note = _split_dev(files["test"], dev_split, out_dir / "data", spec["seed"])
        say(note)
    base = {"cache_dir": str(out_dir / "cache"), "progress": False, "save_path": str(out_dir / "runs")}
    base.update(spec["fixed"])
    if opts.smoke_test:
        smoke = _smoke_data(files, out_dir / "smoke-data", spec["seed"], task)
        files = {"train": smoke["train"], "test": smoke["test"]}
        base["bert_name"] = smoke["model"]
    # trials run in their own working directories: every path they get must be absolute
    base["train_path"] = str(Path(files["train"]).resolve())
    if Path(base.get("bert_name", "")).exists():
        base["bert_name"] = str(Path(base["bert_name"]).resolve())
    base["cache_dir"] = str(Path(base["cache_dir"]).resolve())
    concurrency = _concurrency(spec, use_gpu, opts.max_concurrent)
    say(f"search {name}: {spec['num_samples']} trials of {spec['dataset']} with "
        f"{base.get('bert_name')}, up to {concurrency} at a time, "
        f"{'GPU' if use_gpu else 'CPU'}; results in {out_dir}")

    if not opts.share_inputs:
        base["cache_dir"] = str(Path(base["cache_dir"]) / "{trial}")  # one cache per trial: nothing shared
    seconds = 0.0 if opts.resume or not opts.share_inputs else precompute_inputs(
        spec, base, use_gpu, spec["resources"]["cpus_per_worker"])
    if seconds:
        say(f"inputs tokenised / frozen features cached once for the whole search in {seconds:.1f} s")

    trainable = build_trainable(spec, base, use_gpu, storage)
    n_epochs = int(base.get("n_epochs", 4))
    if opts.resume:
        tuner = Tuner.restore(experiment, trainable=trainable, resume_errored=True)
    else:
        tuner = Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=_tpe(spec, concurrency),
                                        scheduler=_scheduler(spec, n_epochs),
                                        num_samples=spec["num_samples"],
                                        max_concurrent_trials=concurrency,
                                        # a fresh actor per trial re-imports torch and transformers
                                        # (~3 s on a CPU); reuse keeps them warm across trials
                                        reuse_actors=True,
                                        trial_name_creator=_trial_name,
                                        trial_dirname_creator=_trial_name),
            run_config=tune.RunConfig(
                name="trials", storage_path=storage, verbose=1,
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=spec["checkpoints_to_keep"],
                    checkpoint_score_attribute=spec["metric"], checkpoint_score_order="max"),
                failure_config=tune.FailureConfig(max_failures=spec["max_failures"])),
        )
    wall = time.perf_counter()
    grid = tuner.fit()
    lost = [r for r in grid if r.error is not None and "Could not recover from checkpoint" in str(r.error)]
    if opts.resume and lost:
        # A driver killed between Tune deleting an old checkpoint (num_to_keep) and its next state
        # snapshot leaves a trial pointing at a deleted checkpoint: run such trials again from the
        # start (finished trials stay untouched; trials that failed for their own reasons fail again).
        say(f"{len(lost)} interrupted trial(s) had lost their last checkpoint: running them again")
        grid = Tuner.restore(experiment, trainable=trainable, restart_errored=True).fit()
    wall = time.perf_counter() - wall
    finished = grid.num_terminated + grid.num_errors
    if finished < spec["num_samples"]:
        say(f"interrupted: {finished} of {spec['num_samples']} trials finished and are kept in "
            f"{experiment}; run the same command with --resume to finish the search")
        raise KeyboardInterrupt
    from .search_report import write_outputs
    report_started = time.perf_counter()
    summary = write_outputs(grid, spec, base, out_dir, files.get("test"), wall, note)
    summary["seconds"] = {"shared_inputs": seconds, "trials": wall,
                          "outputs_and_test": time.perf_counter() - report_started}
    say(f"done in {wall:.0f} s: {summary['trials']} trials "
        f"({summary['completed']} completed, {summary['early_stopped']} stopped early, "
        f"{summary['errors']} errors)")
    for what, path in summary["written"].items():
        say(f"  {what}: {path}")
    return summary
