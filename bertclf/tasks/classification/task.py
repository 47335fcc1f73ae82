"""Classification (a label per text or text pair) as a Task: its metrics and columns, each of its
methods the part of this folder that does it."""
from ...data.label_values import label_text
from ..task import Task
from .eval import METRICS, test_scores
from .export import hf_usage, onnx_usage, portable_form
from .inputs import prepare, prepare_test, with_features
from .metrics import SCORES
from .model import build, model_from_meta
from .predict import predict, predict_example


class Classification(Task):
    name = "classification"
    metrics = METRICS
    columns = (("valid accuracy", "valid_accuracy", "{:.4f}"),)
    test_columns = (("test accuracy", "accuracy", "{:.4f}"),)
    text_options = ("truncation", "pooling")
    streams_texts = True
    report_scores = SCORES
    has_classes = True

    def purpose(self, meta) -> str:
        return f"classifies a text as one of {', '.join(label_text(n) for n in meta['label_names'])}"

    def prepare(self, config, tokenizer, log, streamed: bool = False):
        return prepare(config, tokenizer, log, streamed)

    def with_features(self, inputs, config, encoder, device, bf16, variants, log, progress=None, threads=None):
        return with_features(inputs, config, encoder, device, bf16, variants, log, progress, threads)

    def build(self, config, inputs, encoder, device):
        return build(config, inputs, encoder, device)

    def prepare_test(self, path, meta, tokenizer, cache_dir, max_examples=None):
        return prepare_test(path, meta, tokenizer, cache_dir, max_examples)

    def score_test(self, model, meta, inputs, *, device, bf16, batch_size, cache_dir):
        return test_scores(model, meta, inputs, device=device, bf16=bf16, batch_size=batch_size, cache_dir=cache_dir)

    def model_from_meta(self, encoder, meta):
        return model_from_meta(encoder, meta)

    def predict(self, args, model, tokenizer, meta):
        return predict(args, model, tokenizer, meta)

    def portable_form(self, model, meta):
        return portable_form(model, meta)

    def hf_usage(self, name, copy_folder, copies, meta):
        if copies.hf:
            return hf_usage(name, copy_folder, copies, meta)
        return super().hf_usage(name, copy_folder, copies, meta)

    def onnx_usage(self, name, copy_path, copies, meta):
        return onnx_usage(name, copy_path, copies, meta)

    def predict_example(self, meta):
        return predict_example(meta)
