"""A search's inputs, made once in the driver: `tokenise` reads and tokenises the data once per distinct
token key (with tokenize_on: workers it only scans and splits, and `share` has Ray tasks tokenise the texts
streamed to them),
`featurise` computes boost features where the trials will run (`prepare` does both); `share` puts
them, and a local model folder, in Ray's object store, after checking the GPU the trials need.
Between tokenise and featurise the search prints its plan: the passes are the long work."""
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

import ray

from bertclf.inputs import add_features, inputs_key, prepare_inputs, tokens_key
from bertclf.tokenization import CHUNK

from .features_on_demand import on_demand, start_passes
from .inputs_said import data_lines, notes_of, say_new
from .plan import Plan
from .shared import Shared, check_gpu, share_inputs, share_model
from .worker_tokens import tokenise_on_workers, wait_for_workers


def prepare(plan: Plan, configs, say, before_features: Optional[Callable[[list], None]] = None):
    """(ready, pending, what the data hold, seconds): featurise(tokenise(...)), the inputs of `configs`
    ready to share. before_features(groups), given, runs between the two, its time not counted: the
    search's plan on the console before the long work (the feature passes)."""
    started = time.perf_counter()
    groups = tokenise(plan, configs, say)
    seconds = time.perf_counter() - started
    if before_features:
        before_features(groups)
    started = time.perf_counter()
    ready, pending = featurise(plan, groups, say)
    seconds += time.perf_counter() - started
    say_ready(plan, groups, seconds, say)
    return ready, pending, describe_groups(groups), seconds


def describe_groups(groups) -> str:
    """What the prepared inputs hold (sizes, where valid came from), or "" when none were prepared."""
    return groups[0][1].description if groups else ""


def say_ready(plan: Plan, groups, seconds: float, say) -> None:
    """The console's line once the inputs are prepared, in `seconds`."""
    if groups and on_workers(plan):
        say(f"data checked and split in {seconds:.0f} s, its texts left in their files: the "
            f"workers tokenise them once Ray is up")
    elif groups:
        say(f"inputs ready in {seconds:.0f} s, prepared once")


def tokenise(plan: Plan, configs, say):
    """[(config, inputs, {InputsKey})]: the data of `configs` read, split and tokenised once per distinct
    token key, here, before any trial (none with --no-shared-inputs); each group's input keys are those
    of its configurations (one per boost feature variant). Keys that differ only in encoder_layers share
    one inputs object: the depth changes a pass's features, not the token ids. The console says each of
    the data's notes once, and the data once per model (inputs_said)."""
    by_tokens = {}
    for config in configs:
        by_tokens.setdefault(tokens_key(config), (config, set()))[1].add(inputs_key(config))
    if not plan.opts.share_inputs:
        return []
    streamed = on_workers(plan)  # the texts left in their files, for the workers (share)
    prepared, said, groups = {}, [], []
    for key, (config, keys) in by_tokens.items():
        ids = replace(key, encoder_layers=None)
        if ids not in prepared:
            lines = []
            prepared[ids] = prepare_inputs(config, lines.append, model_path=plan.models[config.bert_name].source,
                                           streamed=streamed)
            say_new(notes_of(lines, prepared[ids]), said, say)
        groups.append((config, prepared[ids], keys))
    for line in data_lines(groups):
        say(line)
    for inputs in prepared.values():
        if plan.test_path and hasattr(inputs, "check_test_file"):  # a test file's faults, before any trial
            say_new(inputs.check_test_file(plan.test_path), said, say)
    return groups


def on_workers(plan: Plan) -> bool:
    """spec tokenize_on: workers: the driver scans and splits, Ray tasks tokenise (worker_tokens)."""
    return plan.spec.tokenize_on == "workers"


def features_here(plan: Plan) -> bool:
    """Boost features computed by this process (a local search with token ids in hand), else by a Ray task."""
    return plan.local and not on_workers(plan)


def feature_passes(plan: Plan, groups):
    """The groups whose boost features this machine computes (on a cluster a Ray task does: share)."""
    return [g for g in groups if features_here(plan) and any(key.features for key in g[2])]


def featurise(plan: Plan, groups, say):
    """(ready {InputsKey: inputs}, pending [(config, inputs, [InputsKey with features])]): boost
    features computed here on a local machine (the same CPUs and GPUs the trials get), one encoder
    pass per group for all its variants, with progress and time left; on a cluster they are pending,
    for a Ray task on a GPU node (see share), as they are when the workers tokenise, and on a local CPU,
    for the first trial that needs each (features_on_demand)."""
    ready, pending = {}, []
    passes = feature_passes(plan, groups)
    for config, inputs, keys in groups:
        ready.update({key: inputs for key in keys if key.features is None})
        boost = [key for key in keys if key.features is not None]
        if boost and features_here(plan) and not on_demand(plan):
            number = next(i for i, g in enumerate(passes, 1) if g[0] is config)
            variants, notes, begun = sorted({key.features for key in boost}), [], time.perf_counter()
            what = (f"boost: feature pass {number} of {len(passes)} ({sum(len(t) for t in inputs.tokens.values())} "
                    f"texts, {config.bert_name}, max_length {config.max_length}, {config.truncation}, "
                    f"{len(variants)} variant(s))")
            say(f"{what} ...")
            featured = add_features(inputs, config, variants, notes.append,
                                    model_path=plan.models[config.bert_name].source, progress=say)
            how = "computed" if any("computed" in note for note in notes) else "loaded from the cache"
            say(f"{what}: {how} in {time.perf_counter() - begun:.0f} s")
            ready.update({key: featured[key.features] for key in boost})
        elif boost:
            pending.append((config, inputs, boost))
    return ready, pending


def search_configs(spec):
    """A trial configuration for every input key the space can ask for (its input corners)."""
    return [spec.trial_config(sampled) for sampled in spec.input_corners()]


def share(plan: Plan, ready: dict, pending: list, say, shared: Shared = None):
    """(Shared, seconds of remote feature computation): inputs and a local model folder in the object
    store, a usable GPU checked (on a cluster: one that the autoscaler brings, within --gpu-wait).
    Given `shared` (the search's), only the inputs are added to a copy of it (a refit); else pending
    features on a local CPU wait for the trials that need them (features_on_demand)."""
    searching = shared is None
    if searching:
        shared = Shared()
        if plan.use_gpu:
            say(f"GPU: {check_gpu(plan.opts.gpu_wait, say)}")
        for name, model in plan.models.items():  # each model of the search that is a folder here
            if Path(model.source).is_dir():
                share_model(name, model.source, shared)
        if not plan.opts.share_inputs:
            return shared, 0.0
    else:
        shared = Shared(models=shared.models)
    if on_workers(plan):
        tokenise_remotely(ready, pending, shared, say)
    refs = {}
    for key, inputs in ready.items():  # keys that share inputs share one object
        refs.setdefault(id(inputs), ray.put(inputs))
        shared.inputs[key] = refs[id(inputs)]
    if searching and on_demand(plan):
        if pending:  # a search whose trials all fine-tune needs no process for passes
            start_passes(pending, shared, cpus=max(1, int(ray.cluster_resources().get("CPU", 1))),  # a local search's
                         trial_cpus=plan.spec.resources.cpus_per_worker)
        return shared, 0.0
    seconds = share_inputs(pending, shared, use_gpu=plan.use_gpu, cpus=plan.spec.resources.cpus_per_worker, say=say)
    if seconds:
        say(f"boost features ready in {seconds:.0f} s, computed once for the whole search")
    return shared, seconds


def tokenise_remotely(ready: dict, pending: list, shared: Shared, say) -> None:
    """tokenize_on workers: each distinct inputs' texts tokenised by Ray tasks, its token ids left in the
    object store as blocks (worker_tokens); waits for them, so a failure is known before any trial."""
    todo = {id(inputs): (inputs, key.tokens) for key, inputs in ready.items()}
    todo.update({id(inputs): (inputs, keys[0].tokens) for _, inputs, keys in pending})
    started = time.perf_counter()
    texts = sum(len(rows) for inputs, _ in todo.values() for rows in inputs.tokens.values())
    say(f"tokenising on the workers: {texts} texts streamed from the files in chunks of {CHUNK} ...")
    places = [place for inputs, key in todo.values() for place in tokenise_on_workers(inputs, key, shared)]
    where = wait_for_workers(places)
    say(f"tokenised on the workers: {len(places)} chunk(s) by {len(set(where))} process(es) on "
        f"{len({node for node, _ in where})} node(s) in {time.perf_counter() - started:.0f} s; the token ids "
        f"stay in the object store, not cached on disk (each search tokenises again)")
