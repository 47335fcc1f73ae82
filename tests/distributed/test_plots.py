"""A finished search's pictures without Ray (distributed/plots.py): panels, time unit, fANOVA's bootstrap
interval."""
import random

import numpy as np
import pandas as pd
import pytest

from bert_hpo_distributed.plots import (BOOTSTRAP_ROUNDS, MAX_LOG_LABELS, importance, log_ticks, short_number,
                                        time_unit, write_plots)
from bert_hpo_distributed.spec.load import load_spec


def scored_trials(spec, n, seed=0):
    """n finished trials of `spec`, best first, half of them boost (which ignores lr_main)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        config = {"lr": 10 ** rng.uniform(-2.5, -1.6), "lr_main": 10 ** rng.uniform(-3.5, -2.6), "max_length": 64,
                  "dropout_p": rng.uniform(0, 0.2), "gradient_accumulation_steps": 1,
                  "mode": "boost" if i % 2 else "finetune"}
        score = 0.5 + 0.3 * (config["lr"] > 0.01) + rng.uniform(0, 0.05)
        rows.append({"trial": f"trial_{i}", "status": ["completed", "pruned (asha)", "early stop (patience)"][i % 3],
                     **config, "best_valid_accuracy": score, "best_epoch": 1.0, "started": 100.0 + 20 * i,
                     "ended": 115.0 + 20 * i, "config": config})
    return pd.DataFrame(rows).sort_values("best_valid_accuracy", ascending=False).reset_index(drop=True)


@pytest.fixture(scope="module")
def spec():
    return load_spec("imdb", profile=["smoke"])


@pytest.mark.parametrize("seconds, unit", [(90, "s"), (600, "min"), (4 * 3600, "h")])
def test_time_axis_unit_fits_the_span(seconds, unit):
    assert time_unit(seconds)[1] == unit


def test_plots_draw_only_what_varies_and_is_used(spec, tmp_path, monkeypatch):
    import matplotlib.figure
    labels = []
    save = matplotlib.figure.Figure.savefig

    def record(fig, *args, **kwargs):
        labels.append([ax.get_xlabel() for ax in fig.axes if ax.axison])
        return save(fig, *args, **kwargs)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    scored = scored_trials(spec, 6)
    written = write_plots(scored, spec, tmp_path, {}, "t", prepared_s=30.0)
    assert set(written) == {"plot (over time)", "plot (hyperparameters)"}
    over_time, panels = labels
    assert over_time[0].startswith("s since the search started")  # 30 s of inputs + 115 s of trials: seconds
    names = [label.split(" ")[0] for label in panels]
    # max_length and gradient_accumulation_steps are the same in every trial: no panel
    assert names == ["lr", "lr_main", "dropout_p", "mode"]
    assert "3 trial(s) with a frozen encoder left out" in panels[1]


def test_importance_comes_with_a_bootstrap_interval(spec):
    shares = importance(scored_trials(spec, 12), spec)
    assert set(shares) >= {"lr", "dropout_p"}
    share, low, high = shares["lr"]
    assert 0 <= low < high <= 1 and 0 <= share <= 1  # resampling 12 trials moves the share: a real interval
    assert share > shares["dropout_p"][0]  # the score follows lr only
    assert BOOTSTRAP_ROUNDS >= 20
    assert importance(scored_trials(spec, 7), spec) == {}  # too few trials: withheld


def drawn_figures(monkeypatch) -> list:
    """The figures write_plots saves, kept open (and not written) so that a test can draw and read them."""
    import matplotlib.figure
    figures = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *args, **kwargs: figures.append(fig))
    return figures


@pytest.mark.parametrize("low, high", [(3e-3, 3e-2), (7e-3, 1.2e-2), (8e-4, 1e-3), (1e-6, 1e-1), (2e-5, 5e-5)])
def test_a_log_axis_labels_a_few_ticks_that_do_not_overlap(spec, tmp_path, monkeypatch, low, high):
    figures = drawn_figures(monkeypatch)
    scored = scored_trials(spec, 6)
    scored["lr"] = np.geomspace(low, high, len(scored))
    scored["config"] = [{**config, "lr": lr} for config, lr in zip(scored["config"], scored["lr"])]
    write_plots(scored, spec, tmp_path, {}, "t")
    fig = figures[1]
    ax = next(ax for ax in fig.axes if ax.get_xlabel() == "lr")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(fig)  # the figure is closed once saved: drawn again here
    canvas.draw()
    renderer, inside = canvas.get_renderer(), ax.get_window_extent()
    boxes = sorted((label.get_window_extent(renderer) for label in ax.get_xticklabels() + ax.get_xticklabels(minor=True)
                    if label.get_visible() and label.get_text() and inside.x0 <= label.get_window_extent(renderer).x1
                    and label.get_window_extent(renderer).x0 <= inside.x1), key=lambda box: box.x0)
    assert 2 <= len(boxes) <= MAX_LOG_LABELS
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:]))


@pytest.mark.parametrize("low, high, ticks", [(3e-3, 3e-2, ["3e-3", "1e-2", "3e-2"]), (1e-6, 1e-1, ["1e-6", "1e-4", "1e-2"]),
                                              (1.5e-3, 2.5e-3, ["1.5e-3", "2e-3", "2.5e-3"])])
def test_log_ticks_take_the_coarsest_steps_that_give_two(low, high, ticks):
    assert [short_number(t) for t in log_ticks(low, high)] == ticks


@pytest.mark.parametrize("prepared_s, named", [(0.0, False), (0.3, False), (30.0, True)])
def test_a_phase_that_took_no_time_is_not_in_the_legend(spec, tmp_path, monkeypatch, prepared_s, named):
    figures = drawn_figures(monkeypatch)
    write_plots(scored_trials(spec, 6), spec, tmp_path, {}, "t", prepared_s=prepared_s)
    legend = [text.get_text() for text in figures[0].axes[0].get_legend().get_texts()]
    assert any(name.startswith("preparing inputs") for name in legend) == named
