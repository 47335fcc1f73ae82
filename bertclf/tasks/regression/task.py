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
    weighs_classes = False

    def prepare(self, config, tokenizer, log, streamed: bool = False):
        return prepare(config, tokenizer, log)

    def build(self, config, inputs, encoder, device):
        return build(config, inputs, encoder, device)

    def prepare_test(self, path, meta, tokenizer, cache_dir, max_examples=None):
        return prepare_test(path, meta, tokenizer, cache_dir, max_examples)

    def score_test(self, model, meta, inputs, *, device, bf16, batch_size, cache_dir):
        return test_scores(model, meta, inputs, device=device, bf16=bf16, batch_size=batch_size, cache_dir=cache_dir)

    def predict(self, args, model, tokenizer, meta):
        return predict(args, model, tokenizer, meta)

    def portable_form(self, model, meta):
        return portable_form(model, meta)

    def hf_usage(self, name, copy_folder, copies, meta):
        if copies.hf:
            return hf_usage(name, copy_folder, copies, meta)
        return Task.hf_usage(self, name, copy_folder, copies, meta)

    def onnx_usage(self, name, copy_path, copies, meta):
        return onnx_usage(name, copy_path, copies, meta)
