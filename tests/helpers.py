"""What many tests share: the repository root, separable toy texts, files written like the
shipped data sets, and the search command run as a user runs it."""
import csv
import gzip
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

POSITIVE = ["great", "wonderful", "excellent", "superb", "loved", "brilliant"]
NEGATIVE = ["awful", "terrible", "boring", "bad", "hated", "dreadful"]
# The start of a script run with `python -I` (no PYTHONPATH, so no worktree): an import hook that refuses
# the project's packages, which the editable install would otherwise still find.
REFUSE_PROJECT = r"""
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("bertclf", "bert_hpo_distributed"):
            raise ImportError("the portable model must not need " + name)
sys.meta_path.insert(0, Refuse())
"""
FILLER = ("the movie was a story with actors and a plot that i saw on sunday evening "
          "in town with my friend who likes long films").split()


def sentiment_rows(n, seed=0, flip=False):
    """Texts whose label is decided by one sentiment word among random filler: separable."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        y = i % 2
        words = rng.sample(FILLER, rng.randint(4, 14)) + [rng.choice(POSITIVE if y else NEGATIVE)]
        rng.shuffle(words)
        label = (1 - y) if flip else y
        rows.append((" ".join(words), "pos" if label else "neg"))
    return rows


def scored_rows(n, seed=0, pairs=False):
    """Texts (or text pairs) whose score is 1.5 per positive word among three sentiment words, give or take
    0.2: a number a tiny model learns to rank. Rows: (text, score) or (text, pair, score), scores as text."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        k = rng.randint(0, 3)
        words = rng.sample(FILLER, rng.randint(4, 10)) + rng.sample(POSITIVE, k) + rng.sample(NEGATIVE, 3 - k)
        rng.shuffle(words)
        score = f"{k * 1.5 + rng.uniform(-0.2, 0.2):.3f}"
        rows.append((" ".join(rng.sample(FILLER, 5)), " ".join(words), score) if pairs else (" ".join(words), score))
    return rows


def write_csv(path, rows, header=None):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def write_imdb_like(folder: Path, n_train=600, n_test=200):
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, seed in (("imdb_train.csv.gz", n_train, 11), ("imdb_test.csv.gz", n_test, 12)):
        rows = ["text,label"] + [f'"{t}",{1 if y == "pos" else 0}' for t, y in sentiment_rows(n, seed)]
        (folder / name).write_bytes(gzip.compress("\n".join(rows).encode()))
    return folder


def search_cmd(data_dir, out_dir, *extra):
    return [sys.executable, str(ROOT / "launch.py"), "--search", "imdb", "--smoke-test",
            "--data-dir", str(data_dir), "--output-dir", str(out_dir), "--num-cpus", "2", *extra]


def run(cmd, timeout=400):
    env = dict(os.environ, PYTHONUNBUFFERED="1", RAY_DEDUP_LOGS="0")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return proc


def start_search(cmd):
    """The search `cmd` started in a session of its own (signals and SIGKILL reach its process group),
    its stderr a pipe of lines."""
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)


def lines_until(proc, marker: str) -> list:
    """The stderr lines of `proc` up to and with the first that holds `marker` (all, if none does)."""
    lines = []
    for line in proc.stderr:
        lines.append(line.rstrip("\n"))
        if marker in line:
            break
    return lines


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def config_and_tokenizer(folder):
    """(AutoConfig, AutoTokenizer) of a saved model folder."""
    from transformers import AutoConfig, AutoTokenizer
    return AutoConfig.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def template_specials(tokenizer):
    """(before, after) the tokenizer's own template puts around one text."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    start = next(i for i in range(len(full)) if full[i:i + len(bare)] == bare)
    return full[:start], full[start + len(bare):]


def run_cli(capsys, *argv):
    """launch.py's single run or --predict in this process: (exit code, the `error:` lines, stdout); fails
    on a traceback."""
    from launch import main
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    return code, errors or captured.err.strip().splitlines(), captured.out


def save_to_disk(folder: Path, table, features: dict) -> Path:
    """A folder as `datasets`' save_to_disk writes it: `table` (pyarrow) as an Arrow stream file,
    state.json, and dataset_info.json with `features`."""
    import json
    import pyarrow as pa
    folder.mkdir()
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (folder / "dataset_info.json").write_text(json.dumps({"features": features}))
    return folder


def train_keeping_checkpoints(config, folder):
    """(train's result for `config`, {epoch: the checkpoint folder saved under `folder` at that check})."""
    from bertclf.train import train
    checkpoints = {}

    def keep(metrics, save):
        path = Path(folder) / f"ckpt{metrics['epoch']}"
        save(path)
        checkpoints[metrics["epoch"]] = path
    return train(config, report=keep), checkpoints


def far_threshold(run_dir, inputs) -> tuple:
    """(threshold, valid accuracy at it) of a tuned decision threshold written into the meta of the two-label
    model `run_dir` (its ONNX copy written; `inputs` its prepared inputs), as a search on macro-F1 saves one:
    far above 0.5, in the widest gap among the middle of the confident half of its valid probabilities (a
    cut ONNX's and torch's rounding agree on), so that it flips many of the most probable label's answers."""
    import json
    import numpy as np
    import onnxruntime
    from bertclf.batching import token_inputs
    from bertclf.models.model_io import META
    from bertclf.portable import ONNX_PATH
    session = onnxruntime.InferenceSession(str(Path(run_dir) / ONNX_PATH), providers=["CPUExecutionProvider"])
    labels = inputs.labels["valid"].numpy()
    feed = token_inputs(inputs.tokens["valid"], inputs.pad_id, 1, list(range(len(labels))))
    logits = session.run(None, {i.name: feed[i.name].numpy() for i in session.get_inputs()})[0]
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    positive = probabilities[:, 1] / probabilities.sum(-1)
    above = np.sort(positive[positive > 0.5])
    cut = max(range(len(above) // 4, 3 * len(above) // 4), key=lambda i: above[i + 1] - above[i])
    threshold = float((above[cut] + above[cut + 1]) / 2)
    meta = Path(run_dir) / META
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "threshold": threshold}))
    thresholded = float(((positive >= threshold) == labels).mean())
    assert thresholded <= float(((positive >= 0.5) == labels).mean()) - 0.1  # the decisions differ on many texts
    return threshold, thresholded
