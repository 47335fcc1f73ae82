"""Tiny random-init encoders of each family, with a vocabulary learnt from given texts.

For tests and smoke tests: written to a folder with save_pretrained and then loaded through the
same from_pretrained path a real model takes. Learning the vocabulary from the data makes it
cover any script (Hangul included). Each family gets the tokenizer kind its real models ship
(WordPiece, byte-level BPE, SentencePiece unigram) with that family's special tokens, so that code
which hard-codes one family's conventions fails on the others.
"""
import json
from pathlib import Path
from typing import Iterable

# family -> the tokenizer kind its real checkpoints use
FAMILIES = {"bert": "wordpiece", "minilm": "wordpiece", "distilbert": "wordpiece", "electra": "wordpiece",
            "roberta": "bpe", "xlm-roberta": "unigram", "deberta-v2": "unigram"}
# the special tokens of each tokenizer kind, in the order (and so with the ids) real vocabularies have
SPECIALS = {"wordpiece": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
            "bpe": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            "unigram-xlm-roberta": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            "unigram-deberta-v2": ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]}


def build_tiny_bert(folder, texts: Iterable[str], **sizes) -> str:
    """A tiny BertModel (see build_tiny_model)."""
    return build_tiny_model(folder, texts, family="bert", **sizes)


def build_tiny_model(folder, texts: Iterable[str], *, family: str = "bert", hidden: int = 32, layers: int = 2,
                     heads: int = 2, intermediate: int = 64, vocab_size: int = 600, max_positions: int = 512,
                     dropout: float = 0.0, seed: int = 0) -> str:
    """Write a random-init encoder of `family` (one of FAMILIES) and its tokenizer to `folder`; returns
    the folder. max_positions is the usable length: RoBERTa-style families get 2 more position
    embeddings, as their real configs do (514 for 512 usable)."""
    import torch
    from transformers.utils import logging
    logging.disable_progress_bar()

    if family not in FAMILIES:
        raise ValueError(f"family {family!r}: expected one of {', '.join(FAMILIES)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(family, list(texts), vocab_size)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    model = _model(family, len(tokenizer), tokenizer.pad_token_id, hidden=hidden, layers=layers, heads=heads,
                   intermediate=intermediate, max_positions=max_positions, dropout=dropout)
    model.save_pretrained(folder)
    return str(folder)


def _tokenizer(family: str, texts, vocab_size: int):
    kind = FAMILIES[family]
    if kind == "wordpiece":
        from tokenizers import BertWordPieceTokenizer
        import transformers as t
        learnt = BertWordPieceTokenizer(lowercase=True)
        learnt.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIALS[kind],
                                   show_progress=False)
        # each family's own class: DistilBERT's, for one, asks for no token_type_ids
        cls = {"distilbert": t.DistilBertTokenizer, "electra": t.ElectraTokenizer}.get(family, t.BertTokenizer)
        # transformers 5 ignores vocab_file=...: hand it the vocabulary itself
        return cls(vocab=learnt.get_vocab(), do_lower_case=True)
    if kind == "bpe":
        from tokenizers import ByteLevelBPETokenizer
        from transformers import RobertaTokenizer
        learnt = ByteLevelBPETokenizer()
        learnt.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIALS[kind],
                                   show_progress=False)
        merges = [tuple(m) for m in json.loads(learnt.to_str())["model"]["merges"]]
        return RobertaTokenizer(vocab=learnt.get_vocab(), merges=merges)
    from tokenizers import SentencePieceUnigramTokenizer
    specials = SPECIALS[f"unigram-{family}"]
    learnt = SentencePieceUnigramTokenizer()
    learnt.train_from_iterator(texts, vocab_size=vocab_size, special_tokens=specials, unk_token=specials[3],
                               show_progress=False)
    vocab = [tuple(piece) for piece in json.loads(learnt.to_str())["model"]["vocab"]]
    if family == "xlm-roberta":
        from transformers import XLMRobertaTokenizer
        return XLMRobertaTokenizer(vocab=vocab)
    from transformers import DebertaV2Tokenizer
    return DebertaV2Tokenizer(vocab=vocab, unk_id=3)


def _model(family: str, vocab: int, pad_id: int, *, hidden, layers, heads, intermediate, max_positions, dropout):
    import transformers as t
    common = dict(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=intermediate, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                  pad_token_id=pad_id)
    if family in ("bert", "minilm"):
        return t.BertModel(t.BertConfig(max_position_embeddings=max_positions, **common))
    if family == "distilbert":
        return t.DistilBertModel(t.DistilBertConfig(
            vocab_size=vocab, dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=intermediate, dropout=dropout,
            attention_dropout=dropout, max_position_embeddings=max_positions, pad_token_id=pad_id))
    if family == "electra":
        return t.ElectraModel(t.ElectraConfig(embedding_size=hidden // 2, max_position_embeddings=max_positions,
                                              **common))
    if family in ("roberta", "xlm-roberta"):
        config = (t.XLMRobertaConfig if family == "xlm-roberta" else t.RobertaConfig)(
            max_position_embeddings=max_positions + pad_id + 1, type_vocab_size=1, bos_token_id=0, eos_token_id=2,
            **common)
        return (t.XLMRobertaModel if family == "xlm-roberta" else t.RobertaModel)(config)
    return t.DebertaV2Model(t.DebertaV2Config(
        max_position_embeddings=max_positions, relative_attention=True, position_buckets=16,
        pos_att_type=["p2c", "c2p"], position_biased_input=False, type_vocab_size=0, **common))
