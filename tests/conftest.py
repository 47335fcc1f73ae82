import csv
import os
import random

import pytest

from bertclf.tiny_model import FAMILIES, build_tiny_model

# No test may reach a network: model names resolve offline, Ray stays on loopback.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["BERT_HPO_OFFLINE"] = "1"  # data downloads only from the tests' own 127.0.0.1 server

POSITIVE = ["great", "wonderful", "excellent", "superb", "loved", "brilliant"]
NEGATIVE = ["awful", "terrible", "boring", "bad", "hated", "dreadful"]
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


def write_csv(path, rows, header=None):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory):
    """Token ids and features cached by the tests stay in the tests' own folder, not the user's."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """A separable train/valid set and a tiny BERT whose vocabulary was learnt from it."""
    from bertclf.tiny_model import build_tiny_bert

    root = tmp_path_factory.mktemp("toy")
    train = sentiment_rows(320, seed=1)
    valid = sentiment_rows(80, seed=2)
    model = build_tiny_bert(root / "tiny_bert", [t for t, _ in train + valid])
    return {
        "root": root,
        "train": write_csv(root / "train.csv", train),
        "valid": write_csv(root / "valid.csv", valid),
        "valid_flipped": write_csv(root / "valid_flipped.csv", sentiment_rows(80, seed=2, flip=True)),
        "model": model,
    }


@pytest.fixture
def config_for(toy, tmp_path):
    """A TrainConfig for the toy set, sized to run in about a second; fp32, so that exact
    equalities (accumulation, workers, resume) hold."""
    from bertclf.config import TrainConfig

    def make(**overrides):
        values = dict(train_path=toy["train"], valid_path=toy["valid"], bert_name=toy["model"],
                      max_length=32, batch_size=16, n_epochs=3, lr=3e-3, lr_main=1e-3,
                      dropout_p=0.0, save_path=str(tmp_path / "runs"), run_name="run",
                      cache_dir=str(tmp_path / "cache"), progress=False, precision="fp32")
        values.update(overrides)
        return TrainConfig(**values)
    return make


@pytest.fixture(scope="session")
def families(tmp_path_factory):
    """{family: folder} of tiny random encoders whose vocabularies are learnt from the toy texts."""
    root = tmp_path_factory.mktemp("families")
    texts = [t for t, _ in sentiment_rows(400, seed=1)]
    return {family: build_tiny_model(root / family, texts, family=family) for family in FAMILIES}


def _config_and_tokenizer(folder):
    from transformers import AutoConfig, AutoTokenizer
    return AutoConfig.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def _specials(tokenizer):
    """(before, after) the tokenizer's own template puts around one text."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    start = next(i for i in range(len(full)) if full[i:i + len(bare)] == bare)
    return full[:start], full[start + len(bare):]
