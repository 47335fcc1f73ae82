"""A regression model's portable form: a classifier's with one output, its config saying
problem_type "regression" and carrying target_mean and target_scale; and how a model card reads the
transformers and ONNX copies: the output times target_scale plus target_mean is the number."""
from dataclasses import replace
from pathlib import PurePosixPath
from typing import List

from ..classification import export as classification
from ..task import PortableForm


def portable_form(model, meta) -> PortableForm:
    """Classification's portable form (windows of a text included) with one output, the number standardised."""
    form = classification.portable_form(model, meta)
    form.config.problem_type = "regression"
    form.config.target_mean, form.config.target_scale = meta["target_mean"], meta["target_scale"]
    return replace(form, probabilities=standardised_number)


def standardised_number(logits):
    """[batch, 1]: the model's output, the number standardised (two runtimes must agree on it)."""
    return logits.float()


def undo_scaling(meta) -> str:
    return (f"the number is the output times target_scale ({meta['target_scale']:.6g}) plus target_mean "
            f"({meta['target_mean']:.6g}), both in config.json")


def hf_usage(name: str, copy_folder: str, copies, meta) -> List[str]:
    """The model card's paragraph and snippet on predicting with the transformers copy at name/copy_folder."""
    folder = f"{name}/{copy_folder}"
    return [f"With transformers alone ({copy_folder}/ holds a standard AutoModelForSequenceClassification with "
            f'problem_type "regression" and one output; {undo_scaling(meta)}; it matches this project\'s within '
            f"{copies.hf_difference:.1g} of a standard deviation; truncation=True cuts a long text as the model "
            f"was trained):", "", "```python",
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            f'tokenizer = AutoTokenizer.from_pretrained("{folder}")',
            f'model = AutoModelForSequenceClassification.from_pretrained("{folder}")',
            f"batch = tokenizer({classification.example_texts(meta)}, truncation=True, padding=True, "
            'return_tensors="pt")',
            "output = model(**batch).logits[:, 0]",
            "print((output * model.config.target_scale + model.config.target_mean).tolist())", "```", ""]


def onnx_usage(name: str, copy_path: PurePosixPath, copies, meta) -> List[str]:
    """The model card's paragraph and snippet on predicting with the ONNX copy at name/copy_path."""
    folder = f"{name}/{copy_path.parent}"
    return [f"With onnxruntime ({copy_path} holds encoder, pooling and head; inputs "
            f"{', '.join(copies.onnx_inputs)}, as the tokenizer beside it returns them"
            + (" for a text pair" if meta.get("pairs") else "")
            + (", a text cut into the windows the model reads (doc_index: each window's text) and one number a text"
               if meta["truncation"] == "chunks" else "") + "; dynamic batch and length; one output, "
            f"{undo_scaling(meta)}; it matches this project's within {copies.onnx_difference:.1g} of a standard "
            f"deviation):", "", "```python", *(["import numpy as np"] if meta["truncation"] == "chunks" else []),
            "import onnxruntime", "from transformers import AutoConfig, AutoTokenizer",
            f'tokenizer = AutoTokenizer.from_pretrained("{folder}")',
            f'config = AutoConfig.from_pretrained("{folder}")',
            f'session = onnxruntime.InferenceSession("{name}/{copy_path}")',
            *classification.onnx_feed(meta),
            "output = session.run(None, feed)[0][:, 0]",
            "print((output * config.target_scale + config.target_mean).tolist())", "```", ""]
