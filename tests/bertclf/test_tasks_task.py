"""The Task class (bertclf/tasks/task.py): every task is found by its name and answers every method;
the test headline; and no code outside a task's folder tells a task by its name."""
import ast
from pathlib import Path

import pytest

from bertclf.errors import UserError
from bertclf.tasks import TASKS, Task, task_named
from tests.helpers import ROOT


def test_every_task_is_a_task_found_by_its_name():
    assert set(TASKS) == {"classification", "multilabel", "qa", "regression"}
    for name, task in TASKS.items():
        assert isinstance(task, Task) and task.name == name and task_named(name) is task
        assert task.metrics and all(m.startswith("valid_") for m in task.metrics)
    with pytest.raises(UserError, match="--task ranking: expected classification | multilabel | qa | regression"):
        task_named("ranking")


def test_the_test_headline_is_the_metric_chosen_then_the_tasks_own():
    test = {"accuracy": 0.9, "macro_f1": 0.8512, "mcc": 0.7}
    classification = task_named("classification")
    assert classification.describe_test(test, "valid_macro_f1") == "test macro f1 0.8512 / test accuracy 0.9000"
    assert classification.describe_test(test, "valid_mcc") == "test mcc 0.7000 / test accuracy 0.9000"
    assert classification.describe_test(test, "valid_accuracy") == classification.describe_test(test) \
        == "test accuracy 0.9000"
    assert task_named("qa").describe_test({"exact_match": 80.0, "f1": 90.0}, "valid_f1") == "test F1 90.00 / test EM 80.00"


def names_compared(path, root=ROOT) -> list:
    """Lines of `path` that compare something with a task's name ("qa" == x, x != "classification", x in ("qa", ...))."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            strings = {n.value for o in operands for n in ast.walk(o) if isinstance(n, ast.Constant)}
            if strings & set(TASKS):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_no_code_outside_a_tasks_folder_tells_a_task_by_its_name():
    files = [p for folder in ("bertclf", "distributed") for p in (ROOT / folder).rglob("*.py")
             if (ROOT / "bertclf" / "tasks") not in p.parents]
    assert len(files) > 40
    found = [line for path in files for line in names_compared(path)]
    assert not found, f"ask the task's methods instead: {found}"


def test_the_name_finder_finds_a_comparison(tmp_path):
    path = tmp_path / "branch.py"
    path.write_text('if meta["task"] == "qa":\n    pass\nok = kind in ("qa", "x")\nfine = "qa"\n')
    assert [line.rsplit(":", 1)[1] for line in names_compared(path, tmp_path)] == ["1", "3"]


def test_a_model_card_loads_the_transformers_copy_as_its_task_says():
    from bertclf.portable import PortableCopies
    copied = PortableCopies(onnx_inputs=["input_ids"], hf=Path("best_model/hf"), hf_difference=1e-6)
    lines = task_named("classification").hf_usage("best_model", "hf", copied, {"pairs": False})
    assert 'classify = pipeline("text-classification", model="best_model/hf")' in lines
    assert "print(classify([\"an example text\"], truncation=True))" in lines
    none = PortableCopies(onnx_inputs=["input_ids"], onnx=Path("best_model/onnx"), why_not_hf="no class for it")
    for name in TASKS:
        assert task_named(name).hf_usage("best_model", "hf", none, {}) == [
            "Not as a transformers class: no class for it. Use ONNX below.", ""]
    assert task_named("qa").hf_usage("best_model", "hf", PortableCopies(onnx_inputs=[]), {}) == []


def test_every_task_prepares_as_the_base_says():
    import inspect
    want = inspect.signature(Task.prepare).parameters
    assert list(want) == ["self", "config", "tokenizer", "log", "streamed"] and want["streamed"].default is False
    for task in TASKS.values():
        assert inspect.signature(type(task).prepare).parameters == want
