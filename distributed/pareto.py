"""The Pareto front of a search that measured inference costs: the trials no other trial beats on every
objective at once (the score and the measured costs), as results.md's table (with each member's scores
as served, where write_front measured them, and a verdict on speed against accuracy) and pareto.png."""
from pathlib import Path
from typing import List, Optional, Tuple

from bertclf.cost import COSTS, said_limits
from bertclf.results_table import markdown_table
from bertclf.tasks.task import metric_test_key

from .plots import save_png
from .scoring import served_columns

# what the front weighs when the spec names no cost objective (constraints alone): speed and size
DEFAULT_COSTS = ("latency_ms", "model_mb")
POINT = 0.01  # of a metric: "within 1 point" of accuracy


def front_axes(spec) -> List[Tuple[str, str]]:
    """(column, "max" or "min") of each objective the front weighs: the score first."""
    costs = spec.cost_objectives or DEFAULT_COSTS
    return [(spec.score_key, spec.mode), *((name, COSTS[name]) for name in costs)]


def pareto_front(scored, spec):
    """The rows of `scored` (with their cost columns) that no other row dominates (at least as good on
    every axis, better on one), in scored's order."""
    axes = front_axes(spec)
    points = [[float(row[key]) * (1 if mode == "max" else -1) for key, mode in axes]
              for row in scored.to_dict("records")]
    kept = [i for i, p in enumerate(points)
            if not any(all(q[k] >= p[k] for k in range(len(p))) and q != p for q in points)]
    return scored.iloc[kept]


def front_section(spec, front, hardware: str) -> str:
    """results.md's section on the front: each member's score, as served where it was scored so (served_columns:
    valid and test), cost and sampled configuration, and the verdict on speed against test accuracy."""
    keys = list(spec.space)
    served = "served" in front
    rows = [[r["trial"], f"{r[spec.score_key]:.4f}", *(_served_cells(r, spec.metric) if served else ()),
             f"{r['latency_ms']:.3g} ({r['latency_p95_ms']:.3g})", f"{r['throughput']:.4g}",
             f"{r['model_mb']:.3g} ({r['model_mb_int8']:.3g})", *(_value(r[k]) for k in keys)]
            for r in front.to_dict("records")]
    weighed = ", ".join(key.removeprefix("best_") for key, _ in front_axes(spec))
    limits = f" Every trial met the constraints ({said_limits(spec.constraints)})." if spec.constraints else ""
    how = (" Each member's model was exported and its ONNX copy (the int8 file of an int8 member whose copy stayed "
           "within --int8-tolerance, else fp32) scored in onnxruntime on valid and on test: `valid (as served)` "
           "and `test`; an int8 member shows its fp32 copy's valid score in brackets." if served else "")
    line = verdict(front, spec)
    return (f"\n## Pareto front\n\nThe {len(front)} trial(s) that no other trial beats on {weighed} at once; the "
            f"costs measured on {hardware} with onnxruntime, on an untrained model of each architecture (a "
            f"network's cost does not depend on its weights).{limits}{how} Plot: pareto.png.\n\n"
            + markdown_table(["trial", spec.metric, *(("valid (as served)", "test") if served else ()),
                              "latency ms (p95)", "examples/s at 64", "ONNX MB fp32 (int8 copy)", *keys], rows)
            + (f"\n{line}\n" if line else ""))


def _served_cells(row: dict, metric: str) -> list:
    """A member's `valid (as served)` and `test` cells: '0.8590 int8 (fp32 0.8610)', '0.8610 fp32 (int8
    0.8400, not kept)', '0.8610'; '' where it was not scored as served."""
    copy, valid, test, fp32, int8 = (row.get(c) for c in served_columns(metric))
    if not isinstance(copy, str):
        return ["", ""]
    shown = f"{valid:.4f}"
    if copy == "int8":
        shown += f" int8 (fp32 {fp32:.4f})"
    elif _present(int8):
        shown += f" fp32 (int8 {int8:.4f}, not kept)"
    return [shown, f"{test:.4f}" if _present(test) else ""]


def verdict(front, spec) -> str:
    """One sentence on the front (its served_columns): the fastest member within 1 point (POINT) of the most
    accurate member's test metric (valid as served without a test split), and its speed-up in latency; ""
    where latency is not one of the front's axes or no member was scored as served."""
    copy, valid_key, test_key = served_columns(spec.metric)[:3]
    if "latency_ms" not in dict(front_axes(spec)) or copy not in front or front[valid_key].isna().all():
        return ""
    split, key = ("test", test_key) if front[test_key].notna().any() else ("valid", valid_key)
    scored = front[front[key].notna()]
    sign = 1 if spec.mode == "max" else -1
    best = scored.loc[(scored[key] * sign).idxmax()]
    faster = scored[scored["latency_ms"] < best["latency_ms"]]
    name = f"{split} {metric_test_key(spec.metric).replace('_', ' ')}"
    if faster.empty:
        return (f"The most accurate member by {name}, {best['trial']} ({best[key]:.4f}), is also the fastest "
                f"({best['latency_ms']:.3g} ms).")
    within = faster[sign * (best[key] - faster[key]) <= POINT + 1e-9]

    def versus(row) -> str:
        return (f"{row['trial']}, {best['latency_ms'] / row['latency_ms']:.1f}x faster ({row['latency_ms']:.3g} ms vs "
                f"{best['latency_ms']:.3g} ms), {split} {row[key]:.4f} vs {best[key]:.4f} ({best['trial']})")
    if not within.empty:
        fastest = within.loc[within["latency_ms"].idxmin()]
        return f"Fastest within 1 point of the most accurate member's {name}: {versus(fastest)}."
    return (f"None faster than the most accurate member by {name} is within 1 point of it; the closest: "
            f"{versus(faster.loc[(faster[key] * sign).idxmax()])}.")


def _present(value) -> bool:
    return value is not None and value == value


def pareto_png(scored, front, spec, path: Path, title: str) -> Optional[Path]:
    """Every scored trial by its first cost objective (else its first constrained cost, else latency) and
    its score, the front highlighted, the constraint on that cost drawn as a line."""
    try:
        import matplotlib
    except ImportError:  # a bare machine; the search extra installs it
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cost = spec.cost_objectives[0] if spec.cost_objectives else next(iter(spec.constraints), "latency_ms")
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter(scored[cost], scored[spec.score_key], color="C7", label="trials")
    line = front.sort_values(cost)
    ax.plot(line[cost], line[spec.score_key], "o-", color="C3", label="Pareto front")
    if cost in spec.constraints:
        ax.axvline(spec.constraints[cost], color="C1", linestyle="--", label=f"constraint {cost} {spec.constraints[cost]:g}")
    ax.set_xlabel(cost.replace("_", " ") if cost != "latency_ms" else "latency per example (ms, batch 1)")
    ax.set_ylabel(spec.metric.replace("_", " "))
    ax.set_title(title)
    ax.legend()
    save_png(fig, path)
    return path


def _value(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
