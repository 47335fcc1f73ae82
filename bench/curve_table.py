"""A recorded table of learning curves (bench/record_curves.py) as the simulator reads it: each row a
configuration and its checks; a configuration the searcher proposes is answered by the nearest row.

Nearest: rows that match every categorical option first (fewest mismatches), then the smallest
Euclidean distance over the continuous options, each scaled to [0, 1] over its range (in log space
for log-uniform ranges). This is the nearest-neighbour surrogate of tabular HPO benchmarks: the
searcher's own proposals are kept, the answer is the closest configuration actually trained.
"""
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np


@dataclass
class Table:
    rows: List[dict]  # {"config": {...}, "checks": [{"epoch", METRIC, "valid_loss", "train_loss", "seconds"}]}
    meta: dict
    space: Dict[str, object]  # option -> spec Distribution, the space the rows were drawn from
    clock: str = "seconds"  # the check field a replay takes as a check's duration: wall or "cpu_seconds"

    def __post_init__(self):
        self.metric = self.meta.get("metric", "valid_accuracy")
        self._choice_keys = [k for k, d in self.space.items() if d.is_choice]
        self._range_keys = [k for k, d in self.space.items() if not d.is_choice]
        self._choices = np.array([[str(r["config"][k]) for k in self._choice_keys] for r in self.rows], dtype=object)
        self._coords = np.array([[self._scaled(k, r["config"][k]) for k in self._range_keys] for r in self.rows],
                                dtype=float).reshape(len(self.rows), len(self._range_keys))
        self.row_best = [max(c[self.metric] for c in r["checks"]) for r in self.rows]  # each row's best check
        self.best = max(self.row_best)  # the table's best check

    def _scaled(self, key: str, value: float) -> float:
        low, high = self.space[key].args
        if self.space[key].kind == "loguniform":
            return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
        return (value - low) / (high - low)

    def nearest(self, config: dict, taken=frozenset()) -> int:
        """Index of the row that answers `config` (options missing from `config` are ignored); rows in
        `taken` only once every row is taken."""
        mismatches = np.zeros(len(self.rows))
        for j, key in enumerate(self._choice_keys):
            if key in config:
                mismatches += self._choices[:, j] != str(config[key])
        distance = np.zeros(len(self.rows))
        for j, key in enumerate(self._range_keys):
            if key in config:
                distance += (self._coords[:, j] - self._scaled(key, config[key])) ** 2
        used = np.zeros(len(self.rows), dtype=bool)
        used[list(taken)] = True
        return int(np.lexsort((distance, mismatches, used))[0])


SETUP = ("search", "profile", "overrides", "metric", "fixed")  # what must match to merge recordings


def read_meta(paths) -> dict:
    """The recording setup the files share (recordings drawn with different seeds may be merged)."""
    metas = [json.loads(Path(p).read_text(encoding="utf-8"))["meta"] for p in paths]
    for path, meta in zip(paths[1:], metas[1:]):
        if any(meta.get(k) != metas[0].get(k) for k in SETUP):
            raise ValueError(f"{path}: recorded with another setup than {paths[0]} ({', '.join(SETUP)})")
    return metas[0]


def load_table(paths, space, clock: str = "seconds") -> Table:
    """The tables at `paths`, one table, read against `space` (the spec's space the recorder drew from).
    `clock`: the check field replayed as a check's duration, "seconds" (wall) or "cpu_seconds" (the
    recorder's CPU time, which the load of a shared machine does not inflate). ValueError: no curves,
    another setup, or a check without `clock` (tables recorded before cpu_seconds have only wall seconds)."""
    meta, rows = read_meta(paths), []
    for path in paths:
        recorded = json.loads(Path(path).read_text(encoding="utf-8"))["rows"]
        missing = next((i for i, r in enumerate(recorded) if any(clock not in c for c in r["checks"])), None)
        if missing is not None:
            raise ValueError(f"{path}: row {missing + 1} has no `{clock}` at every check")
        rows += [r for r in recorded if r["checks"]]
    if not rows:
        raise ValueError(f"{', '.join(map(str, paths))}: no recorded curves")
    return Table(rows=rows, meta=meta, space=space, clock=clock)
