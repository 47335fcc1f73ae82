"""Multi-label classification (a set of labels per text or text pair) as a Task: classification's, with
its own labels, loss, thresholds, scores, prediction and copies, each the part of this folder that does it."""
from ...config import bad_option
from ...data.label_values import label_text
from ..classification.task import Classification
from .eval import METRICS, MINIMISED_METRICS, test_scores
from .export import applying_thresholds, hf_usage, onnx_usage, portable_form
from .inputs import prepare, prepare_test
from .metrics import SCORES
from .model import build, model_from_meta
from .predict import predict


class Multilabel(Classification):
    name = "multilabel"
    metrics = METRICS
    minimised = MINIMISED_METRICS
    reads_label_sets = True
    columns = (("valid micro F1", "valid_micro_f1", "{:.4f}"),)
    test_columns = (("test micro F1", "micro_f1", "{:.4f}"),)
    streams_texts = False
    report_scores = SCORES

    def purpose(self, meta) -> str:
        return f"gives a text any of the labels {', '.join(label_text(n) for n in meta['label_names'])}"

    def check_options(self, config) -> None:
        if config.dataset is not None:
            bad_option("dataset", "none with --task multilabel (the shipped data sets have one label per text)",
                       config.dataset)
        if config.class_weight != "none":  # its loss is one binary cross-entropy per label: no class to weigh
            bad_option("class_weight", "none with --task multilabel", config.class_weight)

    def prepare(self, config, tokenizer, log, streamed: bool = False):
        return prepare(config, tokenizer, log)

    # classification's methods, each this folder's function
    build = staticmethod(build)
    prepare_test = staticmethod(prepare_test)
    score_test = staticmethod(test_scores)
    model_from_meta = staticmethod(model_from_meta)
    predict = staticmethod(predict)
    portable_form = staticmethod(portable_form)

    def hf_usage(self, name, copy_folder, copies, meta):
        """How to apply the thresholds, before the first copy's snippet (this one's, or ONNX's)."""
        if copies.hf:
            return applying_thresholds() + hf_usage(name, copy_folder, copies, meta)
        return super(Classification, self).hf_usage(name, copy_folder, copies, meta)

    def onnx_usage(self, name, copy_path, copies, meta):
        return ([] if copies.hf else applying_thresholds()) + onnx_usage(name, copy_path, copies, meta)
