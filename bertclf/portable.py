"""A saved model made loadable without bert-hpo: as ONNX (folder onnx/: a classifier with its pooling
and head, for every pooling and head; a QA model's start and end logits), and a classifier also as
transformers' own `AutoModelForSequenceClassification` (folder hf/) where the pooling and head map onto
it. Each copy is checked against the model as `--predict` runs it before it is kept.

Both folders hold the tokenizer, set to the model's max_length and truncation side, and a config.json
(a classifier's id2label holds the user's label names). A model that reads two texts (a classifier of
text pairs, a QA model's question and context) with token types takes token_type_ids as an ONNX input,
as its tokenizer returns them. A classifier of texts cut into windows (truncation chunks) takes the windows
and doc_index, the text of each window (the tokenizer's overflow_to_sample_mapping), and pools them per
text inside the graph: the pooling is checked with the rest, and a runtime needs no code of this project's."""
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import List, Optional

import torch

from .models.heads import takes_token_types
from .predict import load_model
from .tasks import task_named

HF_FOLDER, ONNX_FOLDER, ONNX_FILE = "hf", "onnx", "model.onnx"
ONNX_PATH = PurePosixPath(ONNX_FOLDER, ONNX_FILE)  # inside a model folder
ONNX_INPUTS = ("input_ids", "attention_mask")
TOKEN_TYPES = "token_type_ids"
DOC_INDEX = "doc_index"
ONNX_OPSET = 17
# Largest difference in any probability (a class's; a QA span start's or end's over the tokens) that
# still counts as the same prediction: fp32 kernels of two runtimes differ by ~1e-7; a wrong mapping
# differs by far more.
TOLERANCE = 1e-4
# How this machine loaded the tokenizer (offline, from a folder): saved, they would bind every later load.
LOAD_TIME_KEYS = ("local_files_only", "is_local")


@dataclass
class PortableCopies:
    """What write_portable wrote. A difference is the largest probability gap to this project's on probe
    inputs; a copy is kept only when it is within TOLERANCE."""
    onnx_inputs: List[str]  # the ONNX copy's input names
    onnx: Optional[Path] = None  # its folder, or None with why_not_onnx
    onnx_difference: Optional[float] = None
    why_not_onnx: Optional[str] = None
    hf: Optional[Path] = None  # the transformers copy's folder, or None with why_not_hf
    hf_difference: Optional[float] = None
    why_not_hf: Optional[str] = None
    tokenizer_note: Optional[str] = None  # what a plain tokenizer does differently from the model's training


def write_portable(model_dir, encoder_path=None) -> PortableCopies:
    """Write model_dir/onnx, and model_dir/hf where the model maps onto a transformers class.

    encoder_path: where a frozen encoder's weights are, when not at the model's bert_name."""
    model_dir = Path(model_dir)
    model, tokenizer, meta = load_model(model_dir, encoder_path)
    _set_as_trained(tokenizer, meta)
    form = task_named(meta["task"]).portable_form(model, meta)
    names = onnx_inputs(form.two_texts, model.encoder, form.documents)
    probe = probe_inputs(tokenizer, model.encoder.config.vocab_size, TOKEN_TYPES in names, form.documents)
    copies = PortableCopies(onnx_inputs=list(names))
    with torch.no_grad():
        expected = form.probabilities(*_as_tuple(form.module(**probe)))
    if meta.get("truncation") == "head+tail":
        copies.tokenizer_note = ("the model was trained on head+tail truncation (the first quarter and the last "
                                 "three quarters of a long text); a plain tokenizer keeps the head only")
    try:
        copies.onnx, copies.onnx_difference = _kept(model_dir / ONNX_FOLDER, lambda folder: _write_onnx(
            form, probe, names, expected, tokenizer, folder))
        if copies.onnx is None:
            copies.why_not_onnx = f"its probabilities were up to {copies.onnx_difference:.2g} away from this project's"
    except Exception as error:  # any exporter failure: a copy for elsewhere must not cost the search its outputs
        copies.why_not_onnx = f"the export failed: {str(error).splitlines()[0]}"
    hf_model, copies.why_not_hf = form.transformers_copy()
    if hf_model is not None:
        copies.hf, copies.hf_difference = _kept(model_dir / HF_FOLDER, lambda folder: _write_hf(
            hf_model, form.probabilities, probe, expected, tokenizer, folder))
        if copies.hf is None:
            copies.why_not_hf = (f"transformers' {type(hf_model).__name__} with these weights gives probabilities "
                                 f"up to {copies.hf_difference:.2g} away from this project's")
            if meta.get("cached_features"):
                copies.why_not_hf += " (boost trained the head on features rounded to fp16; that class does not round)"
    return copies


def _set_as_trained(tokenizer, meta) -> None:
    """The tokenizer cuts texts to the model's max_length on its truncation side, and keeps nothing of how
    this machine loaded it; set on init_kwargs too: that is what save_pretrained writes."""
    for key, value in (("model_max_length", meta["max_length"]),
                       ("truncation_side", "left" if meta.get("truncation") == "tail" else "right")):
        setattr(tokenizer, key, value)
        tokenizer.init_kwargs[key] = value
    for key in LOAD_TIME_KEYS:
        tokenizer.init_kwargs.pop(key, None)


def onnx_inputs(two_texts: bool, encoder, documents: bool = False) -> tuple:
    """The ONNX copy's input names: token_type_ids too where the model reads two texts (a classifier of
    text pairs, a QA model) and its encoder has token types (a single text's are all 0, the default);
    doc_index where it reads windows of texts."""
    return (ONNX_INPUTS + ((TOKEN_TYPES,) if two_texts and takes_token_types(encoder) else ())
            + ((DOC_INDEX,) if documents else ()))


def _as_tuple(outputs) -> tuple:
    return outputs if isinstance(outputs, tuple) else (outputs,)


def probe_inputs(tokenizer, vocab_size: int, token_types: bool = False, documents: bool = False) -> dict:
    """Two seeded token sequences [2, 24], the second padded, framed by [CLS] ... [SEP] as the model reads
    them; with token_types, each a pair [CLS] a [SEP] b [SEP] whose b [SEP] has token type 1; with
    documents, three: windows of two texts, the first text's two (doc_index 0, 0, 1)."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab_size, (3 if documents else 2, 24), generator=generator)
    ids[:, 0] = tokenizer.cls_token_id
    ids[0, -1] = ids[1, 15] = tokenizer.sep_token_id
    mask = torch.ones_like(ids)
    mask[1, 16:] = 0
    ids[1, 16:] = tokenizer.pad_token_id or 0
    probe = {"input_ids": ids, "attention_mask": mask}
    if documents:
        ids[2, -1] = tokenizer.sep_token_id
        probe[DOC_INDEX] = torch.tensor([0, 0, 1])
    if token_types:
        ids[0, 9] = ids[1, 6] = tokenizer.sep_token_id  # the first text's end
        types = torch.zeros_like(ids)
        types[0, 10:] = 1
        types[1, 7:16] = 1
        probe[TOKEN_TYPES] = types
    return probe


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


def _write_hf(hf_model, probabilities, probe, expected, tokenizer, folder: Path) -> float:
    with torch.no_grad():
        got = probabilities(hf_model(**probe).logits)
    hf_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return float((got - expected).abs().max())


def _write_onnx(form, probe, names, expected, tokenizer, folder: Path) -> float:
    """Export the form's module on the probe's inputs `names` (dynamic batch and length), run it in
    onnxruntime: the largest gap between its probabilities and `expected`."""
    import onnxruntime
    axes = {**{name: {0: "batch", 1: "sequence"} for name in names if name != DOC_INDEX},
            **({DOC_INDEX: {0: "batch"}} if DOC_INDEX in names else {}), **form.axes}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python branches it freezes: shapes stay dynamic
        torch.onnx.export(form.module, (), str(folder / ONNX_FILE), kwargs={name: probe[name] for name in names},
                          input_names=list(names), output_names=list(form.outputs), dynamic_axes=axes,
                          opset_version=ONNX_OPSET, dynamo=False)
    session = onnxruntime.InferenceSession(str(folder / ONNX_FILE), providers=["CPUExecutionProvider"])
    got = session.run(None, {name: probe[name].numpy() for name in names})
    form.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return float((form.probabilities(*map(torch.from_numpy, got)) - expected).abs().max())
