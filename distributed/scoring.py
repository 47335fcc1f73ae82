"""The untouched test split, scored once per model: a Ray task on a GPU where there is one (bf16,
batched like evaluation) or on a cluster, fed test inputs that the driver prepared where the data is;
in a thread of the driver for a local search on the CPU (the driver has torch and the model code
imported already: a Ray task would cost a fresh process importing them). The console says how many
examples (a subset of how many), and while it waits the time spent and left.

A Pareto front member is scored as it serves instead (`score_served`): its ONNX copy (the int8 file
where its int8 check kept it) in onnxruntime on this machine, on valid and on test, since a trial's own
valid score is its training's (torch, fp32), not the copy's that ships."""
import hashlib
import json
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import ray

from bertclf.atomic import write_text
from bertclf.checkpoint import model_folder
from bertclf.inputs import prepare_inputs
from bertclf.int8_copy import INT8_PATH, onnx_metric
from bertclf.models.model_io import read_meta
from bertclf.portable import ONNX_PATH
from bertclf.predict import score_model, test_inputs
from bertclf.tasks.task import metric_test_key
from bertclf.tensor_cache import digest

from .feature_estimate import seconds_per_token
from .progress import duration
from .ray_session import cpus_each

PROGRESS_EVERY_S = 30
# in the search's output folder: its models' test scores, by what they depend on (scores_key); not the
# cache folder, which other searches share: a search's console says when each of its models is scored
SCORES_FOLDER = ".test_scores"
SCORES_VERSION = 1  # part of scores_key: raised when what a task's score_test measures changes


def _score(checkpoint, inputs, shared, bert_name: str, cache_dir: str, batch_size: int, threads: int) -> dict:
    """The scores of the model in `checkpoint` on `inputs`, with `threads` torch threads (a process-wide
    setting: the caller restores it where the process goes on after the scoring)."""
    import torch
    torch.set_num_threads(max(1, threads))
    with checkpoint.as_directory() as folder:
        return score_model(model_folder(folder), inputs, cache_dir=cache_dir, batch_size=batch_size,
                           encoder_path=shared.model_path(bert_name))


def _score_in_driver(*args) -> futures.Future:
    """_score(*args) in a daemon thread of the driver (a Ctrl-C exits without waiting for it), its
    torch threads restored after: the future of its scores or of the error it raised."""
    import torch
    future, before = futures.Future(), torch.get_num_threads()

    def scoring():
        try:
            future.set_result(_score(*args))
        except BaseException as e:  # the future carries every error to the waiting driver
            future.set_exception(e)
        finally:
            torch.set_num_threads(before)
    threading.Thread(target=scoring, name="test-scoring", daemon=True).start()
    return future


def _start_scoring(plan, cpus: float, *args) -> tuple:
    """The scoring of _score(*args, int(cpus)) started: (wait, result), wait(timeout_s) -> True once it
    is done, result() -> its scores (raising its error). In the driver for a local search on the CPU,
    else in a Ray task holding `cpus` CPUs (and a GPU where the plan uses one)."""
    if plan.local and not plan.use_gpu:
        future = _score_in_driver(*args, int(cpus))
        return lambda timeout: bool(futures.wait([future], timeout=timeout).done), future.result
    checkpoint, inputs, *rest = args
    task = ray.remote(_score).options(num_cpus=cpus, num_gpus=1 if plan.use_gpu else 0)
    ref = task.remote(checkpoint, ray.put(inputs), *rest, int(cpus))
    return lambda timeout: bool(ray.wait([ref], timeout=timeout)[0]), lambda: ray.get(ref)


def score_on_test(plan, checkpoint, model_dir: Path, shared, say=None) -> dict:
    """The test scores of the model in `checkpoint` (also exported to model_dir, read here for its
    tokenizer and settings), on plan.test_path or its seeded subset of max_test_samples: the task's
    scores, plus path, subset (bool) and data (what was scored, in words). say: the console (with an
    estimate timed here where the scoring runs on this machine's kind of device), or None: silent.
    Scores are kept in the output folder (SCORES_FOLDER) and not measured again for the same scores_key."""
    spec, said = plan.spec, say is not None
    say = say or (lambda message: None)
    config = spec.trial_config(spec.default_point())
    key = scores_key(plan, model_dir)
    kept = Path(plan.out_dir) / SCORES_FOLDER / f"{key}.json"
    scores = _kept_scores(kept) if key else None  # e.g. a resumed search whose refit was pending
    if scores is not None:
        say(f"test: {scores['data']}, scored before with these weights ({kept})")
        return scores
    bert_name = read_meta(model_dir)["bert_name"]  # the winner's model, when the search chose among several
    inputs = test_split(plan, model_dir)
    cpus = spec.resources.cpus_per_worker if plan.use_gpu else cpus_each(free_now=True)
    left = _estimate(config, inputs, plan.models[bert_name].source) if said and plan.local else 0.0
    say(f"test: scoring {inputs.description}" + (f", ~{duration(left)}" if left else ""))
    started = time.perf_counter()
    wait, result = _start_scoring(plan, cpus, checkpoint, inputs, shared, bert_name, config.cache_dir,
                                  config.eval_batch_size)
    while not wait(PROGRESS_EVERY_S):
        spent = time.perf_counter() - started
        said = (f", ~{duration(left - spent)} left" if left - spent >= 0.05 else
                f", past the ~{duration(left)} estimated" if left else "")
        say(f"test: scoring, {duration(spent)} so far{said}")
    scores = {**result(), "path": str(plan.test_path), "subset": spec.max_test_samples is not None,
              "data": inputs.description}
    if key:
        try:
            write_text(kept, json.dumps(scores))
        except (TypeError, ValueError, OSError):  # not JSON, or a full disk: the scores stand, only not kept
            pass
    return scores


def scores_key(plan, model_dir: Path) -> Optional[str]:
    """What a model's test scores depend on: its weights and settings (model_dir's .safetensors files and
    meta), the test data's contents (each file's name and bytes: a smoke test's slices are written again
    at each run), the subset asked for (max_test_samples) and the device (bf16 on a GPU). None where the
    test data is not a local file or folder: then nothing is kept."""
    model_dir, test = Path(model_dir), Path(plan.test_path)
    if not test.exists():
        return None
    files = [(test.name, test)] if test.is_file() else \
        [(str(p.relative_to(test)), p) for p in sorted(test.rglob("*")) if p.is_file()]
    weights = [(str(p.relative_to(model_dir)), p) for p in sorted(model_dir.rglob("*.safetensors"))]
    return digest([(name, _sha256(p)) for name, p in weights], read_meta(model_dir),
                  [(name, _sha256(p)) for name, p in files], plan.spec.max_test_samples, plan.use_gpu,
                  SCORES_VERSION)


def _kept_scores(path: Path) -> Optional[dict]:
    """The scores kept at `path`; None where there are none, or a damaged file (then they are measured again)."""
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return scores if isinstance(scores, dict) and "data" in scores else None


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def test_split(plan, model_dir: Path):
    """plan.test_path (its seeded subset of max_test_samples) tokenised as the model in model_dir reads it."""
    bert_name = read_meta(model_dir)["bert_name"]
    return test_inputs(model_dir, plan.test_path, plan.spec.trial_config(plan.spec.default_point()).cache_dir,
                       plan.spec.max_test_samples, plan.local_folder(bert_name))


def valid_split(plan, config):
    """The prepared inputs of `config` (its valid split is the one its trial was scored on)."""
    return prepare_inputs(config, lambda line: None, model_path=plan.models[config.bert_name].source)


@dataclass(frozen=True)
class Served:
    """A model's metric as its shipped ONNX copy scores it in onnxruntime."""
    copy: str  # the file that serves: "int8" (its int8 check kept it) or "fp32"
    valid: float
    test: Optional[float]  # None without a test split
    test_data: str  # what test was scored, in words ("" without a test split)
    int8: object = None  # the int8 check (bertclf.int8_copy.Int8Check) of a model of precision int8

    def columns(self, metric: str) -> dict:
        """results.csv's fields (served_columns) of this model."""
        return dict(zip(served_columns(metric), (self.copy, self.valid, self.test, self.int8 and self.int8.fp32,
                                                 self.int8 and self.int8.int8)))

    def describe(self, metric: str) -> str:
        """'valid_accuracy 0.8590 (int8; fp32 0.8610), test 0.8550 on 100 examples ...': the console's words."""
        other = f"; fp32 {self.int8.fp32:.4f}" if self.copy == "int8" else (
            f"; int8 {self.int8.int8:.4f}, not kept" if self.int8 else "")
        test = f", test {self.test:.4f} on {self.test_data}" if self.test is not None else ""
        return f"{metric} {self.valid:.4f} ({self.copy}{other}){test}"


def served_columns(metric: str) -> tuple:
    """results.csv's fields of a model scored as served: the copy that serves, its valid and test metric, and
    an int8 model's valid metric in fp32 and in int8 (for valid_accuracy: served_valid_accuracy,
    served_test_accuracy, ...)."""
    return ("served", f"served_{metric}", f"served_test_{metric_test_key(metric)}", f"fp32_{metric}", f"int8_{metric}")


def score_served(plan, folder: Path, config, int8=None) -> Served:
    """The metric of the model folder `folder` (its onnx/ copy written; `int8`: its int8 check, None for a
    model of another precision) as it serves: the int8 file where kept, else fp32, deciding at the model's
    tuned threshold where it has one (as --predict does); valid from the int8 check where there was one (it
    ran both files on valid), test on plan.test_path where there is one."""
    metric, kept = plan.spec.metric, int8 is not None and int8.kept
    path, threshold = folder / (INT8_PATH if kept else ONNX_PATH), read_meta(folder).get("threshold")
    if int8 is None:
        valid = onnx_metric(path, valid_split(plan, config), metric, config.eval_batch_size, threshold=threshold)
    else:
        valid = int8.int8 if kept else int8.fp32
    test, data = None, ""
    if plan.test_path:
        inputs = test_split(plan, folder)
        test = onnx_metric(path, inputs, metric, config.eval_batch_size, split="test", threshold=threshold)
        data = inputs.description.replace(str(plan.test_path), plan.test_path.name)
    return Served(copy="int8" if kept else "fp32", valid=valid, test=test, test_data=data, int8=int8)


def _estimate(config, inputs, model_source: str) -> float:
    """Seconds the scoring takes here, from the encoder's time on one batch (0: no estimate, for QA
    windows); the model scored is the same encoder size, fine-tuned or frozen."""
    tokens = getattr(inputs, "tokens", None)
    if not tokens:
        return 0.0
    return seconds_per_token(config, inputs, model_source) * sum(int(t.lengths.sum()) for t in tokens.values())
