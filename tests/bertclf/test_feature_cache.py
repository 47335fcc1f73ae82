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
