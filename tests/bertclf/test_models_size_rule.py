"""The encoder rate sized to the model (bertclf/models/size_rule.py), on the two anchors' real shapes
(built on the meta device from their configs: no weights) and beyond them."""
import pytest
from transformers import BertConfig

from bertclf.models.encoder_facts import encoder_facts
from bertclf.models.size_rule import encoder_rate

# BERT-base and all-MiniLM-L6-v2 as their config.json files give them
BERT_BASE = BertConfig()
MINILM_L6 = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)


def test_the_anchors_get_their_known_good_rates_from_their_parameter_counts():
    base, small = (encoder_facts(config) for config in (BERT_BASE, MINILM_L6))
    assert (round(base.parameters / 1e6, 1), base.layers) == (109.5, 12)
    assert (round(small.parameters / 1e6, 1), small.layers) == (22.7, 6)
    assert encoder_rate(base.parameters) == pytest.approx(2e-5, rel=0.01)  # the engine's default, BERT-base's
    assert encoder_rate(small.parameters) == pytest.approx(9.7e-5, rel=0.01)  # near the shipped spec's 1e-4


def test_beyond_the_anchors_the_rate_is_held_between_1e_5_and_1e_4():
    assert encoder_rate(335_000_000) == 1e-5  # BERT-large: held at 1e-5
    assert encoder_rate(4_400_000) == 1e-4  # a 4 M-parameter BERT would get 5e-4: held at 1e-4
    assert encoder_rate(55_000_000) == pytest.approx(4e-5)  # between the anchors: 1 / size
