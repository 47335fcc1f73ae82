"""Saved models at work: answers for new inputs (--predict), and the score on a test split.

Scoring is two steps so that a cluster can split them: `test_inputs` reads and tokenises the test
file (where the data is), `score_model` runs the model on them (where the GPU is)."""
from .model import pick_device, uses_bf16
from .model_io import load_model, read_meta
from .tasks import task_kind


def predict(args) -> list:
    """One JSON-able row per request of `launch.py --predict` (texts, or questions with contexts)."""
    return task_kind(read_meta(args.model)["task"]).predict(args)


def test_inputs(model_dir, path, cache_dir, max_examples=None, encoder_path=None):
    """The test split of `path` tokenised as the model in `model_dir` expects (a seeded subset if asked)."""
    from .model import load_tokenizer, resolve_model
    meta = read_meta(model_dir)
    source = f"{model_dir}/encoder" if meta["finetuned"] else encoder_path or resolve_model(meta["bert_name"])[0]
    return task_kind(meta["task"]).prepare_test(path, meta, load_tokenizer(source), cache_dir, max_examples)


def score_model(model_dir, inputs, *, cache_dir, device="auto", precision="auto", batch_size=64,
                encoder_path=None) -> dict:
    """The task's test scores (accuracy; EM and F1 for QA) of a saved model, batched like evaluation."""
    model, _, meta = load_model(model_dir, encoder_path)
    device = pick_device(device)
    return task_kind(meta["task"]).score(model, meta, inputs, device=device, bf16=uses_bf16(precision, device),
                                         batch_size=batch_size, cache_dir=cache_dir)
