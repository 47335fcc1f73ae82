"""Extractive QA (SQuAD / KorQuAD 1.0) as a Task: its option checks, the model and loss wired to its
inputs and evaluation (the Training a run trains); a saved QA model rebuilt from its metadata."""
from dataclasses import dataclass
from functools import partial
from typing import Dict, List, Optional

import torch

from ...config import bad_option
from ...errors import UserError
from ...inference import pad_multiple
from ..task import Task, Training
from .eval import degenerate, evaluate, test_em_f1
from .export import onnx_usage, portable_form
from .inputs import QAInputs, Windows, prepare, prepare_test, window_inputs
from .model import BertSpanQA, span_loss
from .predict import predict, predict_example

METRICS = ("valid_f1", "valid_exact_match")


@dataclass
class QATraining(Training):
    """A span model bound to one run's question windows."""
    model: BertSpanQA
    inputs: QAInputs
    windows: Dict[str, Windows]
    meta: dict
    pad_multiple: int  # of the device the batches go to
    max_answer_length: int
    eval_batch_size: int
    metrics = list(METRICS)
    kind = "qa"
    parallel_inputs = True

    @property
    def train_lengths(self) -> List[int]:
        return self.windows["train"].ids.lengths.tolist()

    def batch_inputs(self, split):
        return partial(window_inputs, self.windows[split], self.inputs.pad_id, self.pad_multiple)

    def loss(self, logits, indices):
        t = self.windows["train"].tensors
        return span_loss(logits, t["starts"][indices].to(logits.device), t["ends"][indices].to(logits.device))

    def evaluate(self, run, rank, world, reduce) -> dict:
        return evaluate(self.inputs, self.windows.get("valid"), self.max_answer_length, self.eval_batch_size,
                        run, rank, world, reduce)

    def degenerate(self, metrics) -> bool:
        return degenerate(self.windows["train"], metrics)


class QuestionAnswering(Task):
    name = "qa"
    metrics = METRICS
    columns = (("valid EM", "valid_exact_match", "{:.2f}"), ("valid F1", "valid_f1", "{:.2f}"))
    test_columns = (("test EM", "exact_match", "{:.2f}"), ("test F1", "f1", "{:.2f}"))

    def check_options(self, config) -> None:
        if config.boost:
            raise UserError("--boost with --task qa is refused: boost caches one pooled vector per text, but a span "
                            "head needs every token's vector (max_length x hidden x 2 bytes per window, ~0.8 MB at "
                            "512 x 768, ~50 GB for KorQuAD's train set); train QA with --bert_finetuning True")
        if config.pooling != "cls" or config.layers != "last" or config.head != "linear":
            raise UserError("--pooling, --layers and --head apply to classification; a QA span head reads the last "
                            "layer's token vectors")
        if not 0 < config.doc_stride < config.max_length // 2:
            bad_option("doc_stride", f"a stride in (0, max_length / 2 = {config.max_length // 2})",
                       config.doc_stride)
        if config.cv_folds:
            raise UserError(f"--cv_folds {config.cv_folds} with --task qa is refused: folds split labelled texts, and "
                            f"a QA data set is scored on its own dev file; leave cv_folds 0")
        if config.max_answer_length < 1:
            bad_option("max_answer_length", "a positive number of tokens", config.max_answer_length)

    def prepare(self, config, tokenizer, log, streamed: bool = False) -> QAInputs:
        return prepare(config, tokenizer, log)

    def build(self, config, inputs: QAInputs, encoder, device) -> QATraining:
        torch.manual_seed(config.training_seed)
        meta = {"task": self.name, "doc_stride": config.doc_stride, "max_answer_length": config.max_answer_length}
        return QATraining(model=BertSpanQA(encoder, config.dropout_p), inputs=inputs,
                          windows={split: Windows(tensors) for split, tensors in inputs.windows.items()}, meta=meta,
                          pad_multiple=pad_multiple(device), max_answer_length=config.max_answer_length,
                          eval_batch_size=config.eval_batch_size)

    def prepare_test(self, path, meta, tokenizer, cache_dir, max_examples: Optional[int] = None) -> QAInputs:
        return prepare_test(path, meta, tokenizer, cache_dir, max_examples)

    def score_test(self, model, meta, inputs, *, device, bf16, batch_size, cache_dir) -> dict:
        return test_em_f1(model, meta, inputs, device=device, bf16=bf16, batch_size=batch_size)

    def model_from_meta(self, encoder, meta) -> BertSpanQA:
        return BertSpanQA(encoder, meta["dropout_p"])

    def predict(self, args, model, tokenizer, meta) -> list:
        return predict(args, model, tokenizer, meta)

    def portable_form(self, model, meta):
        return portable_form(model)

    def onnx_usage(self, name, copy_path, copies, meta):
        return onnx_usage(name, copy_path, copies, meta)

    def predict_example(self, meta) -> str:
        return predict_example()
