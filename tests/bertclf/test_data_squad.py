"""SQuAD-format files (bertclf/data/squad.py): split by article, faults named by article and question."""
import json

import pytest

from bertclf.errors import UserError
from bertclf.data.squad import read_squad, split_by_article


def test_split_by_article_keeps_articles_whole(korean):
    train, held = split_by_article(read_squad(korean["path"]), 0.5, seed=0)
    assert len(train) == len(held) == 4
    assert not {e.article for e in train} & {e.article for e in held}


def test_bad_squad_file_names_article_and_question(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "abc", "qas": [
        {"id": "q7", "question": "?", "answers": [{"text": "zz", "answer_start": 1}]}]}]}]}))
    with pytest.raises(UserError, match=r"article 0 \(t\), paragraph 0, question q7: answer_start 1"):
        read_squad(path)
    path.write_text("[1, 2]")
    with pytest.raises(UserError, match="not SQuAD-format JSON"):
        read_squad(path)
