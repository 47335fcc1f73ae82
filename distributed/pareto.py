"""The Pareto front of a search that measured inference costs: the trials no other trial beats on every
objective at once (the score and the measured costs), as results.md's table and pareto.png."""
from pathlib import Path
from typing import List, Optional, Tuple

from bertclf.cost import COSTS, said_limits
from bertclf.results_table import markdown_table

from .plots import save_png

# what the front weighs when the spec names no cost objective (constraints alone): speed and size
DEFAULT_COSTS = ("latency_ms", "model_mb")


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
    """results.md's section on the front: each member's score, cost and sampled configuration."""
    keys = list(spec.space)
    rows = [[r["trial"], f"{r[spec.score_key]:.4f}", f"{r['latency_ms']:.3g} ({r['latency_p95_ms']:.3g})",
             f"{r['throughput']:.4g}", f"{r['model_mb']:.3g} ({r['model_mb_int8']:.3g})",
             *(_value(r[k]) for k in keys)] for r in front.to_dict("records")]
    weighed = ", ".join(key.removeprefix("best_") for key, _ in front_axes(spec))
    limits = f" Every trial met the constraints ({said_limits(spec.constraints)})." if spec.constraints else ""
    return (f"\n## Pareto front\n\nThe {len(front)} trial(s) that no other trial beats on {weighed} at once; the "
            f"costs measured on {hardware} with onnxruntime, on an untrained model of each architecture (a "
            f"network's cost does not depend on its weights).{limits} Plot: pareto.png.\n\n"
            + markdown_table(["trial", spec.metric, "latency ms (p95)", "examples/s at 64", "ONNX MB (int8)", *keys],
                             rows))


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
