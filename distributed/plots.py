"""A search's pictures and the importance of each hyperparameter (Optuna's fANOVA, with a bootstrap
interval over the trials)."""
import importlib.util
import math
from pathlib import Path

import numpy as np

from bertclf.atomic import atomic_path

from .searchers import to_optuna

MIN_TRIALS_FOR_IMPORTANCE = 8  # fANOVA fits a random forest to the trials: fewer say little
# Resampling the trials shows how much the shares rest on a few of them: 16 trials of the CPU search
# gave one parameter 0.41 in one run and 0.15 in the next. 30 refits take ~10 s on 16 trials.
BOOTSTRAP_ROUNDS = 30
INTERVAL = (10, 90)  # percentiles of the bootstrap shares shown as the interval
# Options a trial ignores when its encoder is frozen (boost / frozen modes): not plotted for those trials.
ENCODER_ONLY = ("lr_main",)
# How each status is drawn: (marker, colour).
STATUS_STYLE = {"completed": ("o", "C0"), "early stop (patience)": ("^", "C2"),
                "stopped at chance level": ("v", "C3")}
PRUNED_STYLE = ("x", "C7")
JITTER = 0.15  # of the distance between two categories
# Mantissas of a log axis's labelled ticks, coarse to fine: the first set that puts two ticks in the range.
LOG_MANTISSAS = ((1,), (1, 3), (1, 2, 5), tuple(range(1, 10)), tuple(np.arange(1, 10, 0.5)))
MAX_LOG_LABELS = 4  # a panel is ~3 inches wide: more labels than this run together
MIN_PHASE_S = 0.5  # a phase shorter than this (or than half a pixel) is not drawn, nor named in the legend


def _fanova(rows, keys, spec) -> dict:
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    distributions = {k: to_optuna(spec.span(k)) for k in keys}  # every model's values inside
    study = optuna.create_study(direction="maximize" if spec.mode == "max" else "minimize")
    for row in rows:
        study.add_trial(optuna.trial.create_trial(params={k: row["config"][k] for k in keys},
                                                  distributions=distributions, value=float(row[f"best_{spec.metric}"])))
    return dict(get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=spec.seed)))


def importance(scored, spec) -> dict:
    """{hyperparameter: (share, low, high)}: the share of the score's variance it explains, from the
    scored trials (each at its best check), and the 10th-90th percentile of that share over
    BOOTSTRAP_ROUNDS resamplings of the trials; {} with fewer than MIN_TRIALS_FOR_IMPORTANCE trials
    or nothing that varies."""
    keys = [k for k in spec.space if len(spec.span(k).corners()) > 1 and scored[k].nunique() > 1]
    if len(scored) < MIN_TRIALS_FOR_IMPORTANCE or not keys:
        return {}
    if importlib.util.find_spec("sklearn") is None:  # fANOVA's random forest; the search extra installs it
        return {}
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = scored.to_dict("records")
    shares = _fanova(rows, keys, spec)
    rng = np.random.default_rng(spec.seed)
    resampled = {k: [] for k in shares}
    for _ in range(BOOTSTRAP_ROUNDS):
        sample = [rows[i] for i in rng.integers(0, len(rows), len(rows))]
        varying = [k for k in keys if len({str(r["config"][k]) for r in sample}) > 1]
        found = _fanova(sample, varying, spec) if varying else {}
        for k in resampled:
            resampled[k].append(found.get(k, 0.0))  # constant in this resample: it explains nothing
    return {k: (share, *(float(np.percentile(resampled[k], q)) for q in INTERVAL)) for k, share in shares.items()}


def describe_importance(importances: dict) -> str:
    """'lr 0.41 (0.15-0.60), head 0.20 (0.02-0.35)': each share and its bootstrap interval."""
    return ", ".join(f"{k} {share:.2f} ({low:.2f}-{high:.2f})" for k, (share, low, high) in importances.items())


def time_unit(seconds: float):
    """(divisor, name) that shows a span of `seconds` in numbers a reader takes in at a glance."""
    if seconds < 180:
        return 1.0, "s"
    if seconds < 3 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def save_png(fig, path: Path) -> None:
    """`fig` as a PNG at `path` (written aside, moved in), then closed."""
    import matplotlib.pyplot as plt
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _style(status: str):
    return STATUS_STYLE.get(status, PRUNED_STYLE)


def _by_status(ax, frame, x, y) -> None:
    """One scatter per status, so that the legend tells completed, stopped early and pruned apart."""
    for status in sorted(frame["status"].unique()):
        rows = (frame["status"] == status).to_numpy()
        marker, colour = _style(status)
        ax.scatter(np.asarray(x)[rows], np.asarray(y)[rows], marker=marker, color=colour, label=status, alpha=0.8)


def _uses(spec, key: str, config) -> bool:
    trial = spec.trial_config(config)
    if key.startswith("lora_"):
        return trial.lora
    return key not in ENCODER_ONLY or trial.bert_finetuning


def write_plots(scored, spec, out_dir: Path, importances: dict, title: str, prepared_s: float = 0.0) -> dict:
    """trials_over_time.png, hyperparameters.png and (with importances) importance.png.

    prepared_s: seconds the search spent preparing inputs (tokens, frozen features) before the first
    trial; drawn as the first phase of the time axis."""
    if scored.empty:
        return {}
    try:
        import matplotlib
    except ImportError:  # a bare machine (bench/gpu.sh); the search extra installs it
        return {}
    matplotlib.use("Agg")
    label = spec.metric.replace("_", " ")
    written = {"plot (over time)": _plot_over_time(scored, f"best_{spec.metric}", label, title, prepared_s,
                                                   out_dir / "trials_over_time.png", spec.mode)}
    panels = _varying_panels(scored, spec)
    if panels:
        written["plot (hyperparameters)"] = _plot_hyperparameters(scored, spec, panels, label,
                                                                  out_dir / "hyperparameters.png")
    if importances:
        written["plot (importance)"] = _plot_importance(importances, label, title, len(scored),
                                                        out_dir / "importance.png")
    return written


def _plot_over_time(scored, metric: str, label: str, title: str, prepared_s: float, path: Path,
                    mode: str = "max") -> Path:
    """Each trial's run as a bar on the search's clock, its end marked by status, and the best so far (by
    `mode`: the highest, or the lowest of a minimised metric)."""
    import matplotlib.pyplot as plt
    done = scored.sort_values("ended")
    since = done["started"].min() - prepared_s
    start, end = done["started"] - since, done["ended"] - since
    scale, unit = time_unit(float(end.max()))
    fig, ax = plt.subplots(figsize=(7, 4))
    if prepared_s >= max(MIN_PHASE_S, 0.5 * float(end.max()) / ax.bbox.width):
        ax.axvspan(0, prepared_s / scale, color="0.9", label="preparing inputs (tokens, features)")
    ax.hlines(done[metric], start / scale, end / scale, color="0.6", linewidth=1)  # each trial's run
    _by_status(ax, done, end / scale, done[metric])
    best = done[metric].cummax() if mode == "max" else done[metric].cummin()
    ax.step(end / scale, best, where="post", color="C1", label="best so far")
    ax.set_xlim(left=0)
    ax.set_xlabel(f"{unit} since the search started (bar: a trial's run, mark: its end)")
    ax.set_ylabel(label)
    ax.legend(fontsize="small")
    ax.set_title(f"{title}: {label} by trial")
    save_png(fig, path)
    return path


def _varying_panels(scored, spec) -> dict:
    """{hyperparameter: which trials use it}, for each that varies among the trials that use it."""
    configs = list(scored["config"])
    panels = {}
    for key in spec.space:
        used = np.array([_uses(spec, key, c) for c in configs])
        if used.any() and scored[key][used].astype(str).nunique() > 1:
            panels[key] = used
    return panels


def _plot_hyperparameters(scored, spec, panels: dict, label: str, path: Path) -> Path:
    """A panel per hyperparameter: the score of each trial that uses it against its value (choices
    jittered side to side, log ranges on a log axis)."""
    import matplotlib.pyplot as plt
    metric = f"best_{spec.metric}"
    rng = np.random.default_rng(0)
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, (key, used) in zip(axes.flat, panels.items()):
        dist, shown = spec.span(key), scored[used]
        if dist.is_choice:
            labels = [str(c) for c in dist.args]
            x = np.array([labels.index(str(v)) for v in shown[key]], dtype=float)
            _by_status(ax, shown, x + rng.uniform(-JITTER, JITTER, len(x)), shown[metric])
            ax.set_xticks(range(len(labels)), labels)
        else:
            _by_status(ax, shown, shown[key].astype(float), shown[metric])
            if dist.kind == "loguniform":
                _log_axis(ax)
        skipped = len(scored) - len(shown)
        ax.set_xlabel(key + (f" ({skipped} trial(s) with a frozen encoder left out)" if skipped else ""))
        ax.set_ylabel(label)
    axes.flat[0].legend(fontsize="small")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    save_png(fig, path)
    return path


def log_ticks(low: float, high: float) -> list:
    """Values m×10^e in [low, high] (m from the coarsest of LOG_MANTISSAS that gives two of them), thinned to
    at most MAX_LOG_LABELS; [] when not even half steps give two (a range too narrow for a log axis to matter)."""
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    for mantissas in LOG_MANTISSAS:
        ticks = [m * 10.0 ** e for e in decades for m in mantissas if low <= m * 10.0 ** e <= high]
        if len(ticks) >= 2:
            return ticks[::math.ceil(len(ticks) / MAX_LOG_LABELS)]
    return []


def short_number(value: float) -> str:
    """'3e-3', '1e-2', '2.5e-4': a log axis's label in the fewest characters."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _log_axis(ax) -> None:
    """A log x axis with a few labelled ticks: matplotlib labels the minor ticks of a range under a decade in
    wide 7×10⁻³ notation, which runs together."""
    from matplotlib.ticker import NullFormatter
    ax.set_xscale("log")
    ticks = log_ticks(*ax.get_xlim())
    if ticks:
        ax.set_xticks(ticks, [short_number(t) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _plot_importance(importances: dict, label: str, title: str, trials: int, path: Path) -> Path:
    """Each hyperparameter's share of the score's variance, with its bootstrap interval as whiskers."""
    import matplotlib.pyplot as plt
    names = list(importances)[::-1]
    shares = np.array([importances[n][0] for n in names])
    bounds = np.array([importances[n][1:] for n in names])
    errors = np.clip(np.stack([shares - bounds[:, 0], bounds[:, 1] - shares]), 0, None)
    fig, ax = plt.subplots(figsize=(6, 0.8 + 0.4 * len(names)))
    ax.barh(names, shares, xerr=errors, capsize=3, color="C0", ecolor="0.3")
    ax.set_xlabel(f"share of the variance of {label} (fANOVA); whiskers: "
                  f"{INTERVAL[0]}th-{INTERVAL[1]}th percentile over {BOOTSTRAP_ROUNDS} resamplings of the trials")
    ax.set_title(f"{title}: which hyperparameters mattered ({trials} trials)")
    save_png(fig, path)
    return path
