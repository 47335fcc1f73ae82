"""--repeats N: the best repeat_top configurations of the search trained again with N training seeds
each, so that a configuration is judged on its mean and spread rather than on one lucky run
(fine-tuning scores swing by points with the seed alone: Dodge et al. 2020).

Each repeat is a full run (no scheduler cuts it; early stopping as configured) with its own
train_seed: the head's initialisation, dropout and data order change, the held-out validation
split does not (TrainConfig.training_seed), so every seed is scored on the same examples. The runs
go through a second Tuner (storage/repeats), with the search's trainable and resources; every run's
best checkpoint is scored once on the test split. The winner is the configuration with the highest
mean valid score.
"""
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

from bertclf.tasks import metric_test_key

from . import interrupts
from .progress import Progress, duration
from .results import best_checkpoint, trial_table
from .run_config import run_config
from .scoring import score_on_test


@dataclass
class Repeated:
    """One configuration's runs, in seed order."""
    trial: str  # the search's trial of this configuration
    sampled: dict
    seeds: List[int] = field(default_factory=list)
    valid: List[float] = field(default_factory=list)  # best valid score of each run
    test: List[float] = field(default_factory=list)  # test score of each run's best check (none without test)
    best_epochs: List[float] = field(default_factory=list)
    checkpoints: list = field(default_factory=list)

    def best_run(self, signed=float) -> int:
        """The run with the best valid score (the one exported as best_model); signed: a score as
        higher-is-better (SearchSpec.signed)."""
        return max(range(len(self.valid)), key=lambda run: signed(self.valid[run]))


def mean_std(values: List[float]) -> str:
    """'0.8123 ± 0.0101' (sample standard deviation); '' for no values."""
    if not values:
        return ""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {spread:.4f}"


def top_configurations(table, spec) -> List[tuple]:
    """[(trial, sampled)]: the best repeat_top distinct configurations among the scored trials."""
    score = f"best_{spec.metric}"
    picked = []
    if score not in table:  # no trial reported a score: write_outputs says that every trial failed
        return picked
    for row in table[table[score].notna()].to_dict("records"):
        sampled = {k: row["config"][k] for k in spec.space}
        if all(sampled != other for _, other in picked):
            picked.append((row["trial"], sampled))
        if len(picked) == spec.repeat_top:
            break
    return picked


def repeat_points(plan, configurations) -> List[dict]:
    """The runs to train: each configuration with train_seed seed+1 .. seed+N (the search's trials
    trained with seed itself)."""
    seed = plan.spec.trial_config(plan.spec.default_point()).seed
    return [{**sampled, "train_seed": seed + i} for _, sampled in configurations
            for i in range(1, plan.spec.repeats + 1)]


def estimate(plan, table, runs: int) -> str:
    """What the repeats cost, from the search's own completed trials."""
    done = table[table["status"] == "completed"]["time_total_s"].dropna()
    if done.empty:
        return f"{runs} runs"
    seconds = float(done.mean()) * runs / max(1, min(plan.concurrency, runs))
    return f"{runs} runs, ~{duration(seconds)} (a completed trial took {duration(float(done.mean()))})"


def run_repeats(plan, grid, trainable, shared, say) -> List[Repeated]:
    """The repeated configurations, best mean valid score first."""
    from ray import tune
    from ray.tune import Tuner
    from ray.tune.search.basic_variant import BasicVariantGenerator
    spec = plan.spec
    table = trial_table(grid, spec)
    configurations = top_configurations(table, spec)
    if not configurations:
        return []
    points = repeat_points(plan, configurations)
    say(f"repeats: the best {len(configurations)} configuration(s) x {spec.repeats} seeds: "
        f"{estimate(plan, table, len(points))}" + (", each scored on test" if plan.test_path else ""))
    experiment = f"{plan.experiment.rsplit('/', 1)[0]}/repeats"
    if plan.opts.resume and Tuner.can_restore(experiment):
        tuner = Tuner.restore(experiment, trainable=trainable, resume_errored=True)
    else:
        tuner = Tuner(
            trainable, param_space=dict.fromkeys(points[0]),  # the keys the points fill in (Tune asks for them)
            tune_config=tune.TuneConfig(
                search_alg=BasicVariantGenerator(points_to_evaluate=points, max_concurrent=plan.concurrency),
                num_samples=len(points), reuse_actors=spec.resources.workers_per_trial == 1,
                trial_name_creator=lambda t: f"repeat_{t.trial_id}",
                trial_dirname_creator=lambda t: f"repeat_{t.trial_id}"),
            run_config=run_config(plan, "repeats", [Progress(spec, plan.concurrency, lambda m: say(f"repeats: {m}"),
                                                             total=len(points))]))
    started = time.perf_counter()
    with interrupts.stopping_tune():
        results = tuner.fit()
    interrupts.check()
    repeated = {trial: Repeated(trial, sampled) for trial, sampled in configurations}
    by_config = {tuple(sorted(s.items(), key=str)): r for r, (_, s) in zip(repeated.values(), configurations)}
    for result in sorted(results, key=lambda r: r.config["train_seed"]):
        if result.error is not None or not result.metrics:
            continue
        sampled = {k: v for k, v in result.config.items() if k != "train_seed"}
        runs = by_config[tuple(sorted(sampled.items(), key=str))]
        checkpoint = best_checkpoint(result)
        runs.seeds.append(result.config["train_seed"])
        runs.valid.append(float(result.metrics[f"best_{spec.metric}"]))
        runs.best_epochs.append(float(result.metrics["best_epoch"]))
        runs.checkpoints.append(checkpoint)
        if plan.test_path:
            with checkpoint.as_directory() as folder:  # a checkpoint is a model folder (plus trainer state)
                scores = score_on_test(plan, checkpoint, Path(folder), shared)
            runs.test.append(float(scores[metric_test_key(spec.metric)]))
    ranked = sorted((r for r in repeated.values() if r.valid), key=lambda r: -spec.signed(statistics.mean(r.valid)))
    say(f"repeats done in {duration(time.perf_counter() - started)}; by mean {spec.metric.replace('_', ' ')}: "
        + "; ".join(f"{r.trial} {mean_std(r.valid)}" + (f" (test {mean_std(r.test)})" if r.test else "")
                    for r in ranked))
    return ranked
