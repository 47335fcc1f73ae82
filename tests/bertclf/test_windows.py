"""truncation chunks' windows: cut as transformers' overflowing tokens are (so a model card can cut them with
the tokenizer alone), at most max_chunks spread over the text, an empty text one window; DocumentWindows
indexed by text, cached and pickled with its window counts."""
import pickle

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

import bertclf.train as train_module
from bertclf.batching import forward_pieces

from bertclf.errors import UserError
from bertclf.models.tiny_model import build_tiny_bert
from bertclf.models.heads import pool_documents, pool_windows
from bertclf.predict import load_model
from bertclf.tasks.classification.model import ClassificationTraining
from bertclf.tasks.classification.predict import predict_texts
from bertclf.tokenization import encode, join, tokenize_cached
from bertclf.train import train
from bertclf.windows import DocumentWindows, cut, kept_windows, window_spans
from tests.helpers import sentiment_rows, write_csv

WORDS = [f"w{i}" for i in range(200)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return AutoTokenizer.from_pretrained(build_tiny_bert(tmp_path_factory.mktemp("words"), [" ".join(WORDS)]))


def overflowing(tokenizer, text, max_length, stride):
    return tokenizer([text], truncation=True, max_length=max_length, stride=stride,
                     return_overflowing_tokens=True)["input_ids"]


@pytest.mark.parametrize("max_length, stride", [(8, 2), (10, 0), (12, 5)])
def test_windows_are_the_tokenizers_overflowing_tokens(tokenizer, max_length, stride):
    for n in range(0, 60, 3):
        text = " ".join(WORDS[:n])
        got = encode(tokenizer, [text], max_length, "chunks", doc_stride=stride, max_chunks=1000)
        assert [got.windows[i].tolist() for i in range(got.n_windows)] == overflowing(tokenizer, text, max_length,
                                                                                      stride), n


def test_a_text_of_20_windows_keeps_max_chunks_spread_from_first_to_last(tokenizer):
    body, stride = 6, 2  # max_length 8 less [CLS] and [SEP]; each window starts 4 tokens after the last
    n = body + 19 * (body - stride)
    assert len(window_spans(n, body, stride, 100)) == 20
    assert window_spans(n, body, stride, 5) == [(0, 6), (20, 26), (40, 46), (56, 62), (76, 82)]
    text = " ".join(WORDS[:n])
    every = overflowing(tokenizer, text, 8, stride)
    got = encode(tokenizer, [text, "w1"], 8, "chunks", doc_stride=stride, max_chunks=5)
    assert got.counts.tolist() == [5, 1] and len(got) == 2
    assert [got.windows[i].tolist() for i in range(5)] == [every[k] for k in (0, 5, 10, 14, 19)]
    assert kept_windows(20, 5).tolist() == [0, 5, 10, 14, 19] and kept_windows(3, 5).tolist() == [0, 1, 2]


def test_exactly_one_window_and_an_empty_text(tokenizer):
    assert window_spans(6, 6, 2, 8) == [(0, 6)] and window_spans(7, 6, 2, 8) == [(0, 6), (4, 7)]
    got = encode(tokenizer, ["w0 w1 w2 w3 w4 w5", ""], 8, "chunks", doc_stride=2, max_chunks=8)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert got.counts.tolist() == [1, 1]
    assert got.windows[1].tolist() == [cls, sep] and len(got.windows[0]) == 8
    assert got.lengths.tolist() == [8, 2]


def test_an_overlap_not_below_the_window_is_refused():
    with pytest.raises(UserError, match="--doc_stride 6: expected an overlap below the window's 6 text tokens"):
        cut(list(range(20)), 6, 6, 8)


def test_document_windows_index_by_text_and_survive_cache_pickle_and_join(tokenizer, tmp_path):
    texts = [" ".join(WORDS[:n]) for n in (30, 3, 0, 14)]
    docs = tokenize_cached(tokenizer, texts, 8, "chunks", tmp_path, doc_stride=2, max_chunks=4)
    assert isinstance(docs, DocumentWindows) and docs.counts.tolist() == [4, 1, 1, 3]
    again = tokenize_cached(tokenizer, texts, 8, "chunks", tmp_path, doc_stride=2, max_chunks=4)
    assert again.fingerprint() == docs.fingerprint()
    other = tokenize_cached(tokenizer, texts, 8, "chunks", tmp_path, doc_stride=2, max_chunks=2)
    assert other.counts.tolist() == [2, 1, 1, 2]  # max_chunks is part of the cache key
    windows, position = docs.window_indices([3, 0])
    assert windows == [6, 7, 8, 0, 1, 2, 3] and position.tolist() == [0, 0, 0, 1, 1, 1, 1]
    copy = pickle.loads(pickle.dumps(docs))
    assert copy.fingerprint() == docs.fingerprint() and torch.equal(copy.lengths, docs.lengths)
    halves = join([encode(tokenizer, texts[:2], 8, "chunks", doc_stride=2, max_chunks=4),
                   encode(tokenizer, texts[2:], 8, "chunks", doc_stride=2, max_chunks=4)])
    assert halves.fingerprint() == docs.fingerprint()


def test_pool_documents_takes_mean_and_max_per_text_and_pool_windows_agrees_in_blocks():
    features = torch.tensor([[1.0, -2.0], [3.0, 1.0], [5.0, 7.0], [-1.0, -1.0]])
    pooled = pool_documents(features, torch.tensor([0, 0, 0, 1]))
    assert pooled.tolist() == [[3.0, 2.0, 5.0, 7.0], [-1.0, -1.0, -1.0, -1.0]]
    many = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    counts = torch.tensor([1, 5, 2, 20, 1, 11])
    whole = pool_documents(many, torch.repeat_interleave(torch.arange(6), counts))
    assert torch.allclose(pool_windows(many, counts, block=4), whole)


LONG = "great " + "the movie was a story with actors and a plot " * 20  # 20 windows of 16 tokens overlapping by 4


@pytest.mark.parametrize("options", [dict(), dict(bert_finetuning=False, boost=True, pooling="mean+max")])
def test_a_chunks_model_reads_a_text_to_its_end(config_for, options):
    lines = []
    run_dir = train(config_for(n_epochs=1, max_length=16, doc_stride=4, max_chunks=20, truncation="chunks",
                               **options), log=lines.append)["run_dir"]
    assert any(line.startswith("data: ") and " train / " in line and line.endswith(" valid windows")
               for line in lines), lines
    model, tokenizer, meta = load_model(run_dir)
    assert (meta["doc_stride"], meta["max_chunks"]) == (4, 20)
    assert encode(tokenizer, [LONG], 16, "chunks", doc_stride=4, max_chunks=20).counts.tolist() == [20]
    ends = [LONG + "awful", LONG + "superb", "", "great"]
    got = predict_texts(model, tokenizer, meta, ends)
    assert got[0]["probability"] != pytest.approx(got[1]["probability"], abs=1e-6)  # the last window is read
    assert [r["text"] for r in got] == ends  # an empty text and a one-window one are predicted too
    alone = predict_texts(model, tokenizer, meta, [ends[1]])  # a text's windows pool with no other text's
    assert alone[0]["probability"] == pytest.approx(got[1]["probability"], abs=1e-5)


def test_text_pairs_are_not_cut_into_windows(config_for, tmp_path):
    rows = [(f"about the film number {i}", text, label) for i, (text, label) in enumerate(sentiment_rows(40, 3))]
    pairs = write_csv(tmp_path / "pairs.csv", rows, ["sentence1", "sentence2", "label"])
    with pytest.raises(UserError, match="--truncation chunks reads single texts: the data holds text pairs"):
        train(config_for(train_path=pairs, valid_path=None, truncation="chunks", max_length=16, doc_stride=4),
              log=lambda s: None)


def test_pieces_hold_at_most_a_micro_batch_of_windows_in_order(tokenizer):
    texts = [" ".join(WORDS[:n]) for n in (3, 120, 30, 30, 20, 3)]
    tokens = encode(tokenizer, texts, 16, "chunks", doc_stride=4, max_chunks=20)
    counts = tokens.counts.tolist()
    assert counts[1] > 6 and counts[0] == 1  # one text of more windows than the micro-batch has texts
    pieces = forward_pieces(tokens, list(range(6)))
    assert [i for piece in pieces for i in piece] == list(range(6))
    assert pieces[1] == [1]  # the long text alone
    assert all(sum(counts[i] for i in piece) <= 6 for piece in pieces if len(piece) > 1)
    assert forward_pieces(tokens.windows, [4, 2, 0]) == [[4, 2, 0]]  # token ids: one pass


def test_fine_tuning_long_texts_in_pieces_takes_the_whole_micro_batchs_step(config_for, tmp_path, monkeypatch):
    rows = [((text + " ") * 6, label) for text, label in sentiment_rows(32, seed=8)]
    long = write_csv(tmp_path / "long.csv", rows)
    rows_a_pass = []
    real_forward = train_module.forward
    monkeypatch.setattr(train_module, "forward",
                        lambda run, module, inputs: rows_a_pass.append(len(inputs["input_ids"]))
                        or real_forward(run, module, inputs))
    options = dict(train_path=long, batch_size=16, n_epochs=1, max_length=16, doc_stride=4, max_chunks=8,
                   truncation="chunks", eval_batch_size=64)
    pieces = train(config_for(run_name="pieces", **options))
    in_pieces, rows_a_pass[:] = max(rows_a_pass), []
    monkeypatch.setattr(ClassificationTraining, "pieces", lambda self, indices: [indices])
    whole = train(config_for(run_name="whole", **options))
    assert in_pieces <= 16 < max(rows_a_pass)  # at most the micro-batch's 16 windows a pass, not all its texts'
    for weights in ("head.safetensors", "encoder/model.safetensors"):
        a, b = load_file(f"{pieces['run_dir']}/{weights}"), load_file(f"{whole['run_dir']}/{weights}")
        for name in a:
            torch.testing.assert_close(a[name], b[name], atol=2e-6, rtol=1e-4)
    assert pieces["history"][0]["train_loss"] == pytest.approx(whole["history"][0]["train_loss"], rel=1e-5)
