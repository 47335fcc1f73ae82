"""The untouched test split, scored once per model: a Ray task on a GPU where there is one (bf16,
batched like evaluation), fed test inputs that the driver prepared where the data is. The console
says how many examples (a subset of how many), and while it waits the time spent and left."""
import time
from pathlib import Path

import ray

from bertclf.checkpoint import model_folder
from bertclf.models.model_io import read_meta
from bertclf.predict import score_model, test_inputs

from .feature_estimate import seconds_per_token
from .progress import duration
from .ray_session import cpus_each

PROGRESS_EVERY_S = 30


def _score_in_task(checkpoint, inputs, shared, bert_name: str, cache_dir: str, batch_size: int,
                   threads: int) -> dict:
    import torch
    torch.set_num_threads(max(1, threads))
    with checkpoint.as_directory() as folder:
        return score_model(model_folder(folder), inputs, cache_dir=cache_dir, batch_size=batch_size,
                           encoder_path=shared.model_path(bert_name))


def score_on_test(plan, checkpoint, model_dir: Path, shared, say=None) -> dict:
    """The test scores of the model in `checkpoint` (also exported to model_dir, read here for its
    tokenizer and settings), on plan.test_path or its seeded subset of max_test_samples: the task's
    scores, plus path, subset (bool) and data (what was scored, in words). say: the console (with an
    estimate timed here where the scoring runs on this machine's kind of device), or None: silent."""
    spec = plan.spec
    config = spec.trial_config(spec.default_point())
    bert_name = read_meta(model_dir)["bert_name"]  # the winner's model, when the search chose among several
    inputs = test_inputs(model_dir, plan.test_path, config.cache_dir, spec.max_test_samples,
                         plan.local_folder(bert_name))
    cpus = spec.resources.cpus_per_worker if plan.use_gpu else cpus_each(free_now=True)
    task = ray.remote(_score_in_task).options(num_cpus=cpus, num_gpus=1 if plan.use_gpu else 0)
    left = _estimate(config, inputs, plan.models[bert_name].source) if say and plan.local else 0.0
    say = say or (lambda message: None)
    say(f"test: scoring {inputs.description}" + (f", ~{duration(left)}" if left else ""))
    started = time.perf_counter()
    ref = task.remote(checkpoint, ray.put(inputs), shared, bert_name, config.cache_dir, config.eval_batch_size,
                      int(cpus))
    while not ray.wait([ref], timeout=PROGRESS_EVERY_S)[0]:
        spent = time.perf_counter() - started
        say(f"test: scoring, {duration(spent)} so far" + (f", ~{duration(max(0.0, left - spent))} left" if left else ""))
    scores = ray.get(ref)
    return {**scores, "path": str(plan.test_path), "subset": spec.max_test_samples is not None,
            "data": inputs.description}


def _estimate(config, inputs, model_source: str) -> float:
    """Seconds the scoring takes here, from the encoder's time on one batch (0: no estimate, for QA
    windows); the model scored is the same encoder size, fine-tuned or frozen."""
    tokens = getattr(inputs, "tokens", None)
    if not tokens:
        return 0.0
    return seconds_per_token(config, inputs, model_source) * sum(int(t.lengths.sum()) for t in tokens.values())
