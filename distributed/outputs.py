"""A finished search's outputs, all written atomically: results.csv (every trial), results.md (the
results table, best first, the test score, then the refit's), best_model/ (and refit_model/), plots;
copied to the storage path when that is elsewhere. A search in which every trial failed writes
results.csv and results.md with the errors, then fails. Nothing here trains: refit.py runs the refit
and hands its model back to `write_refit`."""
import json
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import List, Optional

from bertclf.atomic import atomic_folder, write_text
from bertclf.checkpoint import export_model
from bertclf.cost import COLUMNS
from bertclf.folds import STD
from bertclf.results_table import RUN_COLUMNS, csv_text, markdown_table, metric_columns, run_columns, run_row
from bertclf.tasks import task_named

from .class_report import confusion_png, scores_markdown
from .costs import served_cost, with_costs
from .model_card import publish_member, publish_models, served_here
from .pareto import front_section, pareto_front, pareto_png, verdict
from .plots import describe_importance, importance, write_plots
from .repeats import mean_std
from .results import best_checkpoint, fold_columns, trial_table
from .scoring import score_on_test, served_columns


class SearchFailed(Exception):
    """Every trial failed: there is no result to show."""


@dataclass
class SearchOutputs:
    """What write_outputs wrote, and what the refit and the summary need of it."""
    table: object  # pandas.DataFrame of every trial (results.trial_table)
    scored: object  # its rows with a score, best first
    sampled: dict  # the best configuration's searched values (with repeats: the winner's)
    best_epoch: float  # best_model's best check, in epochs
    best_trial: str  # the search's trial of the best configuration
    best_model_from: str  # where best_model/ came from: that trial, or its repeat with a train_seed
    best_valid: float  # best_model's valid score
    test: Optional[dict]  # the best model's test scores (score_on_test), or None without a test split
    importances: dict  # fANOVA share of each hyperparameter (empty under 8 trials)
    written: dict  # name -> path
    repeated: List = ()  # the seed repeats (repeats.Repeated), best mean first
    refit: Optional[dict] = None  # {"epochs", "test"} once write_refit has run
    data: str = ""  # what the prepared inputs held (inputs.describe_groups; "" when none were prepared)
    costs: object = None  # the measured inference costs (costs.SearchCosts), or None
    front: object = None  # the Pareto front's rows of `scored` (pareto.pareto_front) where costs were measured

    def summary(self, metric: str) -> dict:
        score = f"best_{metric}"
        return {"trials": len(self.table), "statuses": self.table["status"].value_counts().to_dict(),
                "errors": int((self.table["status"] == "error").sum()), "best": self.sampled,
                score: float(self.scored.iloc[0][score]), "test": self.test, "refit": self.refit,
                "importance": self.importances, "written": {k: str(v) for k, v in self.written.items()}}


def write_outputs(plan, grid, shared, say, repeated=(), data: str = "", input_seconds: float = 0.0,
                  costs=None) -> SearchOutputs:
    """repeated: the seed repeats (repeats.Repeated, best mean first); with them the winner is the
    best mean, best_model/ is its run with the best valid score, and results.md shows every mean ± std.
    data: what the prepared inputs held; input_seconds: the time it took to prepare them. costs: the
    measured inference costs (costs.SearchCosts): every row gets them, the best is the best feasible
    trial, and results.md the Pareto front."""
    spec, out_dir = plan.spec, plan.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    table = trial_table(grid, spec)
    if costs:
        table = with_costs(table, spec, costs)
    written = {"results.csv": write_trials_csv(table, spec, out_dir)}
    score = f"best_{spec.metric}"
    scored = table[table[score].notna()] if score in table else table.iloc[0:0]
    if costs:  # a trial that breaks the constraints never becomes the best (none is trained: costs.py)
        scored = scored[scored["feasible"]]
    if scored.empty:
        write_text(out_dir / "results.md", header(plan, table) + f"\n\nEvery trial failed:{failures(table)}\n")
        first = table[table["status"] == "error"].iloc[0]
        raise SearchFailed(f"all {len(table)} trials failed; the first: {first['error']} "
                           f"(log: {first['result'].path}/error.txt); every error is in {out_dir / 'results.csv'}")
    best = scored.iloc[0]
    sampled = {k: best["config"][k] for k in spec.space}  # the trial's own values (a table holds numpy's)
    checkpoint = best_checkpoint(best["result"])
    trial, origin, valid, best_epoch = best["trial"], best["trial"], float(best[score]), float(best["best_epoch"])
    options = spec.trial_config(sampled)
    if repeated:
        winner = repeated[0]
        run = winner.best_run(spec.signed)
        sampled, checkpoint, trial = winner.sampled, winner.checkpoints[run], winner.trial
        origin, valid, best_epoch = f"{winner.trial}, train_seed {winner.seeds[run]}", winner.valid[run], winner.best_epochs[run]
        options = spec.trial_config({**sampled, "train_seed": winner.seeds[run]})
    written["best_model"] = export(plan, checkpoint, out_dir / "best_model", {
        "trial": origin, "sampled": sampled, "train_options": options.to_dict(), **cost_said(costs, options)})
    test = score_on_test(plan, checkpoint, written["best_model"], shared, say) if plan.test_path else None
    if test:
        say(f"best model ({origin}): {spec.metric.replace('_', ' ')} {valid:.4f}, "
            f"{task_named(spec.task).describe_test(test, spec.metric)}")
        png = confusion_png(test, out_dir / "confusion_matrix.png", f"{plan.name}: best model on test")
        if png:
            written["confusion_matrix.png"] = png
    importances = importance(scored, spec)
    outputs = SearchOutputs(table=table, scored=scored, sampled=sampled, best_epoch=best_epoch, best_trial=trial,
                            best_model_from=origin, best_valid=valid, test=test, importances=importances,
                            written=written, repeated=list(repeated), data=data, costs=costs)
    if costs:
        written.update(write_front(plan, outputs, say))
    written["results.md"] = write_results_md(plan, outputs)
    publish_models(plan, {"best_model": written["best_model"]}, outputs, say)
    written.update(write_plots(scored, spec, out_dir, importances, plan.name, input_seconds))
    if plan.storage != str(out_dir):
        copy_to_storage(written, plan.storage)
    return outputs


def write_refit(plan, outputs: SearchOutputs, checkpoint, config, shared, say) -> None:
    """The refit's model as refit_model/, its test score, and results.md again with its line."""
    written = outputs.written
    written["refit_model"] = export(plan, checkpoint, plan.out_dir / "refit_model", {
        "refit_of": outputs.sampled, "train_options": config.to_dict(), **cost_said(outputs.costs, config)})
    outputs.refit = {"epochs": config.n_epochs}
    if plan.test_path:
        outputs.refit["test"] = score_on_test(plan, checkpoint, written["refit_model"], shared, say)
        say(f"refit: {task_named(plan.spec.task).describe_test(outputs.refit['test'], plan.spec.metric)}")
    written["results.md"] = write_results_md(plan, outputs)
    publish_models(plan, {"refit_model": written["refit_model"]}, outputs, say)
    if plan.storage != str(plan.out_dir):
        copy_to_storage({k: written[k] for k in ("refit_model", "results.md")}, plan.storage)


def write_trials_csv(table, spec, out_dir: Path) -> Path:
    metrics = [key for _, key, _ in metric_columns(spec.task, spec.metric)]
    costs = list(COLUMNS) if "feasible" in table else []
    served = [c for c in served_columns(spec.metric) if c in table]  # the front's members (write_front)
    columns = (["trial", "status", "epochs_run", *spec.space, "best_epoch", "best_train_loss", "best_valid_loss"]
               + [f"best_{k}" for k in metrics] + fold_columns(spec)
               + [spec.metric, "train_samples_per_s", "time_total_s", *costs, *served, "error"])
    rows = [[_csv(row[c]) for c in columns] for row in table.to_dict("records")]
    columns[columns.index(spec.metric)] = f"last_{spec.metric}"
    write_text(out_dir / "results.csv", csv_text(columns, rows))
    return out_dir / "results.csv"


def export(plan, checkpoint, target: Path, extra: dict) -> Path:
    """The checkpoint's model, with what the search knows of it, as a model folder (built aside, moved in); a
    LoRA model's base encoder from the folder the search loaded it from (plan.local_folder)."""
    with atomic_folder(target) as staging, checkpoint.as_directory() as folder:
        export_model(folder, staging, plan.local_folder(extra["train_options"]["bert_name"]))
        (staging / "search_config.json").write_text(json.dumps(extra, indent=2, default=str), encoding="utf-8")
    return target


def cost_said(costs, config) -> dict:
    """{"inference_cost": ...}: what a model folder's search_config.json records of its measured cost
    ({} where the search measured none)."""
    if not costs:
        return {}
    return {"inference_cost": {**costs.of(config).values(), "hardware": costs.hardware, "device": costs.device}}


def write_front(plan, outputs: SearchOutputs, say) -> dict:
    """The Pareto front (outputs.front), pareto.png, and each member's model exported and scored as it serves
    (its served_columns in outputs.front, outputs.table and results.csv): in front/TRIAL/ with --export-front,
    else in a folder removed once scored."""
    spec, out_dir = plan.spec, plan.out_dir
    front, written, kept = pareto_front(outputs.scored, spec), {}, plan.opts.export_front
    if kept or served_here(spec):  # a member that is neither kept nor scored needs no export
        with nullcontext(out_dir / "front") if kept else TemporaryDirectory(prefix=".front-", dir=out_dir) as root:
            served = {row["trial"]: publish_member(plan, export_member(plan, outputs, row, Path(root)),
                                                   spec.trial_config(row["config"]), outputs, say, kept)
                      for row in front.to_dict("records")}
        outputs.front, outputs.scored, outputs.table = (with_served(table, served, plan, outputs.costs)
                                                        for table in (front, outputs.scored, outputs.table))
        written["results.csv"] = write_trials_csv(outputs.table, spec, out_dir)
    else:
        outputs.front = front
    # drawn after the members were scored: a member whose int8 copy was not kept at its fp32 cost
    title = f"{plan.name}: the Pareto front\n(costs measured on {outputs.costs.hardware})"
    png = pareto_png(outputs.scored, outputs.front, spec, out_dir / "pareto.png", title)
    if png:
        written["pareto.png"] = png
    line = verdict(outputs.front, spec)
    if line:
        say(f"front: {line[:1].lower()}{line[1:]}")  # a sentence in results.md, a clause after "front:" here
    if kept:
        written["front"] = out_dir / "front"
    return written


def export_member(plan, outputs: SearchOutputs, row: dict, root: Path) -> Path:
    """A front member's model as root/TRIAL/, its search_config.json marked pareto_front."""
    options = plan.spec.trial_config(row["config"])
    return export(plan, best_checkpoint(row["result"]), root / row["trial"], {
        "trial": row["trial"], "sampled": {k: row["config"][k] for k in plan.spec.space}, "pareto_front": True,
        "train_options": options.to_dict(), **cost_said(outputs.costs, options)})


def with_served(table, served: dict, plan, costs):
    """`table` with the served_columns of each trial in `served` (trial -> scoring.Served or None), empty for
    the others, and its cost as served (costs.served_cost: an int8 copy not kept serves fp32); `table` itself
    where none was scored as served."""
    if not any(served.values()):
        return table
    metric, table = plan.spec.metric, table.copy()
    rows = [served[t].columns(metric) if served.get(t) else {} for t in table["trial"]]
    for index, row in zip(table.index, table.to_dict("records")):
        if served.get(row["trial"]):
            cost = served_cost(costs, plan.spec.trial_config(row["config"]), served[row["trial"]].copy).values()
            table.loc[index, list(COLUMNS)] = [cost[column] for column in COLUMNS]
    return table.assign(**{column: [r.get(column) for r in rows] for column in served_columns(metric)})


def header(plan, table) -> str:
    spec = plan.spec
    counts = table["status"].value_counts().to_dict()
    return (f"# Search {plan.name}: {spec.data_label}, {', '.join(spec.models())}\n\n"
            f"{len(table)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".")


def failures(table) -> str:
    return "".join(f"\n- {r['trial']}: {r['error']}" for r in table[table["status"] == "error"].to_dict("records"))


def write_results_md(plan, outputs: SearchOutputs) -> Path:
    spec, kind = plan.spec, task_named(plan.spec.task)
    table, scored, test, refit, importances = (outputs.table, outputs.scored, outputs.test, outputs.refit,
                                               outputs.importances)
    metric_keys = [key for _, key, _ in metric_columns(spec.task, spec.metric)]
    shown = [k for k in spec.space if k != "max_length"]  # the results table's columns show it already
    costs = [("latency ms", "latency_ms", "{:.3g}"), ("examples/s", "throughput", "{:.4g}"),
             ("ONNX MB", "model_mb", "{:.3g}")] if outputs.costs else []
    rows = []
    for r in scored.to_dict("records"):
        config = spec.trial_config(r["config"])
        best = {"epoch": r["best_epoch"], "train_loss": r["best_train_loss"], "valid_loss": r["best_valid_loss"],
                **{k: r[f"best_{k}"] for k in metric_keys}}
        row = run_row(spec.task, config.bert_finetuning, config.max_length, best, spec.metric)
        if spec.cv_folds:  # the score's cell: mean ± std over the folds
            cell = len(RUN_COLUMNS) + metric_keys.index(spec.metric)
            row[cell] = fold_cell(row[cell], r, spec)
        rows.append(row + [_fmt(r[k]) for k in shown] + [form.format(r[key]) for _, key, form in costs]
                    + [r["status"]])
    span = float(scored["ended"].max() - scored["started"].min())
    scored_on = (f"the mean over its {spec.cv_folds} folds of each fold's best check ({spec.metric}; ± the "
                 f"standard deviation over the folds; a trial pruned early shows the folds it finished); best_model/ "
                 f"is its last fold's model" if spec.cv_folds else f"its best check ({spec.metric})")
    lines = [header(plan, table) + f" {_data_text(plan, outputs.data)}; each trial is scored on {scored_on}; the "
             f"trials ran in {span:.0f} s from the first start to the last end."
             + (f" {plan.data_note}" if plan.data_note else "") + "\n",
             markdown_table(run_columns(spec.task, spec.metric) + shown + [title for title, _, _ in costs] + ["status"],
                            rows)]
    if outputs.front is not None:
        lines.append(front_section(spec, outputs.front, outputs.costs.hardware))
    if outputs.repeated:
        lines.append(repeats_section(spec, outputs.repeated))
    if test:
        lines.append(f"\nBest {'model' if outputs.repeated else 'configuration'} ({outputs.best_model_from}) re-scored "
                     f"once on the untouched test split ({test['data'].replace(test['path'], Path(test['path']).name)}): "
                     f"**{kind.describe_test(test, spec.metric)}** ({spec.metric.replace('_', ' ')} {outputs.best_valid:.4f}).\n"
                     + scores_markdown(test, kind))
    if refit:
        line = f"Refit of the best configuration on all of train for {refit['epochs']} epoch(s)"
        if "test" in refit:
            line += (f": **{kind.describe_test(refit['test'], spec.metric)}** on the same {refit['test']['examples']} test "
                     f"examples (the best trial's model: {kind.describe_test(test, spec.metric)})")
        lines.append(f"\n{line}.\n")
    if importances:
        lines.append(f"\nWhich hyperparameters mattered (fANOVA over {len(scored)} trials, share of the variance of "
                     f"{spec.metric.replace('_', ' ')}; in brackets the 10th-90th percentile over resamplings of the "
                     f"trials): {describe_importance(importances)}.\n")
    if (table["status"] == "error").any():
        lines.append(f"\nFailed trials:{failures(table)}\n")
    write_text(plan.out_dir / "results.md", "\n".join(lines))
    return plan.out_dir / "results.md"


def repeats_section(spec, repeated) -> str:
    """The seed repeats as a table, best mean valid score first, and what decided the winner."""
    metric = spec.metric.replace("_", " ")
    shown = list(spec.space)
    rows = [[r.trial, *(_fmt(r.sampled[k]) for k in shown), len(r.valid), mean_std(r.valid), mean_std(r.test)]
            for r in repeated]
    winner = repeated[0]
    runs = sum(len(r.seeds) for r in repeated)
    return (f"\n## Seed repeats\n\nThe best {len(repeated)} configuration(s) trained again with {spec.repeats} "
            f"training seeds each ({runs} more full runs; the held-out split unchanged). Mean ± standard "
            f"deviation over the seeds; the winner is decided on the mean {metric}: **{winner.trial}**, and "
            f"best_model/ is its seed with the best {metric} (train_seed {winner.seeds[winner.best_run(spec.signed)]}).\n\n"
            + markdown_table(["configuration", *shown, "seeds", f"{metric} (mean ± std)",
                              f"{metric.replace('valid', 'test')} (mean ± std)"], rows))


def fold_cell(cell: str, row: dict, spec) -> str:
    """A trial's score cell with folds: '0.8123 ± 0.0150', and '(2 of 5 folds)' for a trial pruned early."""
    std = row.get(spec.score_key + STD)
    done = row.get("folds_done")
    shown = cell if std is None or std != std else f"{cell} ± {std:.4f}"
    return shown + (f" ({done:g} of {spec.cv_folds} folds)" if done and done < spec.cv_folds else "")


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 else f"{value:.4g}"
    return str(value)


def _csv(value):
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value


def _data_text(plan, data: str) -> str:
    """'Data: 2000 train / 1000 valid (10% held out of train ...; train: a seeded subset of 2000 of
    22500 ...)', the sizes the trials used (`data`: what the prepared inputs held); without shared
    inputs only where valid came from."""
    if data:
        return f"Data: {data.split('; labels')[0]}"
    return f"Valid = {_valid_text(plan.spec)}"


def _valid_text(spec) -> str:
    config = spec.trial_config(spec.default_point())
    if config.valid_path:
        return Path(config.valid_path).name
    return f"{config.valid_fraction:.0%} held out of train"


def copy_to_storage(written: dict, storage: str) -> None:
    """The outputs beside the trials, where every node (and the user) can reach them: a folder or a URI."""
    import pyarrow.fs as pafs
    filesystem, root = pafs.FileSystem.from_uri(storage) if "://" in storage else (pafs.LocalFileSystem(), storage)
    root = root.rstrip("/")
    filesystem.create_dir(root, recursive=True)
    for path in map(Path, written.values()):
        if path.is_dir():
            filesystem.create_dir(f"{root}/{path.name}", recursive=True)
            pafs.copy_files(str(path), f"{root}/{path.name}", source_filesystem=pafs.LocalFileSystem(),
                            destination_filesystem=filesystem)
        else:
            with open(path, "rb") as src, filesystem.open_output_stream(f"{root}/{path.name}") as dst:
                dst.write(src.read())
