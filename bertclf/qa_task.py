"""Extractive QA (SQuAD / KorQuAD 1.0) as the Task a run trains: its option checks, the model and
loss wired to its inputs and evaluation; a saved QA model rebuilt from its metadata."""
from functools import partial

import torch

from .config import bad_option
from .errors import UserError
from .inference import pad_multiple
from .qa_eval import degenerate, evaluate
from .qa_inputs import QAInputs, Windows, window_inputs
from .qa_model import BertSpanQA, span_loss
from .task import Task


def check_options(config) -> None:
    """The options a QA run cannot take, each a one-line error."""
    if config.boost:
        raise UserError("--boost with --task qa is refused: boost caches one pooled vector per text, but a span head "
                        "needs every token's vector (max_length x hidden x 2 bytes per window, ~0.8 MB at 512 x 768, "
                        "~50 GB for KorQuAD's train set); train QA with --bert_finetuning True")
    if config.pooling != "cls" or config.layers != "last" or config.head != "linear":
        raise UserError("--pooling, --layers and --head apply to classification; a QA span head reads the last "
                        "layer's token vectors")
    if not 0 < config.doc_stride < config.max_length // 2:
        bad_option("doc_stride", f"a stride in (0, max_length / 2 = {config.max_length // 2})", config.doc_stride)
    if config.max_answer_length < 1:
        bad_option("max_answer_length", "a positive number of tokens", config.max_answer_length)


def build(config, inputs: QAInputs, encoder, device) -> Task:
    torch.manual_seed(config.training_seed)
    model = BertSpanQA(encoder, config.dropout_p)
    multiple = pad_multiple(device)
    win = {split: Windows(tensors) for split, tensors in inputs.windows.items()}

    def loss(logits, indices):
        t = win["train"].tensors
        return span_loss(logits, t["starts"][indices].to(logits.device), t["ends"][indices].to(logits.device))

    meta = {"task": "qa", "doc_stride": config.doc_stride, "max_answer_length": config.max_answer_length}
    return Task(kind="qa", metrics=["valid_f1", "valid_exact_match"], model=model,
                train_lengths=win["train"].ids.lengths.tolist(),
                batch_inputs=lambda split: partial(window_inputs, win[split], inputs.pad_id, multiple),
                parallel_inputs=True, loss=loss,
                evaluate=partial(evaluate, inputs, win.get("valid"), config.max_answer_length, config.eval_batch_size),
                degenerate=partial(degenerate, win["train"]), meta=meta)


def model_from_meta(encoder, meta) -> BertSpanQA:
    return BertSpanQA(encoder, meta["dropout_p"])
