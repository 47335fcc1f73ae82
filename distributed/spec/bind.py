"""A resolved spec bound, once, to what the search found: its data files and caches fixed, and each of
its models (found, its facts read) held to the model's position limit and given the pooling it was
trained with. Everything after this receives the bound spec and never patches it."""
from dataclasses import dataclass, replace
import math
from typing import Dict, Optional, Tuple

from bertclf.models.encoder_facts import EncoderFacts, facts_of, fitting_layers, fitting_lengths, trained_pooling
from bertclf.models.encoders import resolve_model
from bertclf.models.lora import no_targets
from bertclf.models.size_rule import encoder_rate
from bertclf.tasks import task_named

from .model import Distribution, SearchSpec

# Threads of a fine-tuning trial on a CPU: with the first trial sized to the model, one trial with two
# threads reaches the race's target sooner than two trials with one each, ASHA cutting the rest at their
# first check (bench/results/race/README.md, the threads ablation)
FINETUNE_THREADS = 2


@dataclass(frozen=True)
class Model:
    """One model a search's trials can use, found and checked before Ray starts."""
    source: str  # what it loads from: a folder, or a hub name
    why: str  # where that is, for the console
    facts: EncoderFacts


def find_model(name: str) -> Model:
    source, why = resolve_model(name)
    return Model(source=source, why=why, facts=facts_of(source))


def bind(spec: SearchSpec, options: dict, say, cpus: Optional[int] = None) -> Tuple[SearchSpec, Dict[str, Model]]:
    """(the spec bound, {bert_name: Model}): `options` fixed for every trial (data paths, caches; a
    bert_name given here stands in for every model the spec names: the smoke test's tiny BERT), then
    each model found and the space held to its limit (within_limit) and its pooling (suited_pooling),
    the first trial's encoder rate sized to the model where the spec gives no first_trial (sized_start),
    and each trial's threads where the spec gives no cpus_per_worker (sized_threads; cpus: the CPUs of
    the machine the trials run on, None on a GPU or a cluster)."""
    spec = fix_options(spec, options)
    models = {bert_name: find_model(bert_name) for bert_name in spec.models()}
    per_model, space = dict(spec.per_model), dict(spec.space)
    for bert_name, model in models.items():
        has_adapter_targets(spec, model.facts, bert_name)
        has_layers(spec, model.facts, bert_name)
        kept = within_limit(spec, model.facts, bert_name, say)
        if kept is not None and len(models) == 1:
            space["max_length"] = Distribution("choice", kept)
        elif kept is not None:
            per_model[bert_name] = {**per_model.get(bert_name, {}), "max_length": Distribution("choice", kept)}
    for bert_name, pooling in suited_pooling(spec, models).items():
        per_model[bert_name] = {**per_model.get(bert_name, {}), "pooling": pooling}
    return sized_threads(sized_start(replace(spec, space=space, per_model=per_model), models), cpus), models


def sized_start(spec: SearchSpec, models: Dict[str, Model]) -> SearchSpec:
    """The spec with first_trial {lr_main: the rate of bertclf/models/size_rule.py for its first model's
    size}, held inside that model's range (the nearest choice of a list), where the spec gives no
    first_trial and searches lr_main; else the spec as it is."""
    model = spec.models()[0]
    dist = spec.space_for(model).get("lr_main")
    if spec.first_trial or dist is None:
        return spec
    rate = encoder_rate(models[model].facts.parameters)
    if dist.is_choice:
        rate = min(dist.args, key=lambda choice: abs(math.log(choice / rate)))
    else:
        rate = min(max(rate, dist.args[0]), dist.args[1])
    return replace(spec, first_trial={"lr_main": rate}, sized=spec.sized + ("lr_main",))


def sized_threads(spec: SearchSpec, cpus: Optional[int]) -> SearchSpec:
    """The spec with resources.cpus_per_worker set where it gives none: FINETUNE_THREADS (at most `cpus`)
    where a trial of one worker fine-tunes on the machine's own CPUs, else 1 (a boost trial trains a head on
    cached features; a GPU or a cluster: one CPU a worker, as Ray counts them)."""
    res = spec.resources
    if res.cpus_per_worker is not None:
        return spec
    fine_tunes = False in spec.feature_cache_uses()
    threads = min(FINETUNE_THREADS, cpus) if cpus and fine_tunes and res.workers_per_trial == 1 else 1
    return replace(spec, resources=replace(res, cpus_per_worker=float(threads)),
                   sized=spec.sized + (("cpus_per_worker",) if threads > 1 else ()))


def fix_options(spec: SearchSpec, options: dict) -> SearchSpec:
    """The spec with `options` fixed for every trial; a bert_name among them replaces the models the
    spec searches (and their own options)."""
    one_model = "bert_name" in options
    return replace(spec, fixed={**spec.fixed, **options},
                   space={k: d for k, d in spec.space.items() if not (one_model and k == "bert_name")},
                   per_model={} if one_model else spec.per_model)


def has_adapter_targets(spec: SearchSpec, facts: EncoderFacts, bert_name: str) -> None:
    """Refuse a space whose LoRA trials ask `bert_name` for adapters on layers it does not have."""
    for corner in spec.corners(["mode", "lora", "lora_targets"]):
        config = spec.trial_config(corner)
        if config.bert_name == bert_name and config.lora and config.lora_targets not in facts.adapter_targets:
            raise no_targets(config.lora_targets, bert_name)


def has_layers(spec: SearchSpec, facts: EncoderFacts, bert_name: str) -> None:
    """Refuse a space whose trials keep more of `bert_name`'s layers than it has (encoder_layers)."""
    where = "space" if "encoder_layers" in spec.space_for(bert_name) else "fixed"
    for corner in spec.corners(["encoder_layers"]):
        config = spec.trial_config(corner)
        if config.bert_name == bert_name:
            fitting_layers(config.encoder_layers, facts, bert_name,
                           f"{spec.source}: {where}.encoder_layers {config.encoder_layers}")


def within_limit(spec: SearchSpec, facts: EncoderFacts, bert_name: str, say):
    """The max_length choices of `bert_name` within its limit where some are above it (dropped with a
    warning), else None; a space where none is left, or a fixed value above it, refused
    (encoder_facts.fitting_lengths). A space's max_length is a choice: check.py refuses a range over an
    option that changes the inputs."""
    dist = spec.space_for(bert_name).get("max_length")
    if dist is None:
        fitting_lengths((spec.trial_config({"bert_name": bert_name}).max_length,), facts, bert_name,
                        f"{spec.source}: fixed.max_length")
        return None
    kept = fitting_lengths(dist.args, facts, bert_name, f"{spec.source}: space.max_length", choices=True)
    if len(kept) == len(dist.args):
        return None
    dropped = [v for v in dist.args if v not in kept]
    say(f"warning: space.max_length {dropped} dropped for {bert_name}: above its limit of "
        f"{facts.position_limit} positions")
    return tuple(kept)


def suited_pooling(spec: SearchSpec, models: Dict[str, Model]) -> Dict[str, str]:
    """{bert_name: pooling} where the spec says nothing of pooling: each model's trials pool as that
    model was trained (mean for a sentence-transformers model); others keep the engine's cls."""
    said = "pooling" in spec.fixed or "pooling" in spec.space or any("pooling" in o for o in spec.per_model.values())
    if said or "pooling" not in task_named(spec.task).text_options:  # a QA span head reads every token
        return {}
    found = {name: trained_pooling(model.source) for name, model in models.items()}
    return {name: pooling for name, pooling in found.items() if pooling is not None}
