import json
import os

import pytest

from bertclf.smoke import synthetic_korquad
from bertclf.models.tiny_model import FAMILIES, build_tiny_model
from tests.helpers import sentiment_rows, write_csv

# No test may reach a network: model names resolve offline, Ray stays on loopback.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["BERT_HPO_OFFLINE"] = "1"  # data downloads only from the tests' own 127.0.0.1 server


def pytest_collection_modifyitems(items):
    """The slowest first: cluster tests, then the others that start Ray, then the rest, each in file
    order. pytest-xdist hands tests out in this order, so the minutes-long searches start at once and
    the second-long tests fill in behind them instead of one long search running alone at the end."""
    def cost(item):
        return 0 if item.get_closest_marker("cluster") else 1 if item.get_closest_marker("ray") else 2
    items.sort(key=cost)


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory):
    """Token ids and features cached by the tests stay in the tests' own folder, not the user's."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """A separable train/valid set and a tiny BERT whose vocabulary was learnt from it."""
    from bertclf.models.tiny_model import build_tiny_bert

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


@pytest.fixture(scope="session")
def korean(tmp_path_factory):
    """A synthetic Korean SQuAD-format file (bertclf.smoke) and a tiny BERT whose vocabulary was learnt from it."""
    from bertclf.models.tiny_model import build_tiny_bert
    root = tmp_path_factory.mktemp("qa")
    path = synthetic_korquad(root / "qa.json")
    texts = [p["context"] + " " + q["question"] for a in json.load(open(path))["data"]
             for p in a["paragraphs"] for q in p["qas"]]
    model = build_tiny_bert(root / "tiny", texts, vocab_size=300, hidden=64, intermediate=128)
    return {"root": root, "path": path, "model": model}
