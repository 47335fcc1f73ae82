"""A spec resolved once: search_spaces/<name>.yaml, its cpu: / smoke: profile sections, --set and the
command-line flags that set a spec key are one ordered list of overrides, applied in order and
validated once (spec/check.py) into a frozen SearchSpec. A flag is held to the same check as the
key it sets, and its error names the flag as typed."""
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import yaml

from bertclf.errors import UserError, expected
from bertclf.tasks import TASKS

from .check import check_spec, check_values
from .model import SearchSpec
from .sections import TOP_KEYS, PROFILES, Where, build_spec

SPACES_DIR = Path(__file__).resolve().parent.parent.parent / "search_spaces"
# the spec keys a flag of their own sets, as `--set KEY=VALUE` does (a flag left out sets nothing)
FLAGS = {"num_samples": "--num-samples", "refit": "--refit", "time_budget": "--time-budget",
         "repeats": "--repeats", "max_concurrent": "--max-concurrent",
         "constraints.latency_ms": "--max-latency-ms", "constraints.model_mb": "--max-model-mb"}


@dataclass(frozen=True)
class Override:
    """One step of a spec's resolution: the file (key ""), a profile section merged over the top level
    (section), or one key set from the command line (--set a.b=value, or a flag of FLAGS)."""
    key: str  # dotted: num_samples, fixed.n_epochs; "" for the whole spec
    value: Any
    origin: str  # the file's path, "--set", or the flag
    section: str = ""  # cpu or smoke: this section of the spec merged over its top level
    typed: str = ""  # on the command line: what followed the flag (--set: key=value)

    @property
    def said(self) -> str:
        """The override as the user wrote it on the command line: --num-samples 3, --set num_samples=3."""
        return f"{self.origin} {self.typed}".strip()

    def where(self, key: str) -> Tuple[str, bool]:
        """(the start of an error about the top-level `key` this override set, whether the error
        should add the value): a flag's value is in its words already."""
        if self.origin in FLAGS.values():
            return self.said, False
        if self.origin == "--set":
            return f"--set {self.key}", True
        return f"{self.origin}: {self.section + '.' if self.section else ''}{key}", True


def spec_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    return SPACES_DIR / f"{name_or_path}.yaml"


def read_file(name_or_path: str) -> Override:
    """The spec file as the first override."""
    path = spec_path(name_or_path)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SPACES_DIR.glob("*.yaml")))
        raise UserError(f"--search {name_or_path}: no search space {path} (known: {known})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of keys at the top level")
    return Override("", raw, str(path))


def read_set(item: str) -> Override:
    """--set a.b=value: value is read as YAML (numbers, lists, booleans, mappings)."""
    if "=" not in item:
        raise UserError(f"--set {item!r}: expected key=value, e.g. num_samples=8 or fixed.n_epochs=2")
    key, text = item.split("=", 1)
    try:
        return Override(key.strip(), yaml.safe_load(text), "--set", typed=item)
    except yaml.YAMLError as e:
        raise UserError(f"--set {item!r}: the value is not valid YAML ({str(e).splitlines()[0]})") from None


def flag_overrides(values: dict) -> List[Override]:
    """The flags of FLAGS that were given (a value not None; --refit: true), from {option: value}, each
    option named as its flag (--max-latency-ms: max_latency_ms)."""
    given = {key: (flag, values.get(_option(flag))) for key, flag in FLAGS.items()}
    return [Override(key, value, flag, typed="" if isinstance(value, bool) else
                     f"{value:g}" if isinstance(value, float) else str(value))
            for key, (flag, value) in given.items() if value is not None and value is not False]


def _option(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def spec_overrides(name_or_path: str, sets: Sequence[str] = (), profile: Sequence[str] = (),
                   flags: Sequence[Override] = ()) -> List[Override]:
    """The file, the --set that edit a profile section, the profile sections (in order), the other
    --set, then the flags: later ones win."""
    parsed = [read_set(item) for item in sets]
    in_section = [o for o in parsed if _root(o.key) in PROFILES]
    return [read_file(name_or_path), *in_section, *(Override("", None, "", section=s) for s in profile),
            *(o for o in parsed if o not in in_section), *flags]


def apply(overrides: Sequence[Override]) -> Tuple[dict, Dict[str, Override], str]:
    """(the merged spec, {top-level key, and the dotted key a --set named: the override that set it
    last}, the file's path)."""
    source, raw, origins = overrides[0].origin, {}, {}
    for o in overrides:
        moved = {}
        if o.section:
            # a --set into this section (smoke.fixed.x) sets the key it lands on (fixed.x)
            moved = {key.removeprefix(o.section + "."): by for key, by in origins.items()
                     if key.startswith(o.section + ".")}
            o = Override("", raw.get(o.section) or {}, source, section=o.section)
            if isinstance(o.value, dict):  # else resolve refuses the section
                raw = merge(raw, o.value)
        elif not o.key:
            raw = copy.deepcopy(o.value)
        else:
            raw = _set(raw, o, source)
        keys = [_root(o.key), o.key] if o.key else list(o.value) if isinstance(o.value, dict) else []
        origins = {key: by for key, by in origins.items() if not any(key.startswith(k + ".") for k in keys)}
        origins.update({key: o for key in keys})
        origins.update(moved)
    return raw, origins, source


def named_by(origins: Dict[str, Override], source: str) -> Where:
    """The start of an error about a dotted key, in its user's words: the --set that named the key or a
    mapping above it, else a --set of a key inside it, else the file and the key."""
    def at(key: str) -> str:
        parts = key.split(".")
        for above in (".".join(parts[:n]) for n in range(len(parts), 0, -1)):
            by = origins.get(above)
            if by is not None and by.origin == "--set" and (by.key == above or by.key.endswith("." + above)):
                return f"--set {by.key}" + ("" if above == key else f": {key}")
        inside = any(name.startswith(key + ".") and by.origin == "--set" for name, by in origins.items())
        return f"--set {key}" if inside else f"{source}: {key}"
    return at


def _set(raw: dict, o: Override, source: str) -> dict:
    raw = copy.deepcopy(raw)
    parts = o.key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"--set {o.key}: {part} in {source} is not a mapping")
    node[parts[-1]] = o.value
    return raw


WHOLE = ("space", "first_trial")  # a section's space replaces the space, and first_trial is a point of it


def merge(base: dict, extra: dict) -> dict:
    """extra over base, mapping by mapping; a section's `space` and `first_trial` replace the whole key."""
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        out[key] = merge(out.get(key) or {}, value) if isinstance(value, dict) and key not in WHOLE else value
    return out


def _root(key: str) -> str:
    return key.split(".")[0]


def search_name(overrides: Sequence[Override]) -> str:
    """The spec's name (the search's, unless --name gives another), before the spec is resolved: it
    decides where the search's record is, which a --resume reads its trial count from."""
    raw, origins, source = apply(overrides)
    if not isinstance(raw.get("name"), str):
        raise UserError(f"{source}: name: expected a string")
    return raw["name"]


def resolve(overrides: Sequence[Override]) -> SearchSpec:
    """The frozen, validated spec the overrides make."""
    raw, origins, source = apply(overrides)
    if "mode" in raw:
        raise UserError(f"{source}: mode: not a top-level key; the metric's direction is metric_mode (max), and "
                        f"mode (finetune | lora | boost | frozen) belongs under space")
    at = named_by(origins, source)
    unknown = [key for key in raw if key not in TOP_KEYS]
    if unknown:
        said = at(unknown[0])  # a key of the file is named in the message: the file alone starts it
        raise UserError(f"{said if said.startswith('--set') else source}: unknown key {unknown[0]!r} ({expected(unknown[0], TOP_KEYS)})")
    for section in PROFILES:
        if not isinstance(raw.get(section) or {}, dict):
            raise UserError(f"{source}: {section}: expected a mapping of overrides")
    merged = check_values({k: v for k, v in _metric_of_task(raw, origins, source).items() if k not in PROFILES},
                          origins)
    spec = build_spec(merged, source, at)
    check_spec(spec)
    return spec


def _metric_of_task(raw: dict, origins: Dict[str, Override], source: str) -> dict:
    """`raw`, where the command line sets a task that the file's metric does not score, without that metric
    (and its mode): the file's metric is its own task's, and the task's default scores the search. A metric
    given on the command line stays, and is checked against the task."""
    task, by = raw.get("task"), origins.get("task")
    from_file = [key for key in ("metric", "metric_mode") if key in raw and origins[key].origin == source]
    if by is None or by.origin == source or task not in TASKS or raw.get("metric") in TASKS[task].metrics:
        return raw
    return {key: value for key, value in raw.items() if key not in from_file}


def load_spec(name_or_path: str, sets: Sequence[str] = (), *, profile: Sequence[str] = (),
              flags: Sequence[Override] = ()) -> SearchSpec:
    """The validated spec of a file, its `profile` sections (cpu, smoke) merged over it in order,
    --set `sets` and `flags` (see spec_overrides)."""
    return resolve(spec_overrides(name_or_path, sets, profile, flags))
