"""The task registry: everything that differs between classification and QA, looked up by name.

No caller outside a task's own module asks which task it is; it asks the registry."""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from . import (classification_eval, classification_inputs, classification_model, classification_predict, qa_eval,
               qa_inputs, qa_predict, qa_task)
from .config import bad_option
from .errors import UserError


@dataclass(frozen=True)
class TaskKind:
    name: str
    metrics: Tuple[str, ...]  # valid metrics a run reports; the first is the default to maximise
    # results-table columns after results_table.RUN_COLUMNS: (title, metric key, format)
    columns: Tuple[Tuple[str, str, str], ...]
    test_columns: Tuple[Tuple[str, str, str], ...]  # the same for score() on the test split
    prepare: Callable  # (config, tokenizer, log) -> inputs: data read, split and tokenised
    build: Callable  # (config, inputs, encoder, device) -> Task
    prepare_test: Callable  # (path, model meta, tokenizer, cache_dir, max_examples) -> inputs
    score_test: Callable  # (model, meta, inputs, device=, bf16=, batch_size=, cache_dir=) -> {name: value}
    model_from_meta: Callable  # (encoder, saved meta) -> the model, weights still to be loaded
    predict: Callable  # (launch.py --predict arguments, model, tokenizer, meta) -> one JSON-able row per request
    check_options: Callable  # (TrainConfig) -> raises on options this task cannot take
    # (inputs, config, encoder, device, bf16, variants, log) -> {variant: inputs with those frozen
    # features}; None: the task cannot be boosted
    with_features: Optional[Callable] = None
    # how-a-text-is-read options this task uses (a search's recipe sets only these): truncation of a
    # long text, pooling of the token vectors
    text_options: Tuple[str, ...] = ()


TASK_KINDS: Dict[str, TaskKind] = {
    "classification": TaskKind(
        name="classification", metrics=classification_eval.METRICS,
        columns=(("valid accuracy", "valid_accuracy", "{:.4f}"),),
        test_columns=(("test accuracy", "accuracy", "{:.4f}"),),
        prepare=classification_inputs.prepare, build=classification_model.build,
        prepare_test=classification_inputs.prepare_test, score_test=classification_eval.test_scores,
        model_from_meta=classification_model.model_from_meta, predict=classification_predict.predict,
        check_options=classification_model.check_options, with_features=classification_inputs.with_features,
        text_options=("truncation", "pooling")),
    "qa": TaskKind(
        name="qa", metrics=("valid_f1", "valid_exact_match"),
        columns=(("valid EM", "valid_exact_match", "{:.2f}"), ("valid F1", "valid_f1", "{:.2f}")),
        test_columns=(("test EM", "exact_match", "{:.2f}"), ("test F1", "f1", "{:.2f}")),
        prepare=qa_inputs.prepare, build=qa_task.build, prepare_test=qa_inputs.prepare_test,
        score_test=qa_eval.test_em_f1, model_from_meta=qa_task.model_from_meta,
        predict=qa_predict.predict, check_options=qa_task.check_options),
}


def task_kind(name: str) -> TaskKind:
    if name not in TASK_KINDS:
        raise UserError(f"--task {name}: expected {' | '.join(TASK_KINDS)}")
    return TASK_KINDS[name]


def metric_test_key(metric: str) -> str:
    """The key of a test score (score_test's result) that matches a valid metric: valid_macro_f1 -> macro_f1."""
    return metric.removeprefix("valid_")


def describe_test(kind: TaskKind, scores: dict, metric: Optional[str] = None) -> str:
    """The test scores in words, the one of `metric` (a valid metric the run maximised) first, as the
    headline, then the task's usual ones: 'test macro f1 0.8790 / test accuracy 0.9012',
    'test F1 90.10 / test EM 81.20'; without `metric`, the task's: 'test accuracy 0.9012'."""
    columns = list(kind.test_columns)
    key = metric_test_key(metric) if metric else None
    if key in scores:
        headline = [c for c in columns if c[1] == key] or [(f"test {key.replace('_', ' ')}", key, "{:.4f}")]
        columns = headline + [c for c in columns if c[1] != key]
    return " / ".join(f"{title} {fmt.format(scores[key])}" for title, key, fmt in columns)


def check_task_options(config):
    """Raise on an unknown task, on a --metric the task does not report, or on options config.task
    cannot take; return config.

    TrainConfig checks every other option as it is made: the task's checks live with the task, above it."""
    kind = task_kind(config.task)
    if config.metric is not None and config.metric not in kind.metrics:
        bad_option("metric", " | ".join(kind.metrics), config.metric)
    kind.check_options(config)
    return config
