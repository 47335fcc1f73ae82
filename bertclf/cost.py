"""A model's inference cost, measured where it will serve: latency per example at batch 1 (median and
p95 over a fixed set of real texts), throughput at a batch of BATCH, and the size of its ONNX file, fp32
and int8. The cost of a network does not depend on its weights, so it is measured on an untrained model
of the architecture, exported as a search exports best_model (bertclf.portable) and run in onnxruntime.
Each architecture (cost_key) is measured once and kept on disk under cache_dir/costs."""
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from .atomic import write_text
from .errors import UserError
from .models.encoders import load_model_config, load_tokenizer
from .models.heads import BertClassifier, drop_pooler, uses_pooler
from .models.model_io import save_model
from .portable import DOC_INDEX, write_portable
from .quantize import quantize_dynamic_onnx
from .tensor_cache import digest
from .windows import kept_windows

# the measured quantities an objective or a constraint may name, each with its better direction
COSTS = {"latency_ms": "min", "throughput": "max", "model_mb": "min"}
COLUMNS = ("latency_ms", "latency_p95_ms", "throughput", "model_mb", "model_mb_int8")  # results.csv's
# the options that decide the served network and what it reads; not mode: a frozen, boosted or
# LoRA-merged encoder serves as the same network as a fine-tuned one
COST_FIELDS = ("bert_name", "encoder_layers", "max_length", "truncation", "doc_stride", "max_chunks", "pooling",
               "layers", "head", "precision")
WINDOW_FIELDS = ("doc_stride", "max_chunks")  # read only by truncation chunks
BATCH = 64  # the throughput's batch
DEVICES = ("cpu", "cuda")
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


@dataclass(frozen=True)
class Timing:
    """How much is timed: `texts` texts at batch 1, each `repeats` times; the batch `repeats` times."""
    texts: int = 32
    repeats: int = 3


SMOKE_TIMING = Timing(texts=4, repeats=1)


@dataclass(frozen=True)
class Cost:
    latency_ms: float  # median over the texts, batch 1
    latency_p95_ms: float
    throughput: float  # examples per second at a batch of BATCH
    model_mb: float  # the ONNX file it serves: fp32, or with precision int8 the int8 copy
    model_mb_int8: float  # the dynamic int8 copy (bertclf.quantize)
    hardware: str  # what measured it

    def values(self) -> dict:
        return {key: getattr(self, key) for key in COLUMNS}


def cost_key(config) -> tuple:
    """The architecture of `config` as far as cost goes: (field, value) of COST_FIELDS."""
    return tuple((name, served_precision(config) if name == "precision" else getattr(config, name))
                 for name in COST_FIELDS if name not in WINDOW_FIELDS or config.truncation == "chunks")


def served_precision(config) -> str:
    """int8 for a model that ships its int8 copy; fp32 for the rest (auto and bf16 are how it trains: its
    ONNX copy is fp32 either way)."""
    return "int8" if config.precision == "int8" else "fp32"


def beyond_limits(values: dict, constraints: dict) -> dict:
    """{quantity: how far `values` lie beyond its limit in `constraints`}: latency and size must be at most
    their limit, throughput at least it; 0 or less where met (Optuna's constraint values)."""
    return {name: (limit - values[name]) if COSTS[name] == "max" else (values[name] - limit)
            for name, limit in constraints.items()}


def violations(values: dict, constraints: dict) -> List[str]:
    """The constraints `values` break, in words; [] when feasible."""
    return [f"{name} {values[name]:.3g} {'<' if COSTS[name] == 'max' else '>'} {constraints[name]:g}"
            for name, amount in beyond_limits(values, constraints).items() if amount > 0]


def said_limits(constraints: dict) -> str:
    """Constraints as a reader reads them: latency_ms <= 10, throughput >= 100."""
    return ", ".join(f"{name} {'>=' if COSTS[name] == 'max' else '<='} {limit:g}" for name, limit in constraints.items())


def hardware(device: str) -> str:
    """The machine a cost is measured on, in words."""
    if device == "cuda":
        import torch
        return torch.cuda.get_device_name(0)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores (CPU)"


def cost_file(config, source: str, texts: Sequence[str], pairs: Optional[Sequence[str]], device: str,
              timing: Timing, cache_dir: str) -> Path:
    """Where the cost of `config`'s architecture, measured so (cached_cost's arguments), is kept."""
    key = digest(json.dumps([cost_key(config), source, device, hardware(device), asdict(timing), list(texts),
                             list(pairs or [])], default=str).encode())
    return Path(cache_dir) / "costs" / f"{key}.json"


def cached_cost(config, source: str, texts: Sequence[str], pairs: Optional[Sequence[str]], device: str,
                timing: Timing, cache_dir: str) -> Cost:
    """The cost of `config`'s architecture (its encoder loaded from `source`), measured on `texts` (and
    `pairs`) on `device`, or read from the cache where this machine measured it already."""
    path = cost_file(config, source, texts, pairs, device, timing, cache_dir)
    if path.exists():
        return Cost(**json.loads(path.read_text(encoding="utf-8")))
    with tempfile.TemporaryDirectory(prefix="bert-hpo-cost-") as folder:
        cost = measure_cost(config, source, texts, pairs, device, timing, Path(folder))
    write_text(path, json.dumps(asdict(cost)))
    return cost


def measure_cost(config, source: str, texts, pairs, device: str, timing: Timing, folder: Path) -> Cost:
    import onnxruntime
    if PROVIDERS[device] not in onnxruntime.get_available_providers():
        raise UserError(f"--serve-device {device}: onnxruntime here has no {PROVIDERS[device]} (for cuda: pip "
                        f"install onnxruntime-gpu)")
    copies = write_portable(untrained_model(config, source, folder / "model", pairs is not None))
    if copies.onnx is None:
        raise UserError(f"cost of {dict(cost_key(config))}: no ONNX copy of this architecture ({copies.why_not_onnx})")
    onnx_file = copies.onnx / "model.onnx"
    int8 = quantize_dynamic_onnx(onnx_file, folder / "model.int8.onnx")
    served = int8 if served_precision(config) == "int8" else onnx_file
    session = onnxruntime.InferenceSession(str(served), providers=[PROVIDERS[device]])
    tokenizer = load_tokenizer(str(copies.onnx))
    names = [i.name for i in session.get_inputs()]
    singles = [feed(tokenizer, config, names, [t], [p] if pairs else None)
               for t, p in zip(texts[:timing.texts], (pairs or texts)[:timing.texts])]
    cycled = [texts[i % len(texts)] for i in range(BATCH)]
    batch = feed(tokenizer, config, names, cycled, [pairs[i % len(pairs)] for i in range(BATCH)] if pairs else None)
    for one in singles:  # a shape's first run allocates: not timed
        session.run(None, one)
    latencies = [_seconds(session, one) * 1000 for _ in range(timing.repeats) for one in singles]
    batch_seconds = float(np.median([_seconds(session, batch) for _ in range(timing.repeats)]))
    return Cost(latency_ms=float(np.median(latencies)), latency_p95_ms=float(np.percentile(latencies, 95)),
                throughput=BATCH / batch_seconds, model_mb=served.stat().st_size / 2**20,
                model_mb_int8=int8.stat().st_size / 2**20, hardware=hardware(device))


def _seconds(session, inputs: dict) -> float:
    started = time.perf_counter()
    session.run(None, inputs)
    return time.perf_counter() - started


def untrained_model(config, source: str, folder: Path, pairs: bool) -> Path:
    """A model folder of `config`'s architecture with its encoder (from `source`'s config) and head drawn
    at random; two labels (the head's size is a rounding error beside the encoder's)."""
    import torch
    from transformers import AutoModel
    torch.manual_seed(0)
    architecture = load_model_config(source)
    if config.encoder_layers:  # the cut encoder's (load_encoder's layers)
        architecture.num_hidden_layers = config.encoder_layers
    encoder = AutoModel.from_config(architecture)
    if not uses_pooler(config.pooling, config.layers):
        drop_pooler(encoder)
    chunks = config.truncation == "chunks"
    model = BertClassifier(encoder, 2, config.dropout_p, config.pooling, config.layers, config.head,
                           documents=chunks).eval()
    meta = {"task": "classification", "label_names": ["0", "1"], "pooling": config.pooling, "layers": config.layers,
            "head": config.head, "truncation": config.truncation, "feature_size": model.head.in_features,
            "cached_features": False, "columns": {}, "pairs": pairs, "dataset": None, "bert_name": source,
            "max_length": config.max_length, "dropout_p": config.dropout_p, "finetuned": True,
            **({"doc_stride": config.doc_stride, "max_chunks": config.max_chunks} if chunks else {})}
    save_model(folder, model, load_tokenizer(source), meta)
    return folder


def feed(tokenizer, config, names, texts, pairs) -> dict:
    """The ONNX inputs `names` for `texts` (and `pairs`) as the served model reads them: cut to max_length,
    or with truncation chunks the kept windows of each text and doc_index."""
    if config.truncation != "chunks":
        batch = tokenizer(texts, pairs, truncation=True, padding=True, return_tensors="np")
        return {name: batch[name] for name in names}
    batch = tokenizer(texts, pairs, truncation=True, max_length=config.max_length, stride=config.doc_stride,
                      return_overflowing_tokens=True, padding=True, return_tensors="np")
    doc = batch["overflow_to_sample_mapping"]
    keep = np.concatenate([np.flatnonzero(doc == d)[kept_windows(n, config.max_chunks)]
                           for d, n in enumerate(np.bincount(doc))])
    return {**{name: batch[name][keep] for name in names if name != DOC_INDEX}, DOC_INDEX: doc[keep]}
