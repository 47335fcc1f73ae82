"""A search's pictures and the importance of each hyperparameter (Optuna's fANOVA)."""
import importlib.util
import math
from pathlib import Path

from bertclf.atomic import atomic_path

MIN_TRIALS_FOR_IMPORTANCE = 8  # fANOVA fits a random forest to the trials: fewer say little


def importance(scored, spec) -> dict:
    """{hyperparameter: share of the score's variance it explains}, from the scored trials (each at its
    best check); {} with fewer than MIN_TRIALS_FOR_IMPORTANCE trials or nothing that varies."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    keys = [k for k in spec.space if len(spec.span(k).corners()) > 1 and scored[k].nunique() > 1]
    if len(scored) < MIN_TRIALS_FOR_IMPORTANCE or not keys:
        return {}
    if importlib.util.find_spec("sklearn") is None:  # fANOVA's random forest; the search extra installs it
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {k: spec.span(k).to_optuna() for k in keys}  # every model's values inside
    study = optuna.create_study(direction="maximize")
    for row in scored.to_dict("records"):
        params = {k: row["result"].config[k] for k in keys}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions,
                                                  value=float(row[f"best_{spec.metric}"])))
    return dict(get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=spec.seed)))


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_plots(scored, spec, out_dir: Path, importances: dict, title: str) -> dict:
    """trials_over_time.png, hyperparameters.png and (with importances) importance.png."""
    if scored.empty:
        return {}
    try:
        import matplotlib
    except ImportError:  # a bare machine (bench/gpu.sh); the search extra installs it
        return {}
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    metric, label = f"best_{spec.metric}", spec.metric.replace("_", " ")
    written = {}
    done = scored.sort_values("ended")
    minutes = (done["ended"] - done["started"].min()) / 60
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(minutes, done[metric], label="trial (best check)")
    ax.step(minutes, done[metric].cummax(), where="post", color="C1", label="best so far")
    ax.set_xlabel("minutes since the first trial started (trial end)")
    ax.set_ylabel(label)
    ax.legend()
    ax.set_title(f"{title}: {label} by trial")
    _save(fig, out_dir / "trials_over_time.png")
    written["plot (over time)"] = out_dir / "trials_over_time.png"

    keys = list(spec.space)
    if keys:
        cols = min(3, len(keys))
        rows = math.ceil(len(keys) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
        for ax, key in zip(axes.flat, keys):
            dist = spec.span(key)
            if dist.is_choice:
                labels = [str(c) for c in dist.args]
                ax.scatter([labels.index(str(v)) for v in scored[key]], scored[metric])
                ax.set_xticks(range(len(labels)), labels)
            else:
                ax.scatter(scored[key].astype(float), scored[metric])
                if dist.kind == "loguniform":
                    ax.set_xscale("log")
            ax.set_xlabel(key)
            ax.set_ylabel(label)
        for ax in list(axes.flat)[len(keys):]:
            ax.axis("off")
        fig.tight_layout()
        _save(fig, out_dir / "hyperparameters.png")
        written["plot (hyperparameters)"] = out_dir / "hyperparameters.png"

    if importances:
        names = list(importances)[::-1]
        fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(names)))
        ax.barh(names, [importances[n] for n in names])
        ax.set_xlabel(f"share of the variance of {label} (fANOVA)")
        ax.set_title(f"{title}: which hyperparameters mattered ({len(scored)} trials)")
        _save(fig, out_dir / "importance.png")
        written["plot (importance)"] = out_dir / "importance.png"
    return written
