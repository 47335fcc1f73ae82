"""What every trial reads, moved through Ray's object store instead of a folder on the driver's disk.

On a cluster only the storage path is shared between nodes: the data set, the token ids, the boost
features and a local model folder all live on the driver's machine. The driver prepares the inputs
once per distinct key and puts them in the object store; boost features are computed by a Ray task
(on a GPU where there is one), or on a local CPU by the FeaturePasses actor (features_on_demand.py);
a local model folder travels as its files and is written once per node into a temporary folder. A search over several models ships each model's folder.
"""
import fcntl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Optional, Tuple

import ray

from bertclf.atomic import atomic_folder
from bertclf.cost import cost_key
from bertclf.errors import UserError
from bertclf.inputs import InputsKey, add_features
from bertclf.tensor_cache import digest

from .worker_tokens import gathered


@dataclass
class Shared:
    inputs: Dict[InputsKey, "ray.ObjectRef"] = field(default_factory=dict)  # bertclf.inputs.inputs_key -> inputs
    # bert_name -> (digest, files) of a model that is a local folder on the driver, shipped as its files
    models: Dict[str, Tuple[str, "ray.ObjectRef"]] = field(default_factory=dict)
    # boost features on demand (features_on_demand.py): the actor that starts a key's pass when a trial
    # first asks, and the keys it holds
    passes: Optional["ray.actor.ActorHandle"] = None
    waiting: FrozenSet[InputsKey] = frozenset()
    # bertclf.cost.cost_key -> the architecture's measured cost (costs.py), reported with a trial's scores
    costs: Dict[tuple, dict] = field(default_factory=dict)

    def cost_of(self, config) -> dict:
        """The measured cost of `config`'s architecture ({} when the search measures none)."""
        return self.costs.get(cost_key(config), {}) if self.costs else {}

    @property
    def holds_inputs(self) -> bool:
        """Inputs were prepared for the trials (False: --no-shared-inputs, each trial prepares its own)."""
        return bool(self.inputs or self.waiting)

    def inputs_for(self, key: InputsKey) -> "ray.ObjectRef":
        """The object holding the prepared inputs of `key` (a trial's inputs_key(config)); a key whose
        features wait for a trial: its pass's, the pass started if none had started it. Raises
        LookupError naming the model, max_length and features asked for when the driver prepared none
        for it (a configuration outside the space's input corners)."""
        if key in self.waiting:
            try:
                return ray.get(self.passes.ref_for.remote(key))[0]
            except (ray.exceptions.OutOfMemoryError, ray.exceptions.RayActorError) as e:
                # the passes' process is gone (Ray's memory monitor ends the largest): a trial asking
                # again would find it gone again, so the trial fails at once, in one line
                said = str(e).strip().splitlines()[0]
                raise UserError(f"boost features: the process of the feature passes ended ({said}); a smaller max_length, "
                                "max_chunks or eval_batch_size, or fewer trials at once (--max-concurrent), needs "
                                "less memory") from None
        if key not in self.inputs:
            t = key.tokens
            raise LookupError(f"no prepared inputs for {t.bert_name}, max_length {t.max_length}, truncation "
                              f"{t.truncation}, features {key.features}: the search prepared {len(self.inputs)} "
                              f"input set(s), one per corner of the options that change the inputs ({key})")
        return self.inputs[key]

    def model_path(self, bert_name: str) -> Optional[str]:
        """This node's copy of the shipped folder of `bert_name` (None: load bert_name as it is)."""
        if bert_name not in self.models:
            return None
        model_digest, model_files = self.models[bert_name]
        folder = Path(tempfile.gettempdir()) / "bert-hpo-models" / model_digest
        if (folder / ".complete").exists():
            return str(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{folder}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / ".complete").exists():
                with atomic_folder(folder) as staging:
                    for name, content in ray.get(model_files).items():
                        (staging / name).parent.mkdir(parents=True, exist_ok=True)
                        (staging / name).write_bytes(content)
                    (staging / ".complete").touch()
        return str(folder)


def share_model(bert_name: str, folder: str, shared: Shared) -> None:
    """Ship a local model folder's files (config, vocabulary, weights) to the nodes that need them."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}
    model_digest = digest(sorted((name, len(content)) for name, content in files.items()),
                          *(files[name] for name in sorted(files)))[:24]
    shared.models[bert_name] = (model_digest, ray.put(files))


def compute_features(inputs, config, variants, shared: Shared, threads=None, progress=None):
    """An encoder pass (a Ray task's, or the FeaturePasses actor's): the features of every variant of
    `inputs`, one object each. threads: given (a pass that holds no CPU of its own), () -> the torch threads
    it may use now, asked before each batch; else it uses its CPUs. progress: given, receives a line every
    30 s of the pass (rows done, time left)."""
    import torch
    torch.set_num_threads(threads() if threads else
                          max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
    by_variant = add_features(gathered(inputs), config, variants, log=lambda message: None,
                              model_path=shared.model_path(config.bert_name), progress=progress, threads=threads)
    result = tuple(by_variant[v] for v in variants)
    return result if len(result) > 1 else result[0]


def share_inputs(pending, shared: Shared, *, use_gpu: bool, cpus: float, say) -> float:
    """Compute boost features in Ray tasks (on a GPU where there is one), one encoder pass per input
    key for all its variants, and record where each variant's inputs are. pending: [(config, inputs,
    [InputsKey with features])]. Returns the seconds it took."""
    jobs = []
    for config, inputs, keys in pending:
        variants = sorted({key.features for key in keys})
        task = ray.remote(compute_features).options(num_cpus=cpus, num_gpus=1 if use_gpu else 0,
                                                    num_returns=len(variants))
        refs = task.remote(ray.put(inputs), config, variants, shared)
        refs = dict(zip(variants, refs if isinstance(refs, list) else [refs]))
        shared.inputs.update({key: refs[key.features] for key in keys})
        jobs += refs.values()
    if not jobs:
        return 0.0
    started, pending = time.perf_counter(), list(jobs)
    say(f"boost: computing frozen features for {len(jobs)} variant(s), one encoder pass per input key "
        f"({'GPU' if use_gpu else 'CPU'})")
    while pending:
        done, pending = ray.wait(pending, num_returns=len(pending), timeout=60)
        for ref in done:
            try:
                ray.get(ref)
            except ray.exceptions.RayTaskError as e:
                raise UserError(f"boost features could not be computed: {str(e.cause).splitlines()[0]}") from None
        if pending:
            say(f"boost: {len(jobs) - len(pending)} of {len(jobs)} feature variant(s) ready, "
                f"{time.perf_counter() - started:.0f} s")
    return time.perf_counter() - started


@ray.remote(num_cpus=0)
def _cuda_report():
    import torch
    from bertclf.models.device import cuda_problem
    if torch.cuda.is_available():
        return True, torch.cuda.get_device_name(0)
    return False, f"torch {torch.__version__} cannot use CUDA: {cuda_problem()}"


def check_gpu(wait_s: float, say) -> str:
    """Before any trial: a task holding one GPU, to see that a GPU comes within `wait_s` (an autoscaler
    adds GPU nodes on demand) and that torch can use it. Returns the GPU's name."""
    say(f"checking that a GPU is there and usable (waiting up to {wait_s:.0f} s for one)")
    ref = _cuda_report.options(num_gpus=1).remote()
    ready, _ = ray.wait([ref], timeout=wait_s)
    if not ready:
        ray.cancel(ref, force=True)
        raise UserError(f"no GPU became available within {wait_s:.0f} s (--gpu-wait): on a cluster, the autoscaler "
                        f"did not add a GPU node (quota? a failed set-up? `ray status` and the autoscaler log "
                        f"say); pass --cpu to run the CPU-sized search instead")
    usable, detail = ray.get(ref)
    if not usable:
        raise UserError(f"a GPU was granted to a Ray task, but {detail}")
    return detail
