"""A multi-label classifier's portable form: classification's, with sigmoid probabilities and a config
whose problem_type is multi_label_classification and which holds the thresholds; and how a model card
reads its copies and applies the thresholds."""
from pathlib import PurePosixPath
from typing import List

import torch

from ...data.label_values import label_text
from ..classification import export as classification
from ..task import PortableForm


def label_probabilities(logits):
    """[batch, labels] probabilities of [batch, labels] logits: one sigmoid per label."""
    return torch.sigmoid(logits.float())


def thresholds_of(model, meta) -> dict:
    """{label as written: its decision threshold}, as the model holds them."""
    return {label_text(name): round(float(t), 4) for name, t in zip(meta["label_names"], model.head.thresholds)}


def portable_form(model, meta) -> PortableForm:
    config = classification.labelled_config(model.encoder.config, meta["label_names"])
    config.problem_type = "multi_label_classification"
    config.thresholds = thresholds_of(model, meta)  # saved in config.json, beside id2label
    return classification.portable_form(model, meta, config, label_probabilities)


def applying_thresholds() -> List[str]:
    """The card's paragraph on thresholds: what a label set is."""
    return ["A text's labels are those whose probability (a sigmoid per label) reaches the label's threshold, tuned on "
            "the validation split and saved in config.json as `thresholds` (label: threshold); a text may have "
            "none, one or several.", ""]


def hf_usage(name: str, copy_folder: str, copies, meta) -> List[str]:
    """The card's paragraph and snippet on labelling texts with the transformers copy at name/copy_folder."""
    folder = f"{name}/{copy_folder}"
    texts = classification.example_texts(meta)
    return [
        f"With transformers alone ({copy_folder}/ holds a standard AutoModelForSequenceClassification with "
        f'problem_type "multi_label_classification"; its probabilities match this project\'s within '
        f"{copies.hf_difference:.1g}):", "", "```python", "import torch",
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        f'tokenizer = AutoTokenizer.from_pretrained("{folder}")',
        f'model = AutoModelForSequenceClassification.from_pretrained("{folder}")',
        f'batch = tokenizer({texts}, truncation=True, padding=True, return_tensors="pt")',
        "probabilities = torch.sigmoid(model(**batch).logits)[0]",
        "labels = model.config.id2label",
        "print([labels[i] for i, p in enumerate(probabilities) if p >= model.config.thresholds[labels[i]]])",
        "```", ""]


def onnx_usage(name: str, copy_path: PurePosixPath, copies, meta) -> List[str]:
    """The card's paragraph and snippet on labelling texts with the ONNX copy at name/copy_path."""
    folder = f"{name}/{copy_path.parent}"
    return classification.onnx_usage(name, copy_path, copies, meta, "label names and thresholds", (
        "import math",
        f'thresholds = AutoConfig.from_pretrained("{folder}").thresholds',
        "probabilities = [1 / (1 + math.exp(-x)) for x in logits[0]]",
        "print([labels[i] for i, p in enumerate(probabilities) if p >= thresholds[labels[i]]])"))
