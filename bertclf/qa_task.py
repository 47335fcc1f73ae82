"""Extractive QA (SQuAD / KorQuAD 1.0) as a Task: windows, start/end head, EM and F1."""
from functools import partial

import torch

from .batching import eval_batches
from .errors import UserError
from .qa import BertSpanQA, Windows, answers_of, decode, span_loss, window_inputs, windows
from .qa_metrics import score
from .squad import read_squad, split_by_article
from .task import Task


def qa_task(config, tokenizer, encoder, device, say, show_progress, features_only=False):
    train = read_squad(config.train_path, "train_path")
    if config.valid_path:
        valid, source = read_squad(config.valid_path, "valid_path"), "valid_path"
    else:
        train, valid = split_by_article(train, config.valid_fraction, config.seed)
        source = f"{config.valid_fraction:.0%} of the articles held out of train (seed {config.seed})"
    for name, limit in (("train", config.max_train_samples), ("valid", config.max_valid_samples)):
        if limit is not None:
            chosen = sorted(torch.randperm(len(locals()[name]), generator=torch.Generator().manual_seed(
                config.seed))[:limit].tolist())
            if name == "train":
                train = [train[i] for i in chosen]
            else:
                valid = [valid[i] for i in chosen]
    say(f"data: {len(train)} train / {len(valid)} valid questions ({source})")
    win = {split: Windows(windows(tokenizer, examples, config.max_length, config.doc_stride, config.cache_dir))
           for split, examples in (("train", train), ("valid", valid))}
    say(f"windows: {len(win['train'])} train / {len(win['valid'])} valid of {config.max_length} tokens, "
        f"stride {config.doc_stride}")
    if features_only:
        return None
    torch.manual_seed(config.seed)
    model = BertSpanQA(encoder, config.dropout_p)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    multiple = 8 if device.type == "cuda" else 1
    targets = {split: (w.tensors["starts"], w.tensors["ends"]) for split, w in win.items()}

    def loss(logits, indices):
        starts, ends = targets["train"]
        return span_loss(logits, starts[indices].to(logits.device), ends[indices].to(logits.device))

    def evaluate(run, rank, world, reduce):
        # every worker decodes every question: a question's windows must meet in one place
        batches = eval_batches(win["valid"].ids.lengths.tolist(), config.eval_batch_size)
        loss_sum, by_window = 0.0, {}
        starts, ends = targets["valid"]
        for indices, logits in run(batches):
            loss_sum += span_loss(logits, starts[indices], ends[indices]).item()
            for row, w in enumerate(indices):
                by_window[w] = logits[row]
        predictions = decode(valid, win["valid"], by_window, max_answer_length=config.max_answer_length)
        scores = score(predictions, answers_of(valid))
        return {"valid_loss": loss_sum / len(win["valid"]), "valid_f1": scores["f1"],
                "valid_exact_match": scores["exact_match"]}

    meta = {"task": "qa", "doc_stride": config.doc_stride, "max_answer_length": config.max_answer_length}
    return Task(kind="qa", metrics=["valid_f1", "valid_exact_match"], model=model,
                train_lengths=win["train"].ids.lengths.tolist(),
                batch_inputs=lambda split: partial(window_inputs, win[split], pad_id, multiple),
                parallel_inputs=True, loss=loss, evaluate=evaluate, meta=meta)


def refuse_boost() -> None:
    raise UserError("--boost with --task qa is refused: boost caches one pooled vector per text, but "
                    "a span head needs every token's vector (max_length x hidden x 2 bytes per window, "
                    "~0.8 MB at 512 x 768, ~50 GB for KorQuAD's train set); train QA with "
                    "--bert_finetuning True")
