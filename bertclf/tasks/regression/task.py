"""Regression (a number per text or text pair) as a Task: a classifier's inputs, head, frozen features and
copies, with one output, the squared error and the scores of numbers."""
from ..classification.task import Classification
from ..task import Task
from .eval import METRICS, MINIMISED, test_scores
from .export import hf_usage, onnx_usage, portable_form
from .inputs import prepare, prepare_test
from .model import build
from .predict import predict


class Regression(Classification):
    name = "regression"
    metrics = METRICS
    minimised = MINIMISED
    columns = (("valid spearman", "valid_spearman", "{:.4f}"), ("valid rmse", "valid_rmse", "{:.4f}"))
    test_columns = (("test spearman", "spearman", "{:.4f}"), ("test rmse", "rmse", "{:.4f}"),
                    ("test pearson", "pearson", "{:.4f}"), ("test mae", "mae", "{:.4f}"), ("test r2", "r2", "{:.4f}"))
    streams_texts = False  # its numbers are read with the texts: a search prepares them on the driver
    report_scores = ()  # no classes: no per-class table
    has_classes = False

    # the classifier's methods, each with regression's own part (their signatures are the Task's, less self)
    build = staticmethod(build)
    prepare_test = staticmethod(prepare_test)
    score_test = staticmethod(test_scores)
    predict = staticmethod(predict)
    portable_form = staticmethod(portable_form)
    onnx_usage = staticmethod(onnx_usage)

    def purpose(self, meta) -> str:
        return f"predicts a number ({meta['label_names'][0]}) per text" + (" pair" if meta.get("pairs") else "")

    def prepare(self, config, tokenizer, log, streamed: bool = False):
        return prepare(config, tokenizer, log)

    def hf_usage(self, name, copy_folder, copies, meta):
        if copies.hf:
            return hf_usage(name, copy_folder, copies, meta)
        return Task.hf_usage(self, name, copy_folder, copies, meta)
