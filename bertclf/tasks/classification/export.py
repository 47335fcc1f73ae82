"""A classifier's portable form: the model itself to ONNX, its probabilities, a config naming the
user's labels, and transformers' own ...ForSequenceClassification where the pooling and head map onto
it; and how a model card reads the transformers and ONNX copies."""
from functools import partial
from pathlib import PurePosixPath
from typing import List

import torch
from torch import nn

from ...data.label_values import label_text
from ..task import PortableForm


def portable_form(model, meta, config=None, probabilities=None) -> PortableForm:
    """config: the copies' (labelled_config's unless given); probabilities: of the logits (class_probabilities'
    unless given)."""
    config = config or labelled_config(model.encoder.config, meta["label_names"])
    documents = meta["truncation"] == "chunks"
    return PortableForm(module=model, outputs=("logits",), axes={"logits": {0: "texts" if documents else "batch"}},
                        probabilities=probabilities or class_probabilities, config=config,
                        two_texts=bool(meta.get("pairs")), documents=documents,
                        transformers_copy=partial(transformers_model, model, meta, config))


def class_probabilities(logits):
    """[batch, classes] probabilities of [batch, classes] logits."""
    return logits.float().softmax(-1)


def labelled_config(encoder_config, label_names):
    config = encoder_config.__class__.from_dict(encoder_config.to_dict())
    config.num_labels = len(label_names)
    config.id2label = {i: label_text(name) for i, name in enumerate(label_names)}
    config.label2id = {label_text(name): i for i, name in enumerate(label_names)}
    return config


def transformers_model(model, meta, config):
    """(transformers' ...ForSequenceClassification holding the same weights, None) where the pooled
    [CLS] output feeds a linear head, as in that class; else (None, why)."""
    if meta["truncation"] == "chunks":
        return None, ("truncation chunks pools the windows of a text into one vector, which transformers' "
                      "classes do not")
    if (meta["pooling"], meta["layers"], meta["head"]) != ("cls", "last", "linear"):
        return None, (f"pooling {meta['pooling']}, layers {meta['layers']}, head {meta['head']} have no "
                      f"counterpart in transformers' classes (they pool the [CLS] output into a linear head)")
    from transformers import AutoModelForSequenceClassification
    hf_model = AutoModelForSequenceClassification.from_config(config).eval()
    classifier = getattr(hf_model, "classifier", None)
    if not isinstance(classifier, nn.Linear) or getattr(hf_model.base_model, "pooler", None) is None:
        return None, f"transformers' {type(hf_model).__name__} has no pooler with a linear head"
    hf_model.base_model.load_state_dict(model.encoder.state_dict())
    head = model.head
    # the head standardises its input: (x - shift) / scale, folded into the linear layer's weights
    weight = head.layers.weight / head.scale
    with torch.no_grad():
        classifier.weight.copy_(weight)
        classifier.bias.copy_(head.layers.bias - weight @ head.shift)
    return hf_model, None


def hf_usage(name: str, copy_folder: str, copies, meta) -> List[str]:
    """The model card's paragraph and snippet on classifying with the transformers copy at name/copy_folder."""
    asked = ('{"text": "an example text", "text_pair": "its second text"}' if meta.get("pairs") else
             '["an example text"]')
    return [f"With transformers alone ({copy_folder}/ holds a standard "
            f"AutoModelForSequenceClassification; its probabilities match this project's within "
            f"{copies.hf_difference:.1g}; truncation=True cuts a long text as the model was trained):",
            "", "```python", "from transformers import pipeline",
            f'classify = pipeline("text-classification", model="{name}/{copy_folder}")',
            f"print(classify({asked}, truncation=True))", "```", ""]


def onnx_usage(name: str, copy_path: PurePosixPath, copies, meta, beside: str = "label names",
               decide=None) -> List[str]:
    """The model card's paragraph and snippet on classifying with the ONNX copy at name/copy_path: what is
    `beside` it, and the snippet's last lines, which `decide` from `logits` and the `labels` (None: the most
    probable label, or the second where it reaches the model's tuned threshold)."""
    pairs = bool(meta.get("pairs"))
    folder = f"{name}/{copy_path.parent}"
    chunks = meta["truncation"] == "chunks"
    threshold = meta.get("threshold")
    return [f"With onnxruntime ({copy_path} holds encoder, pooling and head; inputs "
            f"{', '.join(copies.onnx_inputs)}, as the tokenizer beside it returns them"
            + (" for a text pair" if pairs else "")
            + (", a text cut into the windows the model reads (doc_index: each window's text; of a text's "
               f"windows at most {meta.get('max_chunks')}, spread over it, are read) and one row of logits a "
               "text" if chunks else "")
            + f"; dynamic batch and length; {beside} beside it; "
            f"probabilities match this project's within {copies.onnx_difference:.1g}"
            + (f"; the second label where its probability reaches the tuned threshold {threshold:.6g}"
               if threshold is not None else "") + "):", "", "```python",
            *(["import numpy as np"] if chunks or threshold is not None else []),
            "import onnxruntime",
            "from transformers import AutoConfig, AutoTokenizer",
            f'tokenizer = AutoTokenizer.from_pretrained("{folder}")',
            f'labels = AutoConfig.from_pretrained("{folder}").id2label',
            f'session = onnxruntime.InferenceSession("{name}/{copy_path}")',
            *onnx_feed(meta),
            "logits = session.run(None, feed)[0]",
            *(decide or (["probabilities = np.exp(logits - logits.max(-1, keepdims=True))",
                          "probabilities /= probabilities.sum(-1, keepdims=True)",
                          f"print([labels[int(p[1] >= {threshold!r})] for p in probabilities])"]
                         if threshold is not None else ["print([labels[int(i)] for i in logits.argmax(-1)])"])),
            "```", ""]


def example_texts(meta) -> str:
    """The model card snippets' texts: one text, or one text pair, as the tokenizer's arguments."""
    return '["an example text"], ["its second text"]' if meta.get("pairs") else '["an example text"]'


def onnx_feed(meta) -> List[str]:
    """The snippet's lines that make `feed`, the ONNX copy's inputs for example_texts: the tokenizer's
    batch, or for truncation chunks the texts cut into the model's windows (bertclf.windows: the
    tokenizer's overflowing tokens, at most max_chunks of a text spread evenly over it)."""
    texts = example_texts(meta)
    if meta["truncation"] != "chunks":
        return [f'batch = tokenizer({texts}, truncation=True, padding=True, return_tensors="np")',
                "feed = {i.name: batch[i.name] for i in session.get_inputs()}"]
    return [f'batch = tokenizer({texts}, truncation=True, max_length={meta["max_length"]}, '
            f'stride={meta["doc_stride"]}, return_overflowing_tokens=True, padding=True, return_tensors="np")',
            'doc = batch["overflow_to_sample_mapping"]',
            f"keep = np.concatenate([np.flatnonzero(doc == d)[np.linspace(0, n - 1, min(n, {meta['max_chunks']}))"
            ".round().astype(int)] for d, n in enumerate(np.bincount(doc))])",
            'feed = {"input_ids": batch["input_ids"][keep], "attention_mask": batch["attention_mask"][keep], '
            '"doc_index": doc[keep]}']
