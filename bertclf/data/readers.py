"""Tables of texts from files, through pandas and pyarrow: CSV, TSV, JSON Lines, Parquet, a folder saved by
Hugging Face `datasets` (save_to_disk), and the aclImdb folder layout.

A table is read in chunks of CHUNK_ROWS rows, so that no reader holds a whole file as Python objects
twice. Delimited files (CSV, TSV) are read without a header: whether their first row is one is for
`columns` to decide, from the values. Every problem is one UserError naming the option and the file,
and the row where there is one.
"""
import csv
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import UserError

CHUNK_ROWS = 20_000
DELIMITED = {".csv": ",", ".tsv": "\t", ".txt": "\t"}  # .txt: NSMC's ratings_*.txt are tab-separated
JSON_LINES = (".jsonl", ".ndjson", ".json")
PARQUET = (".parquet", ".pq")
FORMATS = "CSV (.csv), TSV (.tsv, .txt), JSON Lines (.jsonl, .json), each optionally .gz; Parquet (.parquet); " \
          "a folder saved by datasets' save_to_disk; an aclImdb split folder"
ACLIMDB_LABELS = {"neg": "negative", "pos": "positive"}

Chunk = Tuple[int, pd.DataFrame]  # (row number of the frame's first row, the rows)


@dataclass
class Table:
    """What a file holds, before columns are chosen. `chunks()` yields its rows anew at each call.

    named: the format names its columns (JSON keys, a Parquet schema, the aclImdb layout); False for
    CSV/TSV, whose columns are numbered 0, 1, ... and whose first row may be a header.
    row numbers: 1 for a file's first record (a CSV's header row included), so that they match what
    an editor shows for files without line breaks inside quotes.
    """
    path: Path
    option: str
    named: bool
    chunks: Callable[[], Iterator[Chunk]]
    class_names: Dict[str, List[str]] = field(default_factory=dict)  # column -> names of integer labels

    @property
    def where(self) -> str:
        return where_of(self.option, self.path)


def where_of(option: str, path) -> str:
    """How messages name a file: by its option (--train_path FILE), or by its role (test data FILE)."""
    return f"{option} {path}" if " " in option else f"--{option} {path}"


def format_of(path: Path) -> str:
    """The file's extension, .gz removed: '.csv', '.jsonl', ..."""
    name = path.name.lower()
    name = name[:-3] if name.endswith(".gz") else name
    return Path(name).suffix


def open_table(path, option: str) -> Table:
    """The table in `path` (file or folder); UserError for a missing file, an unknown extension or layout."""
    path = Path(path)
    where = where_of(option, path)
    if not path.exists():
        raise UserError(f"{where}: no such file or folder")
    if path.is_dir():
        return _folder(path, option, where)
    kind = format_of(path)
    if path.stat().st_size == 0:
        raise UserError(f"{where}: the file is empty")
    if kind in DELIMITED:
        return Table(path, option, False, lambda: _delimited(path, DELIMITED[kind], where))
    if kind in JSON_LINES:
        return Table(path, option, True, lambda: _json_lines(path, where))
    if kind in PARQUET:
        if path.name.lower().endswith(".gz"):
            raise UserError(f"{where}: a Parquet file compresses inside itself; pass it without .gz")
        return Table(path, option, True, lambda: _parquet(path, where), _parquet_class_names(path, where))
    raise UserError(f"{where}: unknown file type {kind or '(no extension)'!r}; expected {FORMATS}")


def read_text(path, option: str) -> str:
    """A plain text file a user names (texts to predict, one per line; an earlier search's results.csv),
    with the readers' checks: UserError for a missing or empty file, or one that is not UTF-8 text."""
    path = Path(path)
    where = where_of(option, path)
    if not path.is_file():
        raise UserError(f"{where}: no such file")
    if path.stat().st_size == 0:
        raise UserError(f"{where}: the file is empty")
    try:
        return path.read_text(encoding="utf-8-sig")
    except READ_ERRORS as e:
        raise _failed(where, e) from None


def _failed(where: str, e: Exception) -> UserError:
    if isinstance(e, UnicodeDecodeError):
        return UserError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})")
    if isinstance(e, pd.errors.ParserError):
        # "Error tokenizing data. C error: Expected 2 fields in line 4, saw 3"
        detail = str(e).split("C error: ")[-1].strip()
        if detail.startswith("Expected"):
            expected, _, rest = detail.removeprefix("Expected ").partition(" fields in line ")
            line, _, saw = rest.partition(", saw ")
            return UserError(f"{where}: row {line} has {saw} fields, the first row has {expected}: a text with an "
                             f"unquoted delimiter? Quote such texts (\"...\")")
        return UserError(f"{where}: malformed file ({detail})")
    return UserError(f"{where}: cannot read ({e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''})")


READ_ERRORS = (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError, pd.errors.ParserError, ValueError,
               pa.ArrowException)


def _delimited(path: Path, delimiter: str, where: str) -> Iterator[Chunk]:
    # TSVs such as NSMC carry bare quote characters: read them literally. CSV quoting is RFC 4180's.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    row = 1
    try:
        reader = pd.read_csv(path, sep=delimiter, header=None, dtype=str, keep_default_na=False, quoting=quoting,
                             chunksize=CHUNK_ROWS, encoding="utf-8", compression="infer", index_col=False)
        with reader:
            for frame in reader:
                yield row, frame
                row += len(frame)
    except READ_ERRORS as e:
        raise _failed(where, e) from None


def _json_lines(path: Path, where: str) -> Iterator[Chunk]:
    row = 1
    try:
        reader = pd.read_json(path, lines=True, chunksize=CHUNK_ROWS, dtype=False, convert_dates=False,
                              encoding="utf-8", compression="infer")
        with reader:
            for frame in reader:
                yield row, frame
                row += len(frame)
    except (ValueError, TypeError) as e:  # pandas: ValueError for bad JSON, TypeError for a line that is no object
        if isinstance(e, UnicodeDecodeError):
            raise _failed(where, e) from None
        raise UserError(f"{where}: {_bad_json_line(path)}") from None
    except READ_ERRORS as e:
        raise _failed(where, e) from None


def _bad_json_line(path: Path) -> str:
    """Which line of a JSON Lines file is not one JSON object (pandas does not say)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                return f"line {number} is not valid JSON ({e.msg}); expected one JSON object per line"
            if not isinstance(value, dict):
                return f"line {number} is not a JSON object; expected one object per line, e.g. " \
                       f'{{"text": "...", "label": "..."}}'
    return "not JSON Lines (one JSON object per line)"


def _arrow_batches(batches, where: str) -> Iterator[Chunk]:
    row = 1
    try:
        for batch in batches:
            frame = batch.to_pandas()
            yield row, frame
            row += len(frame)
    except READ_ERRORS as e:
        raise _failed(where, e) from None


def _parquet(path: Path, where: str) -> Iterator[Chunk]:
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS)
    except READ_ERRORS as e:
        raise _failed(where, e) from None
    yield from _arrow_batches(batches, where)


def _class_names(features) -> Dict[str, List[str]]:
    """{column: names} of the ClassLabel columns in a `datasets` features description, and of the list
    columns of ClassLabel (Sequence / List: a multi-label column)."""
    if not isinstance(features, dict):
        return {}
    specs = {column: spec.get("feature", spec) if isinstance(spec, dict) and spec.get("_type") in ("Sequence", "List")
             else spec for column, spec in features.items()}
    return {column: list(spec["names"]) for column, spec in specs.items()
            if isinstance(spec, dict) and spec.get("_type") == "ClassLabel" and spec.get("names")}


def _parquet_class_names(path: Path, where: str) -> Dict[str, List[str]]:
    """A Parquet file written by `datasets` keeps its features (label names) in the schema's metadata."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except READ_ERRORS as e:
        raise _failed(where, e) from None
    info = json.loads(metadata.get(b"huggingface", b"{}") or b"{}")
    return _class_names((info.get("info") or {}).get("features"))


def _folder(path: Path, option: str, where: str) -> Table:
    if (path / "pos").is_dir() or (path / "neg").is_dir():
        return Table(path, option, True, lambda: _aclimdb(path, where))
    if (path / "dataset_dict.json").exists():
        splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
        raise UserError(f"{where}: a DatasetDict folder with the splits {', '.join(splits)}; pass one of them, "
                        f"e.g. {path / (splits[0] if splits else 'train')}")
    if (path / "state.json").exists():
        return _saved_dataset(path, option, where)
    raise UserError(f"{where}: a folder must be an aclImdb split (with pos/ and neg/ sub-folders, e.g. "
                    f"aclImdb/train) or a data set saved by datasets' save_to_disk (with state.json)")


def _aclimdb(folder: Path, where: str) -> Iterator[Chunk]:
    texts, labels = [], []
    for sub, label in ACLIMDB_LABELS.items():
        for file in sorted((folder / sub).glob("*.txt"), key=lambda p: p.name):
            texts.append(file.read_text(encoding="utf-8"))
            labels.append(label)
    if not texts:
        raise UserError(f"{where}: aclImdb split folder has no pos/*.txt or neg/*.txt files")
    yield 1, pd.DataFrame({"text": texts, "label": labels})


def _saved_dataset(folder: Path, option: str, where: str) -> Table:
    """A `datasets` save_to_disk folder: Arrow stream files listed in state.json, features in dataset_info.json."""
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        files = [folder / f["filename"] for f in state.get("_data_files", [])]
        info_path = folder / "dataset_info.json"
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{where}: not a readable save_to_disk folder ({e})") from None
    if not files:
        raise UserError(f"{where}: state.json lists no data files")

    def chunks():
        def batches():
            for file in files:
                with pa.memory_map(str(file)) as source:
                    yield from pa.ipc.open_stream(source)
        return _arrow_batches(batches(), where)

    return Table(folder, option, True, chunks, _class_names(info.get("features")))
