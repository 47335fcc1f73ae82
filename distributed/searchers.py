"""Who proposes the configurations and who stops them: Optuna's TPE (random for PBT), ASHA or PBT,
the first points to evaluate (the engine's defaults, or an earlier search's best: warm start)."""
import csv
import io
from functools import partial
from pathlib import Path
from typing import List, Optional

from bertclf.data.readers import read_text
from bertclf.errors import UserError

from .budget import BudgetASHA, BudgetFIFO, BudgetLimiter, BudgetPBT, BudgetVariants
from .tolerant_optuna import TolerantOptunaSearch, TrainedStartupTPE

TIME_ATTR = "epoch"  # the schedulers' clock: epochs trained, in fractions when a run checks mid-epoch
# numeric options that fix what the trained weights mean: PBT never mutates them, so an exploited clone
# computes what its donor computed (lora_r shapes the adapters; their output is scaled by lora_alpha / lora_r)
SHAPE_OPTIONS = ("lora_r", "lora_alpha")


def search_algorithm(spec, concurrency: int, points: List[dict], costs=None, storage=None,
                     study_name: Optional[str] = None):
    """TPE, seeded, constant_liar on (parallel trials do not get the same suggestion); it models once
    `startup_trials` trials have finished, and proposes at random until then. With cost objectives it is
    Optuna's multi-objective TPE over the score and those costs; given `costs` (costs.SearchCosts) with
    constraints, each Optuna trial carries its constraint values (Trial.set_constraint: Optuna 5's
    replacement of the sampler's constraints_func, which it deprecates), and an architecture that
    breaks them is never trained. Its study `study_name` lives in the Optuna `storage` (study.py; None:
    in memory). PBT takes no searcher (Ray refuses one): its population is drawn at random, seeded.
    Both stop proposing at the time budget (budget.py)."""
    if spec.scheduler.type == "pbt":
        return BudgetVariants(points_to_evaluate=points or None, random_state=spec.seed)
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # TPE's start-up counts trained trials only (TrainedStartupTPE), so up to concurrency - 1 more are drawn at random
    # while it waits. Shrinking it by that would leave TPE modelling the whole space from one
    # finished trial whenever as many trials are in flight as start-up trials; in the simulator that
    # does worse than the spec's own count (bench/results/simulation/simulation_cluster_report.md).
    sampler = TrainedStartupTPE(seed=spec.seed, n_startup_trials=spec.startup_trials, constant_liar=True)
    if spec.has_model_ranges:
        space = partial(_sample_per_model, spec)
        points = [{spec.searched_name(k, p["bert_name"]): v for k, v in p.items()} for p in points]
    else:
        space = {key: to_optuna(dist) for key, dist in spec.space.items()}
    keys, modes = zip(*spec.searched_metrics)
    several = len(keys) > 1
    searcher = TolerantOptunaSearch(space=space, metric=list(keys) if several else keys[0],
                                         mode=list(modes) if several else modes[0], sampler=sampler,
                                         points_to_evaluate=points or None, storage=storage, study_name=study_name)
    searcher.spec, searcher.costs = spec, costs
    return BudgetLimiter(searcher, max_concurrent=concurrency)



def _sample_per_model(spec, trial) -> dict:
    """Optuna define-by-run: the model first, then each option from that model's range. An option
    with a range per model is a conditional parameter of its own per model (TPE models each from
    the trials of that model only); the trial's config gets it under its option name too."""
    model = trial.suggest_categorical("bert_name", list(spec.space["bert_name"].args))
    values = {}
    for key, dist in spec.space_for(model).items():
        if key != "bert_name":
            values[key] = _suggest(trial, spec.searched_name(key, model), dist)
    return values


def _suggest(trial, name: str, dist):
    """Define-by-run: the value of `name` drawn from the spec's distribution `dist`."""
    if dist.is_choice:
        return trial.suggest_categorical(name, list(dist.args))
    if dist.kind == "int":
        return trial.suggest_int(name, *dist.args)
    return trial.suggest_float(name, *dist.args, log=dist.kind == "loguniform")


def to_optuna(dist):
    """The spec's distribution `dist` as Optuna's, for a space given whole (and fANOVA)."""
    import optuna.distributions as d
    if dist.is_choice:
        return d.CategoricalDistribution(list(dist.args))
    if dist.kind == "int":
        return d.IntDistribution(*dist.args)
    return d.FloatDistribution(*dist.args, log=dist.kind == "loguniform")


def to_tune(dist):
    """The spec's distribution `dist` as Tune's, for PBT (Tune's randint excludes its high bound)."""
    from ray import tune
    if dist.is_choice:
        return tune.choice(list(dist.args))
    if dist.kind == "int":
        return tune.randint(dist.args[0], dist.args[1] + 1)
    return (tune.loguniform if dist.kind == "loguniform" else tune.uniform)(*dist.args)


def param_space(spec) -> dict:
    """The space as Tune distributions, for PBT's random population (TPE holds its own space)."""
    return {key: to_tune(dist) for key, dist in spec.space.items()} if spec.scheduler.type == "pbt" else {}


def scheduler(spec, max_epochs: int):
    """The spec's scheduler (ASHA, PBT, or FIFO for none), each starting no trial after the time budget."""
    s = spec.scheduler
    if s.type == "asha":
        return BudgetASHA(time_attr=TIME_ATTR, metric=spec.score_key, mode=spec.mode, max_t=max_epochs,
                          grace_period=s.grace_period, reduction_factor=s.reduction_factor)
    if s.type == "pbt":
        # only continuous hyperparameters mutate: a new max_length, mode or adapter rank would not fit the weights
        mutations = {key: to_tune(dist) for key, dist in spec.space.items()
                     if not dist.is_choice and key not in SHAPE_OPTIONS}
        return BudgetPBT(time_attr=TIME_ATTR, metric=spec.score_key, mode=spec.mode,
                         perturbation_interval=s.perturbation_interval, hyperparam_mutations=mutations,
                         quantile_fraction=s.quantile_fraction, resample_probability=s.resample_probability)
    return BudgetFIFO()


# PBT copies a donor's latest checkpoint while the donor trains on: Ray warns that keeping 2 or
# fewer lets the donor delete it before the copy is made (a trial then fails to restore)
PBT_CHECKPOINTS_KEPT = 4


def checkpoints_kept(spec) -> int:
    """Checkpoints kept per trial: the spec's, and under PBT enough for donors' to outlive the copy."""
    return max(spec.checkpoints_to_keep, PBT_CHECKPOINTS_KEPT) if spec.scheduler.type == "pbt" else spec.checkpoints_to_keep


def first_points(spec, warm_start_dir) -> List[dict]:
    """Evaluated before the searcher proposes anything: an earlier search's best configurations
    (--warm-start), else the spec's first_trial and the engine's defaults where the space holds them
    (start_from_defaults)."""
    if warm_start_dir:
        return warm_start_points(Path(warm_start_dir), spec)
    return [spec.default_point()] if spec.start_from_defaults else []


def warm_start_points(folder: Path, spec) -> List[dict]:
    """The best configurations of an earlier search (its results.csv), up to startup_trials of them,
    restricted to the current space; options the earlier search did not search take the default point."""
    path = folder / "results.csv" if folder.is_dir() else folder
    if not path.is_file():
        raise UserError(f"--warm-start {folder}: no results.csv of an earlier search there")
    rows = list(csv.DictReader(io.StringIO(read_text(path, "warm-start"), newline="")))
    score = spec.score_key
    if not rows or score not in rows[0]:
        raise UserError(f"--warm-start {path}: expected a results.csv with a {score} column (a search of "
                        f"the same task)")
    try:
        rows = sorted((r for r in rows if r.get(score) not in ("", None)), key=lambda r: -spec.signed(float(r[score])))
    except ValueError as e:
        raise UserError(f"--warm-start {path}: column {score} holds a value that is not a number ({e})") from None
    default, points = spec.default_point(), []
    for row in rows:
        point = {}
        for key, dist in spec.space_for(row.get("bert_name", "")).items():  # an unknown model: the common space
            text = row.get(key, "")
            value = default[key] if text == "" else _typed(text, dist)
            if not dist.contains(value):
                break
            point[key] = value
        else:
            if point not in points:
                points.append(point)
        if len(points) == spec.startup_trials:
            break
    if not points:
        raise UserError(f"--warm-start {path}: none of its configurations lies inside this search's space")
    return points


def _typed(text: str, dist):
    if dist.is_choice:
        for choice in dist.args:
            if str(choice) == text:
                return choice
        return text
    return int(float(text)) if dist.kind == "int" else float(text)
