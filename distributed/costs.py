"""A search's inference costs: every architecture its space can make (bertclf.cost.cost_key over the
corners of the options that decide it) measured once, before Ray starts, on the machine that will serve
(--serve-device), and which of them the spec's constraints rule out: those are never trained."""
import time
from dataclasses import dataclass, replace
from typing import Dict, List, Optional

from bertclf.cost import (BATCH, COLUMNS, COST_FIELDS, SMOKE_TIMING, Cost, Timing, cached_cost, cost_file, cost_key,
                          hardware, said_limits, violations)
from bertclf.data.columns import ColumnNames
from bertclf.data.examples import read_examples
from bertclf.errors import UserError

from .progress import PhaseProgress, short


@dataclass(frozen=True)
class SearchCosts:
    by_key: Dict[tuple, Cost]  # bertclf.cost.cost_key -> its measured cost
    constraints: Dict[str, float]
    hardware: str  # what measured them
    device: str  # cpu | cuda

    def of(self, config) -> Cost:
        return self.by_key[cost_key(config)]

    def why_not(self, config) -> List[str]:
        """The constraints `config`'s architecture breaks ([] when it meets them all)."""
        return violations(self.of(config).values(), self.constraints)

    def values(self) -> Dict[tuple, dict]:
        """cost key -> the measured values (what a trial reports beside its scores)."""
        return {key: cost.values() for key, cost in self.by_key.items()}


def measure_costs(plan, say) -> Optional[SearchCosts]:
    """The costs of every architecture of the plan's space (None when its spec asks for none); the
    console says what was measured and what the constraints leave out. Raises UserError when no
    architecture meets the constraints."""
    spec = plan.spec
    if not spec.measures_cost:
        return None
    device = plan.opts.serve_device
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise UserError("--serve-device cuda: this machine has no usable CUDA GPU to measure the costs on")
    configs = {cost_key(c): c for c in (spec.trial_config(p) for p in spec.corners(COST_FIELDS))}
    started = time.perf_counter()
    costs = SearchCosts(measure_all(configs, plan, say), dict(spec.constraints), hardware(device), device)
    say(describe_costs(costs, time.perf_counter() - started))
    ruled_out = {_key_said(key, configs): costs.why_not(config) for key, config in configs.items()
                 if costs.why_not(config)}
    if len(ruled_out) == len(configs):
        raise UserError(f"constraints {said_limits(spec.constraints)} (the spec's constraints, --max-latency-ms, "
                        f"--max-model-mb): no configuration of this search meets them on {costs.hardware}: "
                        + "; ".join(f"{k}: {', '.join(why)}" for k, why in ruled_out.items()))
    if ruled_out:
        say(f"constraints {said_limits(spec.constraints)}: {len(ruled_out)} of {len(configs)} architectures break "
            f"them; their configurations are skipped, never trained: "
            + "; ".join(f"{k} ({', '.join(why)})" for k, why in ruled_out.items()))
    return costs


def measure_all(configs: dict, plan, say) -> Dict[tuple, Cost]:
    """{cost key: Cost} of `configs` {cost key: a configuration of it}; those not cached are measured
    with the plan on the console first and a progress line (progress.PhaseProgress) while they are."""
    device = plan.opts.serve_device
    timing = SMOKE_TIMING if plan.opts.smoke_test else Timing()
    texts, pairs = cost_texts(next(iter(configs.values())), timing.texts)
    where = {key: (config, plan.models[config.bert_name].source, texts, pairs, device, timing, config.cache_dir)
             for key, config in configs.items()}
    todo = [key for key, args in where.items() if not cost_file(*args).exists()]
    if todo:
        cached = len(configs) - len(todo)
        say(f"inference cost: measuring {len(todo)} architecture(s) on {hardware(device)} (onnxruntime, an "
            f"untrained model of each, {timing.texts} texts at batch 1 and a batch of {BATCH})"
            + (f"; {cached} more read from the cache" if cached else "") + " ...")
    progress = PhaseProgress("inference cost: measured", len(todo), say)
    costs = {}
    for key, args in where.items():
        costs[key] = cached_cost(*args)
        if key in todo:
            progress.step_done()
    return costs


def cost_texts(config, count: int):
    """(texts, pairs or None): the first `count` texts of train (pairs: their second texts), the real
    texts every architecture is timed on."""
    examples = read_examples(config.train_path, asked=ColumnNames.of(config), need_labels=False)
    keep = [i for i, text in enumerate(examples.texts) if text][:count]
    if not keep:
        raise UserError(f"--train_path {config.train_path}: no text to measure the inference cost on")
    return [examples.texts[i] for i in keep], [examples.pairs[i] for i in keep] if examples.pairs else None


def describe_costs(costs: SearchCosts, seconds: float) -> str:
    values = [cost.values() for cost in costs.by_key.values()]

    def span(key, form=".3g"):
        low, high = (f"{f(v[key] for v in values):{form}}" for f in (min, max))
        return low if low == high else f"{low}-{high}"
    return (f"inference cost: {len(values)} architecture(s) on {costs.hardware} in {seconds:.0f} s (onnxruntime, "
            f"an untrained model of each): {span('latency_ms')} ms per example at batch 1, "
            f"{span('throughput', '.0f')} examples/s at a batch of 64, ONNX {span('model_mb')} MB "
            f"(int8 {span('model_mb_int8')} MB)")


def _key_said(key: tuple, keys) -> str:
    """The architecture `key` by the fields in which the search's `keys` differ (its model when none do)."""
    differ = {name for name, value in key if any(dict(other).get(name) != value for other in keys)}
    return ", ".join(f"{name}={short(value)}" for name, value in key if name in (differ or {"bert_name"}))


def with_costs(table, spec, costs: SearchCosts):
    """`table` (results.trial_table) with each trial's measured cost (bertclf.cost.COLUMNS) and whether
    it meets the constraints (feasible)."""
    configs = [spec.trial_config(config) for config in table["config"]] if len(table) else []
    for column in COLUMNS:
        table[column] = [costs.of(config).values()[column] for config in configs]
    table["feasible"] = [not costs.why_not(config) for config in configs]
    return table


def served_cost(costs: SearchCosts, config, copy: str) -> Cost:
    """The cost of `config`'s architecture as its model ships: a model of precision int8 whose int8 copy was
    not kept (`copy` "fp32": bertclf.int8_copy) serves its fp32 file, at the fp32 architecture's measured cost
    where the space has that architecture too."""
    if copy == "fp32" and config.precision == "int8":
        return costs.by_key.get(cost_key(replace(config, precision="fp32")), costs.of(config))
    return costs.of(config)
