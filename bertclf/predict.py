"""Saved models at work: answers for new inputs (--predict), and the score on a test split.

Scoring is two steps so that a cluster can split them: `test_inputs` reads and tokenises the test
file (where the data is), `score_model` runs the model on them (where the GPU is)."""
from .models.device import pick_device, uses_bf16
from .models.encoders import load_tokenizer
from .models.model_io import encoder_source, load_encoder_of, load_weights, read_meta
from .tasks import task_named


def load_model(folder, encoder_path=None):
    """(model in eval mode, tokenizer, meta) of a saved model folder, for prediction and scoring.

    encoder_path: where a frozen encoder's weights are, when not at the model's bert_name (a copy
    of that folder on another machine). Raises UserError when `folder` holds no bert-hpo model."""
    meta = read_meta(folder)
    encoder, tokenizer = load_encoder_of(folder, meta, encoder_path)
    model = task_named(meta["task"]).model_from_meta(encoder, meta)
    load_weights(model, folder)
    return model.eval(), tokenizer, meta


def predict(args) -> list:
    """One JSON-able row per request of `launch.py --predict` (texts, or questions with contexts)."""
    model, tokenizer, meta = load_model(args.model)
    return task_named(meta["task"]).predict(args, model, tokenizer, meta)


def test_inputs(model_dir, path, cache_dir, max_examples=None, encoder_path=None):
    """The test split of `path` tokenised as the model in `model_dir` expects (a seeded subset if asked)."""
    meta = read_meta(model_dir)
    tokenizer = load_tokenizer(encoder_source(model_dir, meta, encoder_path))
    return task_named(meta["task"]).prepare_test(path, meta, tokenizer, cache_dir, max_examples)


def score_model(model_dir, inputs, *, cache_dir, device="auto", precision="auto", batch_size=64,
                encoder_path=None) -> dict:
    """The task's test scores (accuracy; EM and F1 for QA) of a saved model, batched like evaluation."""
    model, _, meta = load_model(model_dir, encoder_path)
    device = pick_device(device)
    return task_named(meta["task"]).score_test(model, meta, inputs, device=device, bf16=uses_bf16(precision, device),
                                         batch_size=batch_size, cache_dir=cache_dir)
