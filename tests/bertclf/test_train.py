"""The training loop's promises: it learns, accumulation is exact, boost caches, stops early."""
import pytest
import torch
from safetensors.torch import load_file

from bertclf.train import train


def test_learns_separable_data(config_for):
    result = train(config_for(n_epochs=6))
    assert result["best"]["valid_accuracy"] >= 0.95
    assert result["history"][-1]["train_loss"] < result["history"][0]["train_loss"]


def _weights(run_dir):
    head = load_file(f"{run_dir}/head.safetensors")
    encoder = load_file(f"{run_dir}/encoder/model.safetensors")
    return {**{f"head.{k}": v for k, v in head.items()}, **encoder}


def test_gradient_accumulation_4x8_equals_one_step_of_32(config_for, toy, tmp_path):
    from tests.conftest import sentiment_rows, write_csv
    one_batch = write_csv(tmp_path / "32.csv", sentiment_rows(32, seed=5))
    runs = {}
    for accumulation in (1, 4):
        runs[accumulation] = train(config_for(train_path=one_batch, batch_size=32, n_epochs=1,
                                              gradient_accumulation_steps=accumulation,
                                              run_name=f"acc{accumulation}"))
    a, b = _weights(runs[1]["run_dir"]), _weights(runs[4]["run_dir"])
    initial = load_file(f"{toy['model']}/model.safetensors")
    moved = max((a[k] - initial[k]).abs().max().item() for k in initial if k in a)
    assert moved > 1e-4  # the step really changed the weights
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=2e-6, rtol=1e-4)
    assert runs[1]["history"][0]["train_loss"] == pytest.approx(runs[4]["history"][0]["train_loss"], rel=1e-5)


def test_last_partial_accumulation_is_trained_not_dropped(config_for, tmp_path):
    from tests.conftest import sentiment_rows, write_csv
    path = write_csv(tmp_path / "36.csv", sentiment_rows(36, seed=6))
    seen = []
    train(config_for(train_path=path, batch_size=32, gradient_accumulation_steps=4, n_epochs=1),
          report=lambda metrics, save: seen.append(metrics))
    assert len(seen) == 1
    from bertclf.batching import training_steps
    steps = training_steps([5] * 36, 32, 4, seed=42, epoch=1)
    assert sorted(i for step in steps for mb in step for i in mb) == list(range(36))
    assert [sum(len(mb) for mb in step) for step in steps] == [32, 4]


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


def test_early_stopping_and_best_epoch_not_last(config_for, toy):
    # valid labels are the reverse of train's: the better the model learns, the worse valid gets
    epochs = []
    result = train(config_for(valid_path=toy["valid_flipped"], n_epochs=12, early_stop=2),
                   report=lambda metrics, save: epochs.append(metrics["epoch"]))
    best = result["best"]["epoch"]
    assert len(epochs) < 12, "early stopping never stopped"
    assert epochs[-1] == best + 2
    assert best != epochs[-1]
    table = open(f"{result['run_dir']}/results.md").read()
    assert f"| {best} |" in table


def test_same_seed_same_result(config_for):
    a = train(config_for(run_name="s1", n_epochs=1))["history"][0]
    b = train(config_for(run_name="s2", n_epochs=1))["history"][0]
    assert a["train_loss"] == b["train_loss"] and a["valid_loss"] == b["valid_loss"]


def test_frozen_encoder_without_boost_trains_only_the_head(config_for, toy):
    result = train(config_for(bert_finetuning=False, n_epochs=2, lr=1e-2))
    import json
    meta = json.load(open(f"{result['run_dir']}/bert_hpo_model.json"))
    assert meta["finetuned"] is False and meta["bert_name"] == toy["model"]
    import os
    assert not os.path.exists(f"{result['run_dir']}/encoder")  # a reference to the base model only


def test_resume_from_checkpoint_continues_the_run(config_for, tmp_path):
    checkpoints = {}

    def keep(metrics, save):
        folder = tmp_path / f"ckpt{metrics['epoch']}"
        save(folder)
        checkpoints[metrics["epoch"]] = folder
    full = train(config_for(run_name="full", n_epochs=3), report=keep)
    resumed = train(config_for(run_name="resumed", n_epochs=3), resume_from=checkpoints[2])
    assert [m["epoch"] for m in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][2]["valid_loss"] == pytest.approx(full["history"][2]["valid_loss"], rel=1e-4)


def test_feature_cache_computes_each_key_once_under_concurrency(tmp_path):
    import threading
    from bertclf.tensor_cache import cached
    calls = []

    def compute():
        calls.append(1)
        import time
        time.sleep(0.2)
        return {"x": torch.arange(4)}
    results = []
    threads = [threading.Thread(target=lambda: results.append(cached(tmp_path, "k", "same", compute)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sum(hit for _, hit, _ in results) == 3


def test_num_workers_pad_batches_in_other_processes_with_the_same_result(config_for):
    inline = train(config_for(run_name="w0", n_epochs=1))["history"][0]
    workers = train(config_for(run_name="w2", n_epochs=1, num_workers=2))["history"][0]
    assert workers["train_loss"] == pytest.approx(inline["train_loss"], rel=1e-6)
    assert workers["valid_loss"] == pytest.approx(inline["valid_loss"], rel=1e-6)


def test_boost_features_are_stored_in_half_precision(config_for, tmp_path):
    from safetensors.torch import load_file
    train(config_for(bert_finetuning=False, boost=True, n_epochs=1))
    stored = [load_file(str(f))["features"] for f in (tmp_path / "cache" / "features").glob("*.safetensors")]
    assert len(stored) == 2 and all(t.dtype == torch.float16 for t in stored)
