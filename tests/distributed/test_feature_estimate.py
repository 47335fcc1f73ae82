"""The boost passes' plan line (distributed/feature_estimate.py): what the passes are one per, and an
estimate that counts each pass's share of the encoder's layers."""
from types import SimpleNamespace

import torch

from bertclf.config import TrainConfig
from bertclf.tokenization import TokenIds
from bert_hpo_distributed import feature_estimate


def passes(**space):
    """A pass per combination of `space`'s values (max_length, encoder_layers), each over 10 texts of 8
    tokens."""
    tokens = TokenIds(torch.ones(80, dtype=torch.int32), torch.full((10,), 8, dtype=torch.int32))
    inputs = SimpleNamespace(tokens={"train": tokens})
    return [(TrainConfig(boost=True, bert_finetuning=False, max_length=length, encoder_layers=layers), inputs, set())
            for length in space.get("max_length", [128]) for layers in space.get("encoder_layers", [None])]


def test_the_passes_are_said_one_per_the_key_fields_that_differ(monkeypatch):
    monkeypatch.setattr(feature_estimate, "seconds_per_token", lambda config, inputs, source: 1.0)
    models = {TrainConfig.bert_name: SimpleNamespace(source="m", facts=SimpleNamespace(layers=6))}
    said = feature_estimate.describe_passes(passes(max_length=[64, 128, 256], encoder_layers=[3, 6]), models)
    assert said.startswith("6 frozen-feature pass(es) (one per max_length x encoder_layers; 60 texts, 480 tokens")
    assert feature_estimate.describe_passes(passes(), models).startswith("1 frozen-feature pass(es) (10 texts, ")


def test_a_window_option_is_said_a_pass_per_only_among_the_passes_it_cuts():
    """chunks and head+tail at two lengths: a head+tail key's doc_stride is the default, a chunks key's
    the spec's, and cuts no text."""
    configs = [TrainConfig(boost=True, bert_finetuning=False, max_length=length, truncation=truncation, doc_stride=32)
               for length in (64, 128) for truncation in ("chunks", "head+tail")]
    assert feature_estimate.passes_per([(config,) for config in configs]) == "max_length x truncation"
    strides = [TrainConfig(boost=True, bert_finetuning=False, truncation="chunks", doc_stride=stride)
               for stride in (16, 32)]
    assert feature_estimate.passes_per([(config,) for config in strides]) == "doc_stride"


def test_a_pass_of_half_the_layers_is_estimated_at_half_the_time(monkeypatch):
    monkeypatch.setattr(feature_estimate, "seconds_per_token", lambda config, inputs, source: 0.01)
    models = {TrainConfig.bert_name: SimpleNamespace(source="m", facts=SimpleNamespace(layers=6))}
    assert feature_estimate.estimate(passes(encoder_layers=[6]), models) == 0.8
    assert feature_estimate.estimate(passes(encoder_layers=[3]), models) == 0.4
    assert feature_estimate.estimate(passes(encoder_layers=[None]), models) == 0.8
