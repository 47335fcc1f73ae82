"""A saved model made loadable without bert-hpo: as ONNX (folder onnx/: a classifier with its pooling
and head, for every pooling and head; a QA model's start and end logits), and a classifier also as
transformers' own `AutoModelForSequenceClassification` (folder hf/) where the pooling and head map onto
it. Each copy is checked against the model as `--predict` runs it before it is kept.

Both folders hold the tokenizer, set to the model's max_length and truncation side, and a config.json
(a classifier's id2label holds the user's label names). A model that reads two texts (a classifier of
text pairs, a QA model's question and context) with token types takes token_type_ids as an ONNX input,
as its tokenizer returns them."""
import os
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from .heads import takes_token_types
from .predict import load_model

HF_FOLDER, ONNX_FOLDER, ONNX_FILE = "hf", "onnx", "model.onnx"
ONNX_INPUTS = ("input_ids", "attention_mask")
TOKEN_TYPES = "token_type_ids"
QA_OUTPUTS = ("start_logits", "end_logits")
ONNX_OPSET = 17
# Largest difference in any probability (a class's; a QA span start's or end's over the tokens) that
# still counts as the same prediction: fp32 kernels of two runtimes differ by ~1e-7; a wrong mapping
# differs by far more.
TOLERANCE = 1e-4
# How this machine loaded the tokenizer (offline, from a folder): saved, they would bind every later load.
LOAD_TIME_KEYS = ("local_files_only", "is_local")


def write_portable(model_dir, encoder_path=None) -> dict:
    """Write model_dir/onnx, and for a classifier model_dir/hf (when the model maps onto transformers' class).

    encoder_path: where a frozen encoder's weights are, when not at the model's bert_name.
    Returns {"task", "onnx": folder or None, "onnx_inputs": the ONNX copy's input names,
    "onnx_difference", "why_not_onnx" (when not written), "hf": folder or None, "hf_difference",
    "why_not_hf": reason or None, "tokenizer_note": what a plain tokenizer does differently, or None};
    a difference is the largest probability gap on probe inputs, and a copy is kept only when it is
    within TOLERANCE."""
    model_dir = Path(model_dir)
    model, tokenizer, meta = load_model(model_dir, encoder_path)
    # set on init_kwargs too: that is what save_pretrained writes to tokenizer_config.json
    for key, value in (("model_max_length", meta["max_length"]),
                       ("truncation_side", "left" if meta.get("truncation") == "tail" else "right")):
        setattr(tokenizer, key, value)
        tokenizer.init_kwargs[key] = value
    for key in LOAD_TIME_KEYS:
        tokenizer.init_kwargs.pop(key, None)
    names = onnx_inputs(meta, model.encoder)
    probe = probe_inputs(tokenizer, model.encoder.config.vocab_size, TOKEN_TYPES in names)
    info = {"task": meta["task"], "onnx_inputs": list(names), "tokenizer_note": None, "hf": None}
    if meta["task"] == "qa":
        info["why_not_hf"] = "only classifiers get a transformers copy; use ONNX below, or this project"
        module, outputs, probabilities, config = SpanLogits(model), QA_OUTPUTS, span_probabilities, \
            model.encoder.config
    else:
        module, outputs, probabilities = model, ("logits",), class_probabilities
        config = labelled_config(model.encoder.config, meta["label_names"])
    with torch.no_grad():
        expected = probabilities(*_as_tuple(module(**probe)))
    if meta.get("truncation") == "head+tail":
        info["tokenizer_note"] = ("the model was trained on head+tail truncation (the first quarter and the last "
                                  "three quarters of a long text); a plain tokenizer keeps the head only")
    try:
        info["onnx"], info["onnx_difference"] = _kept(model_dir / ONNX_FOLDER, lambda folder: _write_onnx(
            module, probe, names, outputs, probabilities, expected, config, tokenizer, folder))
    except Exception as error:  # any exporter failure: a copy for elsewhere must not cost the search its outputs
        info["onnx"], info["why_not_onnx"] = None, f"the export failed: {str(error).splitlines()[0]}"
    if info["onnx"] is None and "why_not_onnx" not in info:
        info["why_not_onnx"] = f"its probabilities were up to {info['onnx_difference']:.2g} away from this project's"
    if meta["task"] == "qa":
        return info
    hf_model, info["why_not_hf"] = transformers_model(model, meta, config)
    if hf_model is not None:
        info["hf"], info["hf_difference"] = _kept(model_dir / HF_FOLDER, lambda folder: _write_hf(
            hf_model, probe, expected, tokenizer, folder))
        if info["hf"] is None:
            info["why_not_hf"] = (f"transformers' {type(hf_model).__name__} with these weights gives probabilities "
                                  f"up to {info['hf_difference']:.2g} away from this project's")
            if meta["cached_features"]:
                info["why_not_hf"] += " (boost trained the head on features rounded to fp16; that class does not round)"
    return info


def onnx_inputs(meta, encoder) -> tuple:
    """The ONNX copy's input names: token_type_ids too where the model reads two texts (a classifier of
    text pairs, a QA model) and its encoder has token types; a single text's are all 0, the default."""
    two_texts = meta["task"] == "qa" or meta.get("pairs")
    return ONNX_INPUTS + ((TOKEN_TYPES,) if two_texts and takes_token_types(encoder) else ())


class SpanLogits(nn.Module):
    """A QA model's [batch, tokens, 2] logits as the two outputs transformers' QA models give."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        logits = self.model(input_ids, attention_mask, token_type_ids)
        return logits[..., 0], logits[..., 1]


def class_probabilities(logits):
    """[batch, classes] probabilities of [batch, classes] logits."""
    return logits.float().softmax(-1)


def span_probabilities(start_logits, end_logits):
    """[batch, 2, tokens]: where the answer starts and ends, as probabilities over the tokens (padding 0)."""
    return torch.stack([start_logits, end_logits], 1).float().softmax(-1)


def _as_tuple(outputs) -> tuple:
    return outputs if isinstance(outputs, tuple) else (outputs,)


def labelled_config(encoder_config, label_names):
    config = encoder_config.__class__.from_dict(encoder_config.to_dict())
    config.num_labels = len(label_names)
    config.id2label = {i: str(name) for i, name in enumerate(label_names)}
    config.label2id = {str(name): i for i, name in enumerate(label_names)}
    return config


def probe_inputs(tokenizer, vocab_size: int, token_types: bool = False) -> dict:
    """Two seeded token sequences [2, 24], the second padded, framed by [CLS] ... [SEP] as the model reads
    them; with token_types, each a pair [CLS] a [SEP] b [SEP] whose b [SEP] has token type 1."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab_size, (2, 24), generator=generator)
    ids[:, 0] = tokenizer.cls_token_id
    ids[0, -1] = ids[1, 15] = tokenizer.sep_token_id
    mask = torch.ones_like(ids)
    mask[1, 16:] = 0
    ids[1, 16:] = tokenizer.pad_token_id or 0
    probe = {"input_ids": ids, "attention_mask": mask}
    if token_types:
        ids[0, 9] = ids[1, 6] = tokenizer.sep_token_id  # the first text's end
        types = torch.zeros_like(ids)
        types[0, 10:] = 1
        types[1, 7:16] = 1
        probe[TOKEN_TYPES] = types
    return probe


def transformers_model(model, meta, config):
    """(transformers' ...ForSequenceClassification holding the same weights, None) where the pooled
    [CLS] output feeds a linear head, as in that class; else (None, why)."""
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


def _kept(target: Path, write):
    """(target, difference) after write(staging folder) -> difference, the folder moved into place only
    when the difference is within TOLERANCE; else (None, difference), nothing left behind."""
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        difference = write(staging)
        if difference > TOLERANCE:
            return None, difference
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        return target, difference
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_hf(hf_model, probe, expected, tokenizer, folder: Path) -> float:
    with torch.no_grad():
        got = class_probabilities(hf_model(**probe).logits)
    hf_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return float((got - expected).abs().max())


def _write_onnx(module, probe, names, outputs, probabilities, expected, config, tokenizer, folder: Path) -> float:
    """Export `module` on the probe's inputs `names` (dynamic batch and length), run it in onnxruntime:
    the largest gap between its probabilities and `expected`."""
    import onnxruntime
    axes = {name: {0: "batch", 1: "sequence"} for name in (*names, *outputs)}
    if outputs == ("logits",):
        axes["logits"] = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python branches it freezes: shapes stay dynamic
        torch.onnx.export(module, (), str(folder / ONNX_FILE), kwargs={name: probe[name] for name in names},
                          input_names=list(names), output_names=list(outputs), dynamic_axes=axes,
                          opset_version=ONNX_OPSET, dynamo=False)
    session = onnxruntime.InferenceSession(str(folder / ONNX_FILE), providers=["CPUExecutionProvider"])
    got = session.run(None, {name: probe[name].numpy() for name in names})
    config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return float((probabilities(*map(torch.from_numpy, got)) - expected).abs().max())
