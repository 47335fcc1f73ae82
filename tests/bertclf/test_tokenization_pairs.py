"""Sentence pairs go through the tokenizer's own template as a pair, the longer text cut first, in
fine-tuning, boost, and prediction."""
import json

import pytest
import torch

from launch import main  # the user-facing parser
from bertclf.models.encoders import load_tokenizer
from bertclf.tokenization import encode, pair_lengths
from tests.helpers import sentiment_rows, write_csv


def test_pair_lengths_cut_the_longer_text_first():
    assert pair_lengths(3, 4, 10) == (3, 4)
    assert pair_lengths(20, 3, 10) == (7, 3)
    assert pair_lengths(2, 20, 10) == (2, 8)
    assert pair_lengths(20, 30, 10) == (5, 5)


def test_a_pair_is_encoded_with_the_template_and_token_types(toy):
    tokenizer = load_tokenizer(toy["model"])
    a = tokenizer("great movie", add_special_tokens=False)["input_ids"]
    b = tokenizer("awful plot", add_special_tokens=False)["input_ids"]
    tokens = encode(tokenizer, ["great movie"], 32, "head", pairs=["awful plot"])
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert tokens[0].tolist() == [cls, *a, sep, *b, sep]
    assert tokens.type_starts.tolist() == [len(a) + 2]  # [CLS] a [SEP] has token type 0, b [SEP] type 1
    assert tokens.flat.dtype.itemsize == 2  # a vocabulary under 65,536 ids is stored as uint16
    single = encode(tokenizer, ["great movie"], 32, "head")
    assert single[0].tolist() == [cls, *a, sep] and single.type_starts is None


def pair_rows(n, seed):
    """The label is the sentiment of the second text; the first is filler: learnable only from the pair."""
    return [(f"about the film number {i}", text, label) for i, (text, label) in enumerate(sentiment_rows(n, seed))]


@pytest.fixture
def pair_files(tmp_path):
    header = ["sentence1", "sentence2", "label"]
    return (write_csv(tmp_path / "train.csv", pair_rows(320, 1), header),
            write_csv(tmp_path / "valid.csv", pair_rows(60, 2), header))


@pytest.mark.parametrize("mode", [["--bert_finetuning", "True"], ["--bert_finetuning", "False", "--boost", "True"]])
def test_train_on_pairs_then_predict_pairs(toy, tmp_path, pair_files, capsys, mode):
    train, valid = pair_files
    args = ["--train_path", train, "--valid_path", valid, "--bert_name", toy["model"], "--max_length", "48",
            "--batch_size", "16", "--n_epochs", "6", "--dropout_p", "0.0", "--lr", "3e-3", "--lr_main", "1e-3", "--save_path",
            str(tmp_path / "runs"), "--run_name", "r", "--cache_dir", str(tmp_path / "cache"), "--progress", "False",
            "--precision", "fp32", "--metric", "valid_macro_f1", *mode]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "columns sentence1 + sentence2 -> label" in captured.err
    metrics = (tmp_path / "runs" / "r" / "metrics.csv").read_text().splitlines()[0]
    for name in ("valid_accuracy", "valid_macro_f1", "valid_weighted_f1", "valid_balanced_accuracy", "valid_mcc"):
        assert name in metrics
    model = str(tmp_path / "runs" / "r")
    assert json.loads((tmp_path / "runs" / "r" / "bert_hpo_model.json").read_text())["pairs"] is True
    code = main(["--predict", "--model", model, "--text", "about the film", "--text_pair", "a superb and wonderful film",
                 "--text", "about the film", "--text_pair", "awful boring plot"])
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert code == 0 and len(rows) == 2 and rows[0]["text_pair"].startswith("a superb")
    table = write_csv(tmp_path / "in.csv", [("x", "loved it, brilliant"), ("y", "hated it, dreadful")],
                      ["sentence1", "sentence2"])
    assert main(["--predict", "--model", model, "--input", table]) == 0
    from_table = [json.loads(line)["label"] for line in capsys.readouterr().out.strip().splitlines()]
    if mode[1] == "True":  # fine-tuned, the tiny model learns the task; boost's random frozen encoder need not
        assert [r["label"] for r in rows] == ["pos", "neg"] and from_table == ["pos", "neg"]
    assert main(["--predict", "--model", model, "--text", "only one text"]) == 2
    assert "this model reads text pairs" in capsys.readouterr().err


def test_token_ids_survive_pickling_in_their_compact_dtype():
    import pickle
    import torch
    from bertclf.tokenization import TokenIds
    tokens = TokenIds(torch.tensor([1, 2, 65535], dtype=torch.uint16), torch.tensor([1, 2], dtype=torch.int32),
                      torch.tensor([1, 1], dtype=torch.int32))
    copy = pickle.loads(pickle.dumps(tokens))  # a search ships them through Ray's object store
    assert copy[1].tolist() == [2, 65535] and copy.flat.dtype == torch.uint16 and copy.type_starts.tolist() == [1, 1]


@pytest.mark.parametrize("type_vocab_size", [1, 2])
def test_token_types_reach_only_an_encoder_that_has_them(type_vocab_size):
    # a BERT-style tokenizer makes type 1 for a pair's second text; an encoder trained with one type
    # (type_vocab_size 1) would index past its table
    from transformers import BertConfig, BertModel
    from bertclf.models.heads import BertClassifier
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32, type_vocab_size=type_vocab_size)).eval()
    model = BertClassifier(encoder, 2, 0.0, "cls")
    ids, mask, types = torch.tensor([[1, 5, 2, 7, 2]]), torch.ones(1, 5, dtype=torch.long), torch.tensor([[0, 0, 0, 1, 1]])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        plain = model(input_ids=ids, attention_mask=mask)
    assert logits.shape == (1, 2)
    assert torch.equal(logits, plain) == (type_vocab_size == 1)  # types change the answer only where they exist
