"""Extractive QA (SQuAD / KorQuAD 1.0) as a task: windows, start/end head, EM and F1."""
import math
from dataclasses import dataclass
from functools import partial
from typing import Dict, List

import torch

from .batching import eval_batches
from .data import seeded_subset, subset_note, describe_test_data
from .errors import UserError
from .model import autocast
from .qa import BertSpanQA, Windows, answers_of, decode, span_loss, window_inputs, windows
from .qa_metrics import score as korquad_score
from .squad import QAExample, read_squad, split_by_article
from .task import Task


def check_options(config, bad) -> None:
    """bad(option, expected, value) raises the one-line error."""
    if config.boost:
        raise UserError("--boost with --task qa is refused: boost caches one pooled vector per text, but a span head "
                        "needs every token's vector (max_length x hidden x 2 bytes per window, ~0.8 MB at 512 x 768, "
                        "~50 GB for KorQuAD's train set); train QA with --bert_finetuning True")
    if config.pooling != "cls" or config.layers != "last" or config.head != "linear":
        raise UserError("--pooling, --layers and --head apply to classification; a QA span head reads the last "
                        "layer's token vectors")
    if not 0 < config.doc_stride < config.max_length // 2:
        bad("doc_stride", f"a stride in (0, max_length / 2 = {config.max_length // 2})", config.doc_stride)
    if config.max_answer_length < 1:
        bad("max_answer_length", "a positive number of tokens", config.max_answer_length)


@dataclass
class QAInputs:
    """What a run reads, prepared once; picklable, so a search ships it to every trial."""
    windows: Dict[str, dict]  # split -> the window tensors of qa.windows
    examples: Dict[str, List[QAExample]]  # the questions of the splits that are decoded (valid, test)
    pad_id: int
    description: str


def _subset(examples, limit, seed):
    if limit is None:
        return examples
    return [examples[i] for i in seeded_subset(len(examples), limit, seed)]


def prepare(config, tokenizer, log) -> QAInputs:
    train = read_squad(config.train_path, "train_path")
    if config.valid_path:
        valid, source = read_squad(config.valid_path, "valid_path"), "valid_path"
    elif config.valid_fraction > 0:
        train, valid = split_by_article(train, config.valid_fraction, config.seed)
        source = f"{config.valid_fraction:.0%} of the articles held out of train (seed {config.seed})"
    else:
        valid, source = [], "none: all of train is trained on"
    full = (len(train), len(valid))
    train = _subset(train, config.max_train_samples, config.seed)
    valid = _subset(valid, config.max_valid_samples, config.seed + 1)
    source += subset_note([("train", len(train), full[0]), ("valid", len(valid), full[1])])
    parts = {"train": train, **({"valid": valid} if valid else {})}
    win = {split: windows(tokenizer, examples, config.max_length, config.doc_stride, config.cache_dir)
           for split, examples in parts.items()}
    description = (f"{len(train)} train / {len(valid)} valid questions ({source}); "
                   f"{len(win['train']['lengths'])} train windows of {config.max_length} tokens, "
                   f"stride {config.doc_stride}")
    return QAInputs(windows=win, examples={"valid": valid}, pad_id=tokenizer.pad_token_id or 0,
                    description=description)


def build(config, inputs: QAInputs, encoder, device) -> Task:
    torch.manual_seed(config.training_seed)
    model = BertSpanQA(encoder, config.dropout_p)
    multiple = 8 if device.type == "cuda" else 1
    win = {split: Windows(tensors) for split, tensors in inputs.windows.items()}

    def loss(logits, indices):
        t = win["train"].tensors
        return span_loss(logits, t["starts"][indices].to(logits.device), t["ends"][indices].to(logits.device))

    def evaluate(run, rank, world, reduce):
        # every worker decodes every question: a question's windows must meet in one place
        valid = win["valid"]
        loss_sum, by_window = 0.0, {}
        for indices, logits in run(eval_batches(valid.ids.lengths.tolist(), config.eval_batch_size)):
            loss_sum += span_loss(logits, valid.tensors["starts"][indices], valid.tensors["ends"][indices]).item()
            by_window.update({w: logits[row] for row, w in enumerate(indices)})
        examples = inputs.examples["valid"]
        scores = korquad_score(decode(examples, valid, by_window, max_answer_length=config.max_answer_length),
                               answers_of(examples))
        return {"valid_loss": loss_sum / len(valid), "valid_f1": scores["f1"],
                "valid_exact_match": scores["exact_match"]}

    def degenerate(metrics) -> bool:
        """Almost no answer overlap, and a span loss still at the level of guessing among a window's tokens."""
        chance = math.log(win["train"].ids.lengths.float().mean().item())
        return metrics["valid_f1"] < 5.0 and metrics["train_loss"] >= 0.97 * chance

    meta = {"task": "qa", "doc_stride": config.doc_stride, "max_answer_length": config.max_answer_length}
    return Task(kind="qa", metrics=["valid_f1", "valid_exact_match"], model=model,
                train_lengths=win["train"].ids.lengths.tolist(),
                batch_inputs=lambda split: partial(window_inputs, win[split], inputs.pad_id, multiple),
                parallel_inputs=True, loss=loss, evaluate=evaluate, degenerate=degenerate, meta=meta)


def model_from_meta(encoder, meta) -> BertSpanQA:
    return BertSpanQA(encoder, meta["dropout_p"])


def prepare_test(path, meta, tokenizer, cache_dir, max_examples=None) -> QAInputs:
    everything = read_squad(path, "test data")
    examples = _subset(everything, max_examples, 0)
    return QAInputs(windows={"test": windows(tokenizer, examples, meta["max_length"], meta["doc_stride"], cache_dir)},
                    examples={"test": examples}, pad_id=tokenizer.pad_token_id or 0,
                    description=describe_test_data(len(examples), len(everything), "questions", path))


def predictions(model, meta, inputs: QAInputs, split: str, *, device, bf16: bool, batch_size: int) -> Dict[str, str]:
    """{question id: answer text} of a model over the questions of `split`."""
    win = Windows(inputs.windows[split])
    model.to(device).eval()
    by_window = {}
    with torch.inference_mode():
        for idx in eval_batches(win.ids.lengths.tolist(), batch_size):
            batch = window_inputs(win, inputs.pad_id, 1, idx)
            with autocast(device, bf16):
                logits = model(**{k: v.to(device) for k, v in batch.items()}).float().cpu()
            by_window.update({w: logits[row] for row, w in enumerate(idx)})
    return decode(inputs.examples[split], win, by_window, max_answer_length=meta["max_answer_length"])


def answer_questions(model_dir, pairs, batch_size: int = 64, device="cpu") -> List[dict]:
    """[(question, context)] -> [{"question", "answer"}] with a saved QA model."""
    import tempfile
    from .model_io import load_model
    model, tokenizer, meta = load_model(model_dir)
    examples = [QAExample(str(i), q, c, [""], 0, "") for i, (q, c) in enumerate(pairs)]
    with tempfile.TemporaryDirectory(prefix="bert-hpo-qa-") as cache:
        inputs = QAInputs(windows={"ask": windows(tokenizer, examples, meta["max_length"], meta["doc_stride"], cache)},
                          examples={"ask": examples}, pad_id=tokenizer.pad_token_id or 0, description="")
    answers = predictions(model, meta, inputs, "ask", device=torch.device(device), bf16=False, batch_size=batch_size)
    return [{"question": e.question, "answer": answers[e.qid]} for e in examples]


def predict(args) -> List[dict]:
    """--predict with --question and --context, one --context per --question."""
    questions, contexts = args.question or [], args.context or []
    if not questions or len(questions) != len(contexts):
        raise UserError("a QA model needs --question \"...\" --context \"...\" (one --context per --question)")
    return answer_questions(args.model, list(zip(questions, contexts)))


def score(model, meta, inputs: QAInputs, *, device, bf16: bool, batch_size: int, cache_dir) -> dict:
    """KorQuAD EM / F1 (percent) on inputs' test questions."""
    examples = inputs.examples["test"]
    predicted = predictions(model, meta, inputs, "test", device=device, bf16=bf16, batch_size=batch_size)
    return {**korquad_score(predicted, answers_of(examples)), "examples": len(examples)}
