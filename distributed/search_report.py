"""A finished search's outputs: results.md (best first), results.csv (every trial), best_model/,
the best configuration's score on the untouched test split, and plots. All written atomically."""
import json
import math
import os
import shutil
from pathlib import Path

from bertclf.atomic import atomic_path, write_text
from bertclf.predict import score_file, score_qa_file
from bertclf.results_table import METRIC_COLUMNS, csv_text, markdown_table, seed_columns, seed_row

from .search_space import expand


def _trial_rows(grid, spec, base):
    rows = []
    n_epochs = int(base.get("n_epochs", 4))
    for result in grid:
        m = result.metrics or {}
        sampled = {k: v for k, v in (result.config or {}).items() if k in spec["space"]}
        values = {**base, **expand(sampled)}
        epochs = int(m.get("training_iteration", 0) or 0)
        if result.error is not None:
            status = "error"
        elif epochs < n_epochs and m.get("best_epoch") is not None and \
                not (values.get("early_stop", -1) > 0 and epochs - m["best_epoch"] >= values["early_stop"]):
            status = "stopped early (ASHA)"
        elif epochs < n_epochs:
            status = "early stop"
        else:
            status = "completed"
        rows.append({"trial": Path(result.path).name if result.path else "?", "status": status,
                     "error": str(result.error).splitlines()[-1][:300] if result.error else "",
                     "sampled": sampled, "values": values, "metrics": m, "epochs": epochs,
                     "result": result})
    key = f"best_{spec['metric']}"
    ok = [r for r in rows if r["metrics"].get(key) is not None]
    ok.sort(key=lambda r: (-r["metrics"][key], r["metrics"]["best_valid_loss"]))
    return ok + [r for r in rows if r not in ok]


def _best_checkpoint(result, metric):
    """The checkpoint of the trial's best epoch (the latest where Ray kept no scored list, e.g.
    after a restore on another node). A trial that drove a TorchTrainer has no Tune checkpoint:
    Ray Train stored them and reported each one's path as `checkpoint_path`."""
    from ray.tune import Checkpoint
    try:
        checkpoint = result.get_best_checkpoint(metric, "max")
    except RuntimeError:
        checkpoint = None
    checkpoint = checkpoint or result.checkpoint
    frame = result.metrics_dataframe
    if checkpoint is None and frame is not None and "checkpoint_path" in frame:
        rows = frame.dropna(subset=["checkpoint_path"])
        for path in (rows.loc[rows[metric].idxmax(), "checkpoint_path"], rows["checkpoint_path"].iloc[-1]):
            if "://" in path or Path(path).exists():  # Train keeps the best and the latest
                return Checkpoint(path)
    return checkpoint


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 else f"{value:.4g}"
    return str(value)


def write_outputs(grid, spec, base, out_dir: Path, test_path, wall_seconds: float, data_note: str = "") -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    kind, metric = base["task"], spec["metric"]
    best_key = f"best_{metric}"
    metric_keys = [k for _, k, _ in METRIC_COLUMNS[kind]]
    rows = _trial_rows(grid, spec, base)
    hp = list(spec["space"])
    scored = [r for r in rows if r["metrics"].get(best_key) is not None]

    md_rows = []
    for r in scored:
        m, v = r["metrics"], r["values"]
        best = {"epoch": m["best_epoch"], "train_loss": m["best_train_loss"], "valid_loss": m["best_valid_loss"],
                **{k: m[f"best_{k}"] for k in metric_keys}}
        md_rows.append(seed_row(kind, v.get("bert_finetuning", True), v.get("max_length", 256), best)
                       + [_fmt(r["sampled"].get(k)) for k in hp] + [r["status"]])
    written = {}
    stamps = [(r["metrics"]["timestamp"] - r["metrics"].get("time_total_s", 0), r["metrics"]["timestamp"])
              for r in rows if r["metrics"].get("timestamp")]
    span = max(e for _, e in stamps) - min(b for b, _ in stamps) if stamps else wall_seconds
    lines = [f"# Search {out_dir.name}: {spec['dataset']}, {base.get('bert_name')}\n",
             f"{len(rows)} trials in {span:.0f} s from the first trial's start to the last one's end. Valid = held out of train "
             f"({base.get('valid_fraction', 0.1):.0%}, stratified); each trial scored on its best epoch "
             f"({metric}).{(' ' + data_note) if data_note else ''}\n",
             markdown_table(seed_columns(kind) + hp + ["status"], md_rows)]

    csv_columns = (["trial", "status", "epochs_run"] + hp + ["best_epoch", "best_train_loss", "best_valid_loss"]
                   + [f"best_{k}" for k in metric_keys]
                   + [f"last_{metric}", "train_samples_per_s", "time_total_s", "error"])
    csv_rows = []
    for r in rows:
        m = r["metrics"]
        csv_rows.append([r["trial"], r["status"], r["epochs"]] + [r["sampled"].get(k, "") for k in hp]
                        + [m.get(k, "") for k in ("best_epoch", "best_train_loss", "best_valid_loss")]
                        + [m.get(f"best_{k}", "") for k in metric_keys]
                        + [m.get(metric, ""), m.get("train_samples_per_s", ""), m.get("time_total_s", ""),
                           r["error"]])
    write_text(out_dir / "results.csv", csv_text(csv_columns, csv_rows))
    written["results.csv"] = out_dir / "results.csv"

    test = None
    if scored:
        best = scored[0]
        checkpoint = _best_checkpoint(best["result"], metric)
        target = out_dir / "best_model"
        staging = out_dir / f".best_model.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        with checkpoint.as_directory() as folder:
            shutil.copytree(folder, staging, ignore=shutil.ignore_patterns("trainer_state.pt"))
        (staging / "search_config.json").write_text(json.dumps(
            {"trial": best["trial"], "sampled": best["sampled"], "train_options": best["values"]},
            indent=2, default=str), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        written["best_model"] = target
        if test_path:
            import torch
            scorer = score_qa_file if kind == "qa" else score_file
            test = scorer(target, test_path, max_examples=spec["max_test_samples"],
                          batch_size=int(base.get("eval_batch_size", 64)),
                          device="cuda" if torch.cuda.is_available() else "cpu")
            shown = (f"test EM {test['exact_match']:.2f} / F1 {test['f1']:.2f}" if kind == "qa"
                     else f"test accuracy {test['accuracy']:.4f}")
            lines.append(f"\nBest configuration ({best['trial']}) re-scored on the untouched test split "
                         f"({test['examples']} examples of {Path(test_path).name}"
                         f"{', a seeded subset' if spec['max_test_samples'] else ''}): **{shown}** "
                         f"({metric.replace('_', ' ')} {best['metrics'][best_key]:.4f}).\n")
    errors = [r for r in rows if r["status"] == "error"]
    if errors:
        lines.append("\nFailed trials: " + "; ".join(f"{r['trial']}: {r['error']}" for r in errors) + "\n")
    write_text(out_dir / "results.md", "\n".join(lines))
    written["results.md"] = out_dir / "results.md"
    written.update(_plots(scored, hp, spec, out_dir))
    return {"trials": len(rows), "completed": sum(r["status"] == "completed" for r in rows),
            "early_stopped": sum(r["status"].startswith("stopped early") for r in rows),
            "errors": len(errors), "best": scored[0]["sampled"] if scored else None,
            f"best_{metric}": scored[0]["metrics"][best_key] if scored else None,
            "test": test, "written": {k: str(v) for k, v in written.items()}}


def _plots(scored, hp, spec, out_dir: Path) -> dict:
    if not scored:
        return {}
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = sorted(scored, key=lambda r: r["metrics"].get("timestamp", 0))
    t0 = min(r["metrics"].get("timestamp", 0) - r["metrics"].get("time_total_s", 0) for r in done)
    xs = [(r["metrics"].get("timestamp", 0) - t0) / 60 for r in done]
    metric = spec["metric"]
    ys = [r["metrics"][f"best_{metric}"] for r in done]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(xs, ys, label="trial (best epoch)")
    ax.step(xs, [max(ys[:i + 1]) for i in range(len(ys))], where="post", color="C1", label="best so far")
    ax.set_xlabel("minutes since the search started (trial end)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend()
    ax.set_title(f"{out_dir.name}: {metric.replace('_', ' ')} by trial")
    written = {}
    with atomic_path(out_dir / "trials_over_time.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    written["plot (over time)"] = out_dir / "trials_over_time.png"
    if hp:
        cols = min(3, len(hp))
        fig, axes = plt.subplots(math.ceil(len(hp) / cols), cols, figsize=(4 * cols, 3.2 * math.ceil(len(hp) / cols)),
                                 squeeze=False)
        for ax, key in zip(axes.flat, hp):
            values = [r["sampled"].get(key) for r in scored]
            accs = [r["metrics"][f"best_{metric}"] for r in scored]
            if "choice" in spec["space"][key]:
                labels = [str(c) for c in spec["space"][key]["choice"]]
                ax.scatter([labels.index(str(v)) for v in values], accs)
                ax.set_xticks(range(len(labels)), labels)
            else:
                ax.scatter(values, accs)
                if "loguniform" in spec["space"][key]:
                    ax.set_xscale("log")
            ax.set_xlabel(key)
            ax.set_ylabel(metric.replace("_", " "))
        for ax in list(axes.flat)[len(hp):]:
            ax.axis("off")
        fig.tight_layout()
        with atomic_path(out_dir / "hyperparameters.png") as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        plt.close(fig)
        written["plot (hyperparameters)"] = out_dir / "hyperparameters.png"
    return written
