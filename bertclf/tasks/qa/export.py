"""A QA model's portable form: its start and end logits as the two outputs transformers' QA models
give (ONNX only: transformers has no class for this project's span head), and how a model card reads
the ONNX copy: the best span of one window."""
from pathlib import PurePosixPath
from typing import List

import torch
from torch import nn

from ..task import PortableForm

OUTPUTS = ("start_logits", "end_logits")


def portable_form(model) -> PortableForm:
    return PortableForm(module=SpanLogits(model), outputs=OUTPUTS,
                        axes={name: {0: "batch", 1: "sequence"} for name in OUTPUTS},
                        probabilities=span_probabilities, config=model.encoder.config, two_texts=True, documents=False,
                        transformers_copy=lambda: (None, "only classifiers get a transformers copy"))


class SpanLogits(nn.Module):
    """A QA model's [batch, tokens, 2] logits as the two outputs transformers' QA models give."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        logits = self.model(input_ids, attention_mask, token_type_ids)
        return logits[..., 0], logits[..., 1]


def span_probabilities(start_logits, end_logits):
    """[batch, 2, tokens]: where the answer starts and ends, as probabilities over the tokens (padding 0)."""
    return torch.stack([start_logits, end_logits], 1).float().softmax(-1)


def onnx_usage(name: str, copy_path: PurePosixPath, copies, meta) -> List[str]:
    """The model card's paragraph and snippet on answering a question with the ONNX copy at name/copy_path."""
    return [f"With onnxruntime ({copy_path} holds encoder and span head; inputs "
            f"{', '.join(copies.onnx_inputs)}, as the tokenizer beside it returns them for a question and "
            f"its passage; outputs start_logits and end_logits [batch, tokens], padding at a large negative "
            f"value; their probabilities match this project's within {copies.onnx_difference:.1g}). "
            f"The answer is the span from the best start to the best end; this project also cuts a passage "
            f"longer than {meta['max_length']} tokens into windows that overlap by {meta['doc_stride']} tokens "
            f"and takes the best span of any window (tokenizer options stride and "
            f"return_overflowing_tokens):", "", "```python", "import onnxruntime",
            "from transformers import AutoTokenizer",
            f'tokenizer = AutoTokenizer.from_pretrained("{name}/{copy_path.parent}")',
            f'session = onnxruntime.InferenceSession("{name}/{copy_path}")',
            'question, passage = "a question", "the passage that holds the answer"',
            'batch = tokenizer([question], [passage], truncation="only_second", return_offsets_mapping=True, '
            'return_tensors="np")',
            "start, end = session.run(None, {i.name: batch[i.name] for i in session.get_inputs()})",
            "first, last = int(start[0].argmax()), int(end[0].argmax())",
            "offsets = batch[\"offset_mapping\"][0]",
            "print(passage[offsets[first][0]:offsets[last][1]] if batch.sequence_ids(0)[first] == 1 "
            "and last >= first else \"\")", "```", ""]
