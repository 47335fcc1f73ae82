"""What differs between encoder families, read from a tiny random model of each, built offline, through
the real from_pretrained path (bertclf/models/encoder_facts.py)."""
import pytest

from bertclf.models.encoder_facts import encoder_facts, trained_pooling
from bertclf.models.tiny_model import FAMILIES

from tests.helpers import config_and_tokenizer, template_specials

# family -> (usable positions, has a pooler, attention, first / last special token of its tokenizer)
EXPECTED = {
    "bert": (512, True, "sdpa", "[CLS]", "[SEP]"),
    "minilm": (512, True, "sdpa", "[CLS]", "[SEP]"),
    "distilbert": (512, False, "sdpa", "[CLS]", "[SEP]"),
    "electra": (512, False, "sdpa", "[CLS]", "[SEP]"),
    "roberta": (512, True, "sdpa", "<s>", "</s>"),
    "xlm-roberta": (512, True, "sdpa", "<s>", "</s>"),
    "deberta-v2": (512, False, "eager", "[CLS]", "[SEP]"),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_reports_its_own_facts(families, family):
    """The facts, and a tokenizer with each family's own special tokens (so that code hard-coding one
    family's tokens fails on the others)."""
    from transformers import AutoModel
    config, tokenizer = config_and_tokenizer(families[family])
    facts = encoder_facts(config, tokenizer)
    limit, pooler, attention, first, last = EXPECTED[family]
    assert (facts.position_limit, facts.has_pooler, facts.attention) == (limit, pooler, attention)
    before, after = template_specials(tokenizer)
    assert tokenizer.convert_ids_to_tokens(before) == [first] and tokenizer.convert_ids_to_tokens(after) == [last]
    # loaded as training loads it: SDPA where the class has it, else the model's own (DeBERTa: eager)
    loaded = AutoModel.from_pretrained(families[family])
    assert loaded.config._attn_implementation == attention
    # the size the start's rate is sized by (size_rule.py): the loaded encoder's own count
    assert (facts.parameters, facts.layers) == (sum(p.numel() for p in loaded.parameters()), config.num_hidden_layers)


def test_roberta_limit_is_its_positions_less_the_padding_offset(families):
    """514 position embeddings, of which 512 are usable: the limit check must say 512, and 512
    tokens must run through the model (514 crashed inside the embedding)."""
    import torch
    from transformers import AutoModel
    config, tokenizer = config_and_tokenizer(families["roberta"])
    assert config.max_position_embeddings == 514
    limit = encoder_facts(config, tokenizer).position_limit
    assert limit == 512
    model = AutoModel.from_pretrained(families["roberta"])
    ids = torch.full((1, limit), 5)
    assert model(input_ids=ids).last_hidden_state.shape == (1, limit, config.hidden_size)
    with pytest.raises((IndexError, RuntimeError), match="out of"):
        model(input_ids=torch.full((1, limit + 1), 5))


def test_a_tokenizer_s_stated_limit_narrows_the_config_s(families):
    config, tokenizer = config_and_tokenizer(families["bert"])
    tokenizer.model_max_length = 128
    assert encoder_facts(config, tokenizer).position_limit == 128


def test_sentence_transformers_folders_say_they_were_trained_for_mean_pooling(tmp_path, families):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": false, '
                                                        '"pooling_mode_mean_tokens": true}')
    assert trained_pooling(str(tmp_path)) == "mean"
    assert trained_pooling(families["bert"]) is None
    assert trained_pooling("not/in-the-cache") is None
