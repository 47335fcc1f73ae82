"""tokenize_on: workers on a 2-node Ray cluster on loopback: the workers' token ids are the driver's, they were
made on both nodes and not in the driver (texts cut into windows too), the driver never held all the texts, and a
search with the option runs to its results."""
import os
import shutil
import tempfile
from dataclasses import replace

import pytest

from tests.helpers import read_csv, sentiment_rows, write_csv

pytestmark = [pytest.mark.ray, pytest.mark.cluster]


@pytest.fixture(scope="module")
def cluster():
    """A head without CPUs (the driver's node) and two 1-CPU nodes: any task runs on a node of its own."""
    # a short session folder: Ray's socket paths must fit in 107 bytes
    ray_tmp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    saved = {k: os.environ.get(k) for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_TMPDIR")}
    os.environ.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_TMPDIR=ray_tmp)
    import ray
    from ray.cluster_utils import Cluster
    made = None
    try:
        made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": True,
                                                             "dashboard_host": "127.0.0.1", "dashboard_port": 0})
        for _ in range(2):
            made.add_node(num_cpus=1)
        made.wait_for_nodes()
        ray.init(address=made.address, log_to_driver=False)
        yield made
    finally:
        ray.shutdown()
        if made is not None:
            made.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


@pytest.mark.parametrize("pairs", [False, True])
def test_workers_tokenise_as_the_driver_does_on_both_nodes(cluster, config_for, tmp_path, pairs):
    import ray
    from bert_hpo_distributed.shared import Shared
    from bert_hpo_distributed.worker_tokens import TokenBlocks, gathered, tokenise_on_workers, wait_for_workers
    from bertclf.inputs import prepare_inputs, tokens_key
    config = config_for(valid_path=None, valid_fraction=0.25)  # the held-out split decided by the driver
    if pairs:  # sentence pairs: both texts, and where the second one starts, made on the workers
        rows = [(a, b, label) for (a, label), (b, _) in zip(sentiment_rows(320, seed=1), sentiment_rows(320, seed=4))]
        pairs_csv = write_csv(tmp_path / "pairs.csv", rows, ["sentence1", "sentence2", "label"])
        config = replace(config, train_path=pairs_csv)
    here = prepare_inputs(config, lambda message: None)
    remote = prepare_inputs(config, lambda message: None, streamed=True)
    places = tokenise_on_workers(remote, tokens_key(config), Shared(), chunk=40, in_flight=2)
    assert all(isinstance(t, TokenBlocks) for t in remote.tokens.values())  # the driver holds refs only
    where = wait_for_workers(places)
    got = gathered(ray.get(ray.put(remote)))  # as a trial finds it in the object store
    assert got.splits == here.splits == ["train", "valid"] and got.label_names == here.label_names
    for split in here.splits:
        assert len(got.tokens[split]) == len(here.tokens[split]) and len(got.tokens[split]) > 40
        assert got.tokens[split].flat.numpy().dtype == here.tokens[split].flat.numpy().dtype
        assert (got.tokens[split].flat.numpy() == here.tokens[split].flat.numpy()).all()
        assert got.tokens[split].lengths.equal(here.tokens[split].lengths)
        assert (got.tokens[split].type_starts is None) == (here.tokens[split].type_starts is None) != pairs
        assert not pairs or got.tokens[split].type_starts.equal(here.tokens[split].type_starts)
        assert got.labels[split].equal(here.labels[split])
    assert len(where) == len(places) == 8  # 240 train + 80 valid texts in blocks of 40
    assert len({node for node, _ in where}) == 2 and os.getpid() not in {pid for _, pid in where}
    assert ray.get_runtime_context().get_node_id() not in {node for node, _ in where}


def test_workers_cut_texts_into_the_drivers_windows(cluster, config_for):
    import ray
    from bert_hpo_distributed.shared import Shared
    from bert_hpo_distributed.worker_tokens import gathered, tokenise_on_workers, wait_for_workers
    from bertclf.inputs import prepare_inputs, tokens_key
    config = config_for(valid_path=None, valid_fraction=0.25, truncation="chunks", max_length=8, doc_stride=2,
                        max_chunks=3)
    here = prepare_inputs(config, lambda message: None)
    remote = prepare_inputs(config, lambda message: None, streamed=True)
    wait_for_workers(tokenise_on_workers(remote, tokens_key(config), Shared(), chunk=40, in_flight=2))
    got = gathered(ray.get(ray.put(remote)))
    for split in here.splits:  # blocks of windows joined with their texts' window counts
        assert got.tokens[split].fingerprint() == here.tokens[split].fingerprint()
        assert len(got.tokens[split]) == len(here.tokens[split]) < got.tokens[split].n_windows


@pytest.mark.parametrize("mode", ["finetune", "boost"])  # boost: the frozen features' task joins the blocks
def test_a_search_that_tokenises_on_the_workers_completes(cluster, toy, tmp_path, capfd, mode):
    from bert_hpo_distributed.plan import SearchOptions
    from bert_hpo_distributed.search import run_search
    test = write_csv(tmp_path / "test.csv", sentiment_rows(40, seed=3), ["text", "label"])
    summary = run_search(SearchOptions(
        search="classify", smoke_test=True, output_dir=str(tmp_path / "out"), address=cluster.address,
        force_cpu=True, max_concurrent=1, overrides=[
            f"files={{train: {toy['train']}, valid: {toy['valid']}, test: {test}}}", f"fixed.bert_name={toy['model']}",
            "smoke.fixed.max_length=32", f"space.mode={{choice: [{mode}]}}", "tokenize_on=workers"]))
    assert summary["trials"] == 2 and summary["errors"] == 0 and summary["statuses"] == {"completed": 2}
    err = capfd.readouterr().err
    assert "tokenised by the workers" in err and "texts left in their files" in err, err[-3000:]
    smoke = tmp_path / "out" / "classify-smoke" / "smoke-data"  # the smoke slices of train and of the valid file
    streamed = sum(len(read_csv(smoke / f"{split}.csv")) for split in ("train", "valid"))
    assert f"tokenising on the workers: {streamed} texts streamed" in err and "inputs ready in" not in err
    assert "tokenised on the workers: 2 chunk(s)" in err and "not cached on disk" in err
    assert ("boost: computing frozen features" in err) == (mode == "boost")  # in a Ray task, from the blocks
    assert (tmp_path / "out" / "classify-smoke" / "results.md").exists()


def test_the_driver_never_holds_all_the_texts(cluster, config_for, tmp_path, monkeypatch):
    """The driver's Python heap at its peak, over the whole path (scan, split, stream to the tasks, wait), holds
    a few chunks of texts, not the file's: 2,000 texts of 3 KB, read 100 rows at a time, in chunks of 50 texts,
    at most 2 chunks in flight (without Ray, measured: about 1.3 MB, flat from 2,000 to 8,000 rows of 4 KB).
    Reading the texts whole, as tokenize_on: driver does, peaks above the file's 6 MB."""
    import tracemalloc
    from bert_hpo_distributed.shared import Shared
    from bert_hpo_distributed.worker_tokens import tokenise_on_workers, wait_for_workers
    from bertclf.data import readers
    from bertclf.inputs import prepare_inputs, tokens_key
    rows = [(((text + " ") * 120)[:3000], label) for text, label in sentiment_rows(2000, seed=7)]
    config = config_for(train_path=write_csv(tmp_path / "big.csv", rows, ["text", "label"]), valid_path=None,
                        valid_fraction=0.1)
    text_bytes = sum(len(text) for text, _ in rows)
    del rows
    monkeypatch.setattr(readers, "CHUNK_ROWS", 100)

    def tokenised(config):
        inputs = prepare_inputs(config, lambda message: None, streamed=True)
        wait_for_workers(tokenise_on_workers(inputs, tokens_key(config), Shared(), chunk=50, in_flight=2))
        return inputs

    tokenised(config_for(valid_path=None))  # the modules a first remote call imports: not the data's memory
    tracemalloc.start()
    try:
        inputs = tokenised(config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(inputs.tokens["train"]) == 1800 and len(inputs.tokens["valid"]) == 200
    assert peak < text_bytes / 3, f"driver peak {peak / 1e6:.2f} MB for {text_bytes / 1e6:.2f} MB of texts"


def test_a_failed_tokenising_task_is_one_error(cluster, config_for, tmp_path):
    from dataclasses import replace
    from bert_hpo_distributed.shared import Shared
    from bert_hpo_distributed.worker_tokens import tokenise_on_workers, wait_for_workers
    from bertclf.errors import UserError
    from bertclf.inputs import prepare_inputs, tokens_key
    config = config_for()
    inputs = prepare_inputs(config, lambda message: None, streamed=True)
    missing = replace(tokens_key(config), bert_name=str(tmp_path / "no-such-model"))  # e.g. gone from a node
    with pytest.raises(UserError, match="^tokenize_on workers: a tokenising task failed: ") as e:
        wait_for_workers(tokenise_on_workers(inputs, missing, Shared()))
    assert "no-such-model: no such model" in str(e.value)  # the task's own first line, no traceback
