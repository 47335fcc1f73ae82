"""Truncation and the tokenizer's own template (bertclf/tokenization.py)."""
import pytest

from bertclf.tokenization import encode, truncate

from tests.helpers import config_and_tokenizer, template_specials


def test_truncation_strategies():
    ids = list(range(20))
    assert truncate(ids, 8, "head") == list(range(8))
    assert truncate(ids, 8, "tail") == list(range(12, 20))
    assert truncate(ids, 8, "head+tail") == [0, 1] + list(range(14, 20))
    assert truncate(ids[:5], 8, "head+tail") == ids[:5]


@pytest.mark.parametrize("family", ["bert", "roberta", "deberta-v2"])
def test_head_tail_uses_the_tokenizer_s_own_special_tokens(families, family):
    _, tokenizer = config_and_tokenizer(families[family])
    text = " ".join(["great"] + ["plot"] * 40 + ["awful"])
    ids = [int(i) for i in encode(tokenizer, [text], 16, "head+tail")[0]]
    bare = tokenizer(text, add_special_tokens=False)["input_ids"]
    before, after = template_specials(tokenizer)
    assert len(ids) == 16
    assert ids[:len(before)] == before and ids[len(ids) - len(after):] == after
    body = ids[len(before):len(ids) - len(after)]
    assert body == bare[:4] + bare[-10:]  # 14 of budget: a quarter (rounded up) from the start


def test_head_tail_keeps_128_and_382_at_512():
    """Sun et al. (2019): 128 head + 382 tail tokens of the 510 that 512 leaves."""
    kept = truncate(list(range(1000)), 510, "head+tail")
    assert kept == list(range(128)) + list(range(1000 - 382, 1000))
