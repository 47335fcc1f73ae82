"""Boost's frozen features cached on disk, keyed by all that changes them, stored in half precision
(bertclf/feature_cache.py)."""
import pytest
import torch

from bertclf.train import train


def test_boost_second_run_hits_the_feature_cache(config_for, monkeypatch, capsys):
    cfg = dict(bert_finetuning=False, boost=True, n_epochs=2, lr=1e-2)
    first = train(config_for(run_name="b1", **cfg))
    assert "features computed and cached" in capsys.readouterr().err

    from transformers.models.bert import modeling_bert

    def encoder_must_not_run(*args, **kwargs):
        raise AssertionError("the encoder ran on a cache hit")
    monkeypatch.setattr(modeling_bert.BertModel, "forward", encoder_must_not_run)
    second = train(config_for(run_name="b2", **cfg))
    err = capsys.readouterr().err
    assert "train features loaded from cache" in err and "valid features loaded from cache" in err
    assert second["history"][-1]["valid_loss"] == pytest.approx(first["history"][-1]["valid_loss"], rel=1e-6)


def test_boost_cache_key_changes_with_precision(config_for, capsys):
    train(config_for(run_name="p1", bert_finetuning=False, boost=True, n_epochs=1, precision="fp32"))
    capsys.readouterr()
    train(config_for(run_name="p2", bert_finetuning=False, boost=True, n_epochs=1, precision="bf16"))
    assert "features computed and cached" in capsys.readouterr().err  # not fp32's features under a bf16 run


def test_boost_cache_key_changes_with_max_length(config_for, capsys):
    train(config_for(run_name="c1", bert_finetuning=False, boost=True, n_epochs=1))
    capsys.readouterr()
    train(config_for(run_name="c2", bert_finetuning=False, boost=True, n_epochs=1, max_length=16))
    assert "features computed and cached" in capsys.readouterr().err


def test_boost_features_are_stored_in_half_precision(config_for, tmp_path):
    from safetensors.torch import load_file
    train(config_for(bert_finetuning=False, boost=True, n_epochs=1))
    stored = [load_file(str(f))["features"] for f in (tmp_path / "cache" / "features").glob("*.safetensors")]
    assert len(stored) == 2 and all(t.dtype == torch.float16 for t in stored)


def test_a_pass_takes_the_rows_an_earlier_pass_encoded_and_they_are_its_own(config_for, tmp_path, capsys,
                                                                             monkeypatch):
    """head, then head+tail at max_length 12 (toy texts of 7-17 tokens): the texts shorter than 12
    tokens are the same row in both, so the second pass encodes only the cut ones; its features equal
    those of the same pass run alone (a fresh memo and cache)."""
    import re
    from safetensors.torch import load_file
    from bertclf import feature_cache
    cfg = dict(bert_finetuning=False, boost=True, n_epochs=1, max_length=12)
    monkeypatch.setattr(feature_cache, "ROWS", feature_cache.RowMemo())  # this test's passes only
    train(config_for(run_name="head", truncation="head", **cfg))
    assert "earlier pass" not in capsys.readouterr().err
    train(config_for(run_name="ht", truncation="head+tail", **cfg))
    taken = [tuple(map(int, m)) for m in re.findall(r"\((\d+) texts, (\d+) of them the same token ids as an "
                                                      r"earlier pass's: taken from it", capsys.readouterr().err)]
    assert len(taken) == 2 and all(0 < n < total for total, n in taken), taken  # train and valid
    monkeypatch.setattr(feature_cache, "ROWS", feature_cache.RowMemo())
    train(config_for(run_name="alone", truncation="head+tail", cache_dir=str(tmp_path / "alone"), **cfg))
    assert "earlier pass" not in capsys.readouterr().err

    def stored(folder):
        return {f.name: load_file(str(f))["features"] for f in (folder / "features").glob("*.safetensors")}
    shared, alone = stored(tmp_path / "cache"), stored(tmp_path / "alone")
    assert set(alone) <= set(shared) and len(alone) == 2  # the same cache keys: train and valid of head+tail
    for name, features in alone.items():
        torch.testing.assert_close(shared[name].float(), features.float(), atol=2e-3, rtol=0)


def test_the_row_memo_keeps_its_bound_dropping_the_oldest_rows():
    from bertclf.feature_cache import RowMemo
    memo = RowMemo(limit=3 * 8 * 2)  # three rows of 8 fp16 values
    for k in range(5):
        memo.put(("e", "fp32", ("cls", "last"), k), torch.full((8,), float(k), dtype=torch.float16))
    assert memo.bytes == 48 and [memo.get(("e", "fp32", ("cls", "last"), k)) is None for k in range(5)] == \
        [True, True, False, False, False]


def test_a_pass_of_windows_counts_windows_and_the_time_left(monkeypatch):
    from bertclf import feature_cache
    lines = []
    monkeypatch.setattr(feature_cache, "PROGRESS_EVERY_S", 0.0)
    progress = feature_cache.PassProgress([30, 10, 10, 10], "boost: encoding train", lines.append, unit="windows")
    progress.batch_done([0])
    progress.batch_done([1, 2])
    progress.batch_done([3])  # the last: the pass's end is said by its caller, not here
    assert len(lines) == 2
    assert lines[0].startswith("boost: encoding train: 1 of 4 windows in ") and lines[0].endswith(" s left")
    assert lines[1].startswith("boost: encoding train: 3 of 4 windows in ")


def test_the_heap_is_trimmed_once_per_period_of_a_long_loop(monkeypatch):
    from bertclf import heap
    trims = []
    monkeypatch.setattr(heap, "_TRIM", lambda pad: trims.append(pad))
    slow = heap.PeriodicTrim(every=3600.0)
    for _ in range(5):
        slow.tick()
    assert trims == []
    every_tick = heap.PeriodicTrim(every=0.0)
    for _ in range(3):
        every_tick.tick()
    assert trims == [0, 0, 0]


def test_a_pass_asks_before_each_batch_how_many_threads_it_may_use(config_for, tmp_path, monkeypatch):
    """FrozenEncoder.threads: asked once a batch, and the pass then runs on that many torch threads."""
    from bertclf import feature_cache
    from bertclf.inputs import add_features, prepare_inputs
    monkeypatch.setattr(feature_cache, "ROWS", feature_cache.RowMemo())  # no rows of earlier tests' passes
    config = config_for(bert_finetuning=False, boost=True, eval_batch_size=8, run_name="threads",
                        cache_dir=str(tmp_path / "cache"))  # features no earlier test cached
    inputs = prepare_inputs(config, lambda line: None)
    asked = []
    before = torch.get_num_threads()
    wanted = 2 if before == 1 else 1  # not the count it runs on already

    def threads():
        asked.append(1)
        return wanted
    try:
        add_features(inputs, config, [config.feature_variant], lambda line: None, threads=threads)
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    batches = sum(-(-len(t) // 8) for t in inputs.tokens.values())
    assert len(asked) == batches and after == wanted
