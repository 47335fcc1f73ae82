"""The tasks, one folder each (classification/, multilabel/, qa/, regression/), looked up by name here and
only here.

A task is a `Task` (task.py): a new kind of problem is a new folder with its class, added to TASKS."""
from typing import Dict

from ..config import bad_option
from ..errors import UserError
from .classification.task import Classification
from .multilabel.task import Multilabel
from .qa.task import QuestionAnswering
from .regression.task import Regression
from .task import Task, metric_test_key

TASKS: Dict[str, Task] = {task.name: task for task in (Classification(), Multilabel(), QuestionAnswering(),
                                                     Regression())}

__all__ = ["TASKS", "Task", "check_task_options", "metric_test_key", "task_named"]


def task_named(name: str) -> Task:
    if name not in TASKS:
        raise UserError(f"--task {name}: expected {' | '.join(TASKS)}")
    return TASKS[name]


def check_task_options(config):
    """Raise on an unknown task, on a --metric the task does not report, or on options config.task
    cannot take; return config.

    TrainConfig checks every other option as it is made: the task's checks live with the task, above it."""
    task = task_named(config.task)
    if config.metric is not None and config.metric not in task.metrics:
        bad_option("metric", " | ".join(task.metrics), config.metric)
    if config.label_columns and not task.reads_label_sets:
        readers = " | ".join(name for name, t in TASKS.items() if t.reads_label_sets)
        raise UserError(f"--label_columns {config.label_columns}: several 0/1 label columns are read by --task "
                        f"{readers} alone")
    if config.class_weight != "none" and not task.has_classes:
        bad_option("class_weight", f"none: --task {task.name} has no classes to weigh", config.class_weight)
    if config.precision == "int8" and task.name != "classification":
        bad_option("precision", f"auto | bf16 | fp32 for --task {task.name} (int8's valid score is measured for "
                   f"classification alone)", config.precision)
    task.check_options(config)
    return config
