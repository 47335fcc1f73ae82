"""A search's model folders (best_model/, refit_model/) made usable elsewhere: their portable copies
(transformers, ONNX: bertclf.portable) and a README.md model card that says what the model is, how the
search found it, how well it scored, and how to load it with or without this project."""
import json
from pathlib import Path
from typing import Optional

from bertclf.atomic import write_text
from bertclf.data.label_values import label_text
from bertclf.int8_copy import INT8_PATH, check_int8
from bertclf.models.model_io import read_meta
from bertclf.portable import HF_FOLDER, ONNX_PATH, PortableCopies, write_portable
from bertclf.results_table import markdown_table, markdown_text
from bertclf.tasks import task_named

from .plots import describe_importance
from .scoring import Served, score_served, valid_split

TOP_ROWS = 5
SERVED_TASK = "classification"  # onnx_metric scores a single-label classifier's ONNX copy
LAYERS = {"last": "the last layer", "last4": "each of the last four layers"}


def publish_models(plan, written: dict, outputs, say) -> None:
    """Portable copies (and an int8 one where the model's precision is int8) and README.md in each model
    folder of `written` (best_model, refit_model), from the search's outputs (outputs.SearchOutputs)."""
    config = plan.spec.trial_config(outputs.sampled)  # a refit's model has no valid split of its own
    for key, test_scores in (("best_model", outputs.test), ("refit_model", (outputs.refit or {}).get("test"))):
        if key in written:
            folder = Path(written[key])
            portable = portable_copies(plan, folder)
            int8 = int8_copy(plan, folder, portable, config, say)
            write_text(folder / "README.md", model_card(plan, folder, portable, outputs, test_scores, int8))


def publish_member(plan, folder: Path, config, outputs, say, kept: bool) -> Optional[Served]:
    """A Pareto front member's model folder made complete like best_model/ (portable copies, the int8 copy
    where its precision is int8 and it stays within tolerance, README.md) and scored as it serves
    (scoring.score_served); None where it cannot be: a task other than single-label classification (served),
    a search scored on folds (no valid split of its own), or a model without an ONNX copy. kept: whether the
    folder stays (--export-front) or is removed once scored, which the console's int8 line says."""
    portable = portable_copies(plan, folder)
    int8 = int8_copy(plan, folder, portable, config, say, shipped=kept)
    served = None
    if portable.onnx is not None and served_here(plan.spec):
        served = score_served(plan, folder, config, int8)
        say(f"front {folder.name}: as served, {served.describe(plan.spec.metric)}")
    write_text(folder / "README.md", model_card(plan, folder, portable, outputs, None, int8, served))
    return served


def served_here(spec) -> bool:
    """Whether a front member of this spec's search is scored as served (bertclf.int8_copy.onnx_metric scores
    a single-label classifier on a held-out valid split)."""
    return spec.task == SERVED_TASK and not spec.cv_folds


def portable_copies(plan, folder: Path) -> PortableCopies:
    # the folder's own model, when the search chose among several
    return write_portable(folder, plan.local_folder(read_meta(folder)["bert_name"]))


def int8_copy(plan, folder: Path, portable: PortableCopies, config, say, shipped: bool = True):
    """The int8 check of a model of precision int8 with an ONNX copy (bertclf.int8_copy), on the valid split
    of `config` (the trial's), said on the console (shipped False: of a folder removed once scored, as the
    copy that would ship); None for any other model."""
    options = json.loads((folder / "search_config.json").read_text(encoding="utf-8"))["train_options"]
    if options["precision"] != "int8" or portable.onnx is None:
        return None
    check = check_int8(folder, valid_split(plan, config), plan.spec.metric, plan.opts.int8_tolerance,
                       config.eval_batch_size)
    say(f"{folder.name}: {check.describe(shipped)}")
    return check


def model_card(plan, folder: Path, portable: PortableCopies, outputs, test_scores, int8=None, served=None) -> str:
    """README.md of a model folder; served: a Pareto front member's scores as it serves (score_served), its
    test line."""
    spec, kind = plan.spec, task_named(plan.spec.task)
    scored, importances = outputs.scored, outputs.importances
    saved = json.loads((folder / "search_config.json").read_text(encoding="utf-8"))
    options = saved["train_options"]
    best = scored.iloc[0]
    metric = spec.metric.replace("_", " ")
    encoder = (f"LoRA adapters (rank {options['lora_r']}) trained and merged into it" if options.get("lora")
               else "fine-tuned" if options["bert_finetuning"] else "frozen: only the head was trained")
    meta = read_meta(folder)
    what = markdown_text(kind.purpose(meta))
    up = "../../" if saved.get("pareto_front") else "../"  # to results.md, from front/TRIAL/ or best_model/
    origin = _origin(spec, saved, outputs, up)
    lines = [
        f"# {folder.name} of search {plan.name}",
        "",
        f"A {options['bert_name']} encoder ({encoder}), with {options['pooling']} pooling of "
        f"{LAYERS.get(options['layers'], options['layers'])} and a {options['head']} head; it {what}. "
        + _texts_read(options),
        "",
        "## How it was found",
        "",
        origin,
        f"The search ({spec.source}) ran {len(scored)} scored trials: "
        f"{'random sampling with PBT' if spec.scheduler.type == 'pbt' else 'Optuna TPE'} proposed the "
        f"configurations, {stopped_early(spec.scheduler.type)}, and each trial was scored on its best check. Full "
        f"table: {up}results.md and {up}results.csv.",
        "",
        "## Data and scores",
        "",
        f"- Data set: {spec.dataset}; {markdown_text(outputs.data) or f'see {up}results.md'}."
        + (f" {plan.data_note}" if plan.data_note else ""),
        f"- Metric: {metric}, {best[f'best_{spec.metric}']:.4f} for the best trial.",
        ("- Test (untouched until the search ended, scored once): "
         f"**{kind.describe_test(test_scores, spec.metric)}** on {test_scores['examples']} examples of "
         f"{Path(test_scores['path']).name}{' (a seeded subset)' if test_scores['subset'] else ''}."
         if test_scores else served_line(served, metric) if served else "- Test: no test split was scored."),
    ]
    lines += decision_lines(meta, metric) + cost_lines(saved.get("inference_cost"), int8) + int8_lines(int8)
    if importances:
        lines.append("- Which hyperparameters mattered (fANOVA share of the variance of the score, 10th-90th "
                     f"percentile over resamplings of the trials in brackets): {describe_importance(importances)}.")
    lines += ["", "## Configuration", "", markdown_table(["option", "value"], [[k, _value(v)] for k, v in
                                                                             _shown_options(spec, options).items()]),
              "", "Every training option: search_config.json.", "",
              f"## The search's top {min(TOP_ROWS, len(scored))} trials", "", _top_rows(spec, scored), "",
              "## Intended use", "",
              f"Texts like those of {spec.dataset}, in its language and domain, {_lengths_read(options)}. "
              f"The scores above are on that data only; nothing was checked for other domains, "
              f"for bias, or for calibration of the probabilities.", "",
              "## How to load it", "", *how_to_load(folder, portable, meta), *int8_usage(folder.name, int8)]
    return "\n".join(lines) + "\n"


def stopped_early(scheduler: str) -> str:
    """The card's words on what stopped trials early (spec scheduler.type: asha | pbt | none)."""
    return "no scheduler stopped a trial early" if scheduler == "none" else f"the {scheduler} scheduler stopped weak ones early"


def _origin(spec, saved: dict, outputs, up: str) -> str:
    """The card's sentence on where the model came from: the best trial, the seed repeats' winner, the refit,
    or a member of the Pareto front (its search_config.json says pareto_front)."""
    scored, metric = outputs.scored, spec.metric.replace("_", " ")
    best = scored.iloc[0]
    if saved.get("pareto_front"):
        row = scored[scored["trial"] == saved["trial"]].iloc[0]
        rank = ("the best trial" if row["trial"] == best["trial"]
                else f"the best trial, {best['trial']}: {best[f'best_{spec.metric}']:.4f}")
        return (f"{saved['trial']}: a member of the search's Pareto front ({up}results.md), the trials no other "
                f"beats on {metric} and cost at once ({row[f'best_{spec.metric}']:.4f} at its best check, epoch "
                f"{row['best_epoch']:g}; {rank}).")
    if "refit_of" in saved:
        return (f"The best configuration of the search, trained again on all of train (valid included) for "
                f"{outputs.refit['epochs']} epoch(s): nothing was held out to check it on, so its only score is the "
                f"test's.")
    if saved["trial"] != best["trial"]:  # seed repeats chose it (repeats.py)
        return (f"{saved['trial']}: the configuration with the best mean {metric} over {spec.repeats} training "
                f"seeds ({up}results.md, Seed repeats), and of those runs the one with the best {metric}.")
    return (f"Trial {best['trial']}, the best of {len(scored)} scored trials by {metric} "
            f"({best[f'best_{spec.metric}']:.4f} at its best check, epoch {best['best_epoch']:g}).")


def served_line(served: Served, metric: str) -> str:
    """The card's line on a front member's scores as its shipped ONNX copy gives them."""
    test = (f"; test (untouched until the search ended, scored once) **{served.test:.4f}** on {served.test_data}"
            if served.test is not None else "; no test split was scored")
    return (f"- As served (its {served.copy} ONNX copy in onnxruntime): {metric} {served.valid:.4f} on valid{test}.")


def int8_usage(name: str, int8) -> list:
    """The card's lines on loading the int8 ONNX copy, where it was kept."""
    if int8 is None or not int8.kept:
        return []
    return ["", f"The int8 copy ({INT8_PATH}, {int8.int8_mb:.1f} MB) takes the same inputs and gives the same "
                f"outputs: load it in place of {ONNX_PATH} in the onnxruntime snippet above:", "", "```python",
            f'session = onnxruntime.InferenceSession("{name}/{INT8_PATH}")', "```"]


def decision_lines(meta: dict, metric: str) -> list:
    """The card's lines on what the loss weighed (class weights) and how the model decides (a threshold)."""
    names = [markdown_text(label_text(n)) for n in meta.get("label_names") or []]
    lines = []
    if meta.get("class_weights"):
        lines.append(f"- Class weights in the training loss (class_weight {meta['class_weight']}, from train's "
                     f"counts): {', '.join(f'{n} {w:g}' for n, w in zip(names, meta['class_weights']))}.")
    if meta.get("threshold") is not None:
        lines.append(f"- Decision threshold {meta['threshold']:.4f}, tuned on valid for {metric}: the model predicts "
                     f"{names[1]} where its probability is at least that, else {names[0]} (--predict and the test "
                     f"score do; the copies below give probabilities: apply it to them).")
    return lines


def int8_lines(int8) -> list:
    """The card's line on the int8 check (an Int8Check), for a model of precision int8."""
    if int8 is None:
        return []
    return [f"- Precision int8 (onnxruntime's dynamic quantisation, both copies run on valid): {int8.describe()}."]


def cost_lines(cost, int8=None) -> list:
    """The card's line on what serving the model costs, where the search measured it (costs.py): of the
    copy its precision serves (bertclf.cost.served_precision), and said so where the int8 check (`int8`,
    an Int8Check) did not keep the int8 copy the search costed."""
    if not cost:
        return []
    copy = "the int8 ONNX copy" if int8 is not None else "the fp32 ONNX copy below"
    line = (f"- Inference cost on {cost['hardware']} (onnxruntime on {cost['device']}, {copy}): "
            f"{cost['latency_ms']:.3g} ms per example at batch 1 (median; p95 {cost['latency_p95_ms']:.3g} ms), "
            f"{cost['throughput']:.4g} examples/s at a batch of 64; the ONNX file is {cost['model_mb']:.3g} MB "
            f"({cost['model_mb_int8']:.3g} MB quantised to int8). Measured on an untrained model of this "
            f"architecture before the search: a network's cost does not depend on its weights.")
    if int8 is not None and not int8.kept:
        line += (f" The int8 copy was not kept (below): the fp32 copy that ships is {int8.fp32_mb:.3g} MB and "
                 f"slower than these figures, which the search's constraints and front were judged on.")
    return [line]


def _shown_options(spec, options: dict) -> dict:
    model_keys = ["bert_name", "bert_finetuning", "boost", "pooling", "layers", "head", "max_length", "truncation"]
    return {k: options[k] for k in dict.fromkeys(model_keys + list(spec.space) + ["n_epochs", "batch_size", "seed"])
            if k in options}


def _top_rows(spec, scored) -> str:
    keys = list(spec.space)
    rows = [[r["trial"], *(_value(r[k]) for k in keys), f"{r[f'best_{spec.metric}']:.4f}", f"{r['best_epoch']:g}",
             r["status"]] for r in scored.head(TOP_ROWS).to_dict("records")]
    return markdown_table(["trial", *keys, spec.metric, "best epoch", "status"], rows)


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _texts_read(options: dict) -> str:
    """How the model reads a text: cut to max_length, or whole as windows pooled per text (truncation chunks)."""
    if options["truncation"] == "chunks":
        return (f"Texts are read whole, as windows of {options['max_length']} tokens overlapping by "
                f"{options['doc_stride']} (at most {options['max_chunks']} a text, spread over it), whose pooled "
                f"vectors are pooled again per text, mean and max.")
    return f"Texts are cut to {options['max_length']} tokens (keeping the {options['truncation']})."


def _lengths_read(options: dict) -> str:
    if options["truncation"] == "chunks":
        return f"any length (at most {options['max_chunks']} windows of {options['max_length']} tokens are read)"
    return f"at most {options['max_length']} tokens long"


def how_to_load(folder: Path, copies: PortableCopies, meta: dict) -> list:
    """The model card's lines on loading the model in `folder` (named as beside it) with transformers,
    onnxruntime (the snippets run as written) and this project; `copies` is write_portable's answer."""
    name, task = folder.name, task_named(meta["task"])
    lines = task.hf_usage(name, HF_FOLDER, copies, meta)
    if copies.onnx:
        lines += task.onnx_usage(name, ONNX_PATH, copies, meta)
    if copies.why_not_onnx:
        lines += [f"Not as ONNX: {copies.why_not_onnx}.", ""]
    if copies.tokenizer_note:
        lines += [f"Note: {copies.tokenizer_note}.", ""]
    lines += ["With this project (bert-hpo):", "", "```bash",
              f"python launch.py --predict --model {name} {task.predict_example(meta)}", "```"]
    return lines
