"""The task registry: everything that differs between classification and QA, looked up by name.

No caller outside a task's own module asks which task it is; it asks the registry."""
from dataclasses import dataclass
from typing import Callable, Dict, Tuple

from . import classification, qa_task
from .errors import UserError


@dataclass(frozen=True)
class TaskKind:
    name: str
    metrics: Tuple[str, ...]  # valid metrics a run reports; the first is the default to maximise
    # results-table columns after the seed's five: (title, metric key, format)
    columns: Tuple[Tuple[str, str, str], ...]
    test_columns: Tuple[Tuple[str, str, str], ...]  # the same for score() on the test split
    prepare: Callable  # (config, tokenizer, log) -> inputs: data read, split and tokenised
    build: Callable  # (config, inputs, encoder, device) -> Task
    prepare_test: Callable  # (path, model meta, tokenizer, cache_dir, max_examples) -> inputs
    score: Callable  # (model, meta, inputs, device=, bf16=, batch_size=, cache_dir=) -> {name: value}
    model_from_meta: Callable  # (encoder, saved meta) -> the model, weights still to be loaded
    predict: Callable  # (launch.py --predict arguments) -> one JSON-able row per request
    check_options: Callable  # (TrainConfig, bad) -> raises on options this task cannot take


TASKS: Dict[str, TaskKind] = {
    "classification": TaskKind(
        name="classification", metrics=classification.METRICS,
        columns=(("valid accuracy", "valid_accuracy", "{:.4f}"),),
        test_columns=(("test accuracy", "accuracy", "{:.4f}"),),
        prepare=classification.prepare, build=classification.build,
        prepare_test=classification.prepare_test, score=classification.score, model_from_meta=classification.model_from_meta,
        predict=classification.predict, check_options=classification.check_options),
    "qa": TaskKind(
        name="qa", metrics=("valid_f1", "valid_exact_match"),
        columns=(("valid EM", "valid_exact_match", "{:.2f}"), ("valid F1", "valid_f1", "{:.2f}")),
        test_columns=(("test EM", "exact_match", "{:.2f}"), ("test F1", "f1", "{:.2f}")),
        prepare=qa_task.prepare, build=qa_task.build, prepare_test=qa_task.prepare_test,
        score=qa_task.score, model_from_meta=qa_task.model_from_meta,
        predict=qa_task.predict, check_options=qa_task.check_options),
}


def task_kind(name: str) -> TaskKind:
    if name not in TASKS:
        raise UserError(f"--task {name}: expected {' | '.join(TASKS)}")
    return TASKS[name]


def describe_test(kind: TaskKind, scores: dict) -> str:
    """'test accuracy 0.9012' / 'test EM 81.20 / test F1 90.10'."""
    return " / ".join(f"{title} {fmt.format(scores[key])}" for title, key, fmt in kind.test_columns)
