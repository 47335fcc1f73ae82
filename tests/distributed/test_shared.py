"""What a search shares with its trials through Ray's object store (distributed/shared.py)."""
import dataclasses

import pytest

from bertclf.inputs import inputs_key
from bert_hpo_distributed.shared import Shared


def test_a_trial_finds_its_inputs_by_its_configs_key_and_a_missing_one_is_named(config_for):
    boost = config_for(bert_finetuning=False, boost=True, pooling="mean")
    shared = Shared(inputs={inputs_key(boost): "features-ref", inputs_key(config_for()): "tokens-ref"})
    # a trial's config is built again from the spec on the worker: an equal config finds the same entry
    assert shared.inputs_for(inputs_key(dataclasses.replace(boost, lr=0.5))) == "features-ref"
    assert shared.inputs_for(inputs_key(config_for(lr=0.5))) == "tokens-ref"
    with pytest.raises(LookupError, match=r"no prepared inputs for .*, max_length 16, truncation head, features "
                                          r"\('cls', 'last'\): the search prepared 2 input set\(s\)"):
        shared.inputs_for(inputs_key(config_for(bert_finetuning=False, boost=True, max_length=16)))
