"""A tiny random-init BERT with a WordPiece vocabulary learnt from given texts.

For tests and smoke tests: written to a folder with save_pretrained and then loaded through the
same from_pretrained path a real model takes. Learning the vocabulary from the data makes it
cover any script (Hangul included).
"""
from pathlib import Path
from typing import Iterable


def build_tiny_bert(folder, texts: Iterable[str], *, hidden: int = 32, layers: int = 2, heads: int = 2,
                    intermediate: int = 64, vocab_size: int = 600, max_positions: int = 512,
                    dropout: float = 0.0, seed: int = 0) -> str:
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast
    from transformers.utils import logging
    logging.disable_progress_bar()

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=1,
                                  special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                  show_progress=False)
    # transformers 5 ignores BertTokenizerFast(vocab_file=...): hand it the vocabulary itself.
    tokenizer = BertTokenizerFast(vocab=wordpiece.get_vocab(), do_lower_case=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(wordpiece.get_vocab()), hidden_size=hidden,
                        num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, max_position_embeddings=max_positions,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    BertModel(config).save_pretrained(folder)
    return str(folder)
