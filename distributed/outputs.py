"""A finished search's outputs, all written atomically: results.csv (every trial), results.md (the
seed's table, best first, the test score, the refit), best_model/ (and refit_model/), plots; copied
to the storage path when that is elsewhere. A search in which every trial failed writes results.csv
and results.md with the errors, then fails."""
import json
import os
import shutil
from pathlib import Path

from bertclf.atomic import write_text
from bertclf.checkpoint import export_model
from bertclf.results_table import csv_text, markdown_table, seed_columns, seed_row
from bertclf.tasks import describe_test, task_kind

from .plots import importance, write_plots
from .results import best_checkpoint, trial_table


class SearchFailed(Exception):
    """Every trial failed: there is no result to show."""


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 else f"{value:.4g}"
    return str(value)


def _export(checkpoint, target: Path, extra: dict) -> Path:
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    with checkpoint.as_directory() as folder:
        export_model(folder, staging)
    (staging / "search_config.json").write_text(json.dumps(extra, indent=2, default=str), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


def write_outputs(plan, grid, shared, say) -> dict:
    from .refit import refit_config, run_refit
    from .scoring import score_on_test
    spec, out_dir = plan.spec, plan.out_dir
    kind, score = task_kind(spec.task), f"best_{spec.metric}"
    out_dir.mkdir(parents=True, exist_ok=True)
    table = trial_table(grid, spec)
    hp = list(spec.space)
    metric_keys = [key for _, key, _ in kind.columns]
    csv_columns = (["trial", "status", "epochs_run"] + hp + ["best_epoch", "best_train_loss", "best_valid_loss"]
                   + [f"best_{k}" for k in metric_keys] + [f"last_{spec.metric}", "train_samples_per_s",
                                                           "time_total_s", "error"])
    csv_rows = [[row["trial"], row["status"], row["epochs_run"]] + [row[k] for k in hp]
                + [row[k] for k in ("best_epoch", "best_train_loss", "best_valid_loss")]
                + [row[f"best_{k}"] for k in metric_keys]
                + [row[spec.metric], row["train_samples_per_s"], row["time_total_s"], row["error"]]
                for row in table.to_dict("records")]
    write_text(out_dir / "results.csv", csv_text(csv_columns, [[_csv(v) for v in r] for r in csv_rows]))
    written = {"results.csv": out_dir / "results.csv"}
    scored = table[table[score].notna()] if score in table else table.iloc[0:0]
    counts = table["status"].value_counts().to_dict()
    errors = table[table["status"] == "error"]
    failures = "".join(f"\n- {r['trial']}: {r['error']}" for r in errors.to_dict("records"))
    header = (f"# Search {plan.name}: {spec.dataset}, {spec.trial_config(spec.default_point()).bert_name}\n\n"
              f"{len(table)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".")
    if scored.empty:
        write_text(out_dir / "results.md", header + f"\n\nEvery trial failed:{failures}\n")
        first = errors.iloc[0]
        raise SearchFailed(f"all {len(table)} trials failed; the first: {first['error']} "
                           f"(log: {first['result'].path}/error.txt); every error is in {out_dir / 'results.csv'}")

    best = scored.iloc[0]
    sampled = {k: best["result"].config[k] for k in hp}  # the trial's own values (a table holds numpy types)
    checkpoint = best_checkpoint(best["result"], spec.metric)
    written["best_model"] = _export(checkpoint, out_dir / "best_model", {
        "trial": best["trial"], "sampled": sampled, "train_options": spec.trial_config(sampled).to_dict()})
    lines = [header + f" Valid = {_valid_text(spec)}; each trial is scored on its best check ({spec.metric}); "
             f"the trials ran in {_span(scored):.0f} s from the first start to the last end."
             + (f" {plan.data_note}" if plan.data_note else "") + "\n",
             markdown_table(seed_columns(spec.task) + hp + ["status"], [
                 seed_row(spec.task, spec.trial_config(r["result"].config).bert_finetuning,
                          spec.trial_config(r["result"].config).max_length, _best_of(r, metric_keys))
                 + [_fmt(r[k]) for k in hp] + [r["status"]] for r in scored.to_dict("records")])]
    summary = {"trials": len(table), "statuses": counts, "errors": len(errors), "best": sampled,
               f"best_{spec.metric}": float(best[score]), "test": None, "refit": None}

    if plan.test_path:
        test = score_on_test(plan, checkpoint, written["best_model"], shared)
        summary["test"] = test
        lines.append(f"\nBest configuration ({best['trial']}) re-scored once on the untouched test split "
                     f"({test['examples']} examples of {Path(test['path']).name}"
                     f"{', a seeded subset' if test['subset'] else ''}): **{describe_test(kind, test)}** "
                     f"({spec.metric.replace('_', ' ')} {best[score]:.4f}).\n")
        say(f"best trial {best['trial']}: {spec.metric.replace('_', ' ')} {best[score]:.4f}, {describe_test(kind, test)}")

    if spec.refit:
        config = refit_config(spec, sampled, float(best["best_epoch"]))
        refit_checkpoint = run_refit(plan, config, shared, say)
        written["refit_model"] = _export(refit_checkpoint, out_dir / "refit_model", {
            "refit_of": best["trial"], "sampled": sampled, "train_options": config.to_dict()})
        line = f"Refit of the best configuration on all of train for {config.n_epochs} epoch(s)"
        summary["refit"] = {"epochs": config.n_epochs}
        if plan.test_path:
            refit_test = score_on_test(plan, refit_checkpoint, written["refit_model"], shared)
            summary["refit"]["test"] = refit_test
            line += (f": **{describe_test(kind, refit_test)}** on the same {refit_test['examples']} test examples "
                     f"(the best trial's model: {describe_test(kind, summary['test'])})")
            say(f"refit: {describe_test(kind, refit_test)}")
        lines.append(f"\n{line}.\n")

    importances = importance(scored, spec)
    if importances:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in importances.items())
        lines.append(f"\nWhich hyperparameters mattered (fANOVA over {len(scored)} trials, share of the variance of "
                     f"{spec.metric.replace('_', ' ')}): {shown}.\n")
    summary["importance"] = importances
    if failures:
        lines.append(f"\nFailed trials:{failures}\n")
    write_text(out_dir / "results.md", "\n".join(lines))
    written["results.md"] = out_dir / "results.md"
    written.update(write_plots(scored, spec, out_dir, importances, plan.name))
    if plan.storage != str(out_dir):
        _copy_to_storage(out_dir, plan.storage, written)
    summary["written"] = {k: str(v) for k, v in written.items()}
    return summary


def _csv(value):
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value


def _valid_text(spec) -> str:
    config = spec.trial_config(spec.default_point())
    if config.valid_path:
        return f"{Path(config.valid_path).name}"
    return f"{config.valid_fraction:.0%} held out of train"


def _span(scored) -> float:
    return float(scored["ended"].max() - scored["started"].min()) if len(scored) else 0.0


def _best_of(row, metric_keys) -> dict:
    return {"epoch": row["best_epoch"], "train_loss": row["best_train_loss"], "valid_loss": row["best_valid_loss"],
            **{k: row[f"best_{k}"] for k in metric_keys}}


def _copy_to_storage(out_dir: Path, storage: str, written: dict) -> None:
    """The outputs beside the trials, where every node (and the user) can reach them."""
    import pyarrow.fs as pafs
    filesystem, root = pafs.FileSystem.from_uri(storage) if "://" in storage else (pafs.LocalFileSystem(), storage)
    for path in written.values():
        path = Path(path)
        target = f"{root.rstrip('/')}/{path.name}"
        if path.is_dir():
            pafs.copy_files(str(path), target, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=filesystem)
        else:
            filesystem.create_dir(root, recursive=True)
            with open(path, "rb") as src, filesystem.open_output_stream(target) as dst:
                dst.write(src.read())

