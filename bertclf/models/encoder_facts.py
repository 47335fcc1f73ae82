"""What the code needs to know about an encoder, read from its config and tokenizer, never from its name.

BERT, MiniLM (a BERT), DistilBERT, ELECTRA, RoBERTa, XLM-R, DeBERTa-v2/v3 and whatever else
`AutoModel` loads differ in ways that break code written for one of them: RoBERTa-style position
embeddings start after the padding index (514 embeddings, 512 usable positions); DistilBERT,
ELECTRA and DeBERTa have no [CLS] pooler; DeBERTa-v2 has no SDPA attention in transformers 5; a
sentence-transformers model was trained for one pooling. Each fact is read here from the model's own
files. (The special tokens around a text, and token types, are the tokenizer's template: see
tokenization.py.)
"""
import json
import os
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from .encoders import load_model_config, load_tokenizer
from ..errors import UserError

# a tokenizer without a stated limit reports this huge number (transformers' VERY_LARGE_INTEGER)
NO_STATED_LIMIT = 10**9
# sentence-transformers' pooling settings, and the pooling of ours each one means
POOLING_FILE = "1_Pooling/config.json"
TRAINED_POOLINGS = (("pooling_mode_mean_tokens", "mean"), ("pooling_mode_cls_token", "cls"))


@dataclass(frozen=True)
class EncoderFacts:
    model_type: str  # the config's model_type: bert, roberta, deberta-v2, ...
    position_limit: int  # tokens per text the model can embed, special tokens included
    has_pooler: bool  # a [CLS] pooler (dense + tanh): the encoder output has `pooler_output`
    attention: str  # sdpa where the model class supports it, else the model's own ("eager")
    parameters: int  # the encoder's parameter count (its pooler included, no task head)
    layers: int  # transformer layers (the config's num_hidden_layers)

    @property
    def cls_pooling(self) -> str:
        """What --pooling cls reads from this encoder, for messages and the plan line."""
        return "the pooled [CLS] output" if self.has_pooler else "the first token's hidden state (no pooler)"


def encoder_facts(model_config, tokenizer=None) -> EncoderFacts:
    """The facts of the encoder described by `model_config` (a transformers PretrainedConfig), its
    position limit narrowed by what `tokenizer` states where it states one.

    The model is built on the meta device (no memory, no weights: a few milliseconds) so that what
    it has is read from the model itself, not from a list of known families."""
    import torch
    from transformers import AutoModel
    with torch.device("meta"):
        model = AutoModel.from_config(model_config)
    limit = int(getattr(model_config, "max_position_embeddings", 512))
    positions = getattr(getattr(model, "embeddings", None), "position_embeddings", None)
    if getattr(positions, "padding_idx", None) is not None:
        # RoBERTa-style: position ids count from padding_idx + 1, so the first padding_idx + 1 rows are never used
        limit = positions.num_embeddings - positions.padding_idx - 1
    stated = getattr(tokenizer, "model_max_length", NO_STATED_LIMIT) or NO_STATED_LIMIT
    if stated < NO_STATED_LIMIT:
        limit = min(limit, int(stated))
    return EncoderFacts(model_type=model_config.model_type, position_limit=limit,
                        has_pooler=getattr(model, "pooler", None) is not None,
                        attention="sdpa" if getattr(type(model), "_supports_sdpa", False) else "eager",
                        parameters=sum(p.numel() for p in model.parameters()),
                        layers=int(getattr(model_config, "num_hidden_layers", 0)))


def facts_of(source: str) -> EncoderFacts:
    """The facts of the model that loads from `source` (a folder or a hub name), read from its config and
    tokenizer files."""
    return encoder_facts(load_model_config(source), load_tokenizer(source))


def fitting_lengths(lengths: Sequence[int], facts: EncoderFacts, bert_name: str, where: str,
                    choices: bool = False) -> Tuple[int, ...]:
    """The max_length values of `lengths` (tokens per text) that bert_name, described by `facts`, can
    embed, in their order: the one check of a max_length against a model, for a single run (one value)
    and for a search (a fixed value, or a space's choices, per model). Raises UserError
    "{where}: ... above {bert_name}'s limit of N positions" when none fits; `where` names the value as
    the user gave it (--max_length 600, SPEC: space.max_length), `choices` says it is a list of choices."""
    kept = tuple(v for v in lengths if v <= facts.position_limit)
    if not kept:
        which = f"every choice {list(lengths)} is " if choices else ""
        raise UserError(f"{where}: {which}above {bert_name}'s limit of {facts.position_limit} positions")
    return kept


def trained_pooling(source: str) -> Optional[str]:
    """The pooling a sentence-transformers model was trained with (mean or cls), read from its
    1_Pooling/config.json in `source` (a folder, or a hub name in the Hugging Face cache); None for
    a model without one (a plain encoder)."""
    if os.path.isdir(source):
        path = os.path.join(source, POOLING_FILE)
    else:
        from huggingface_hub import try_to_load_from_cache
        try:
            path = try_to_load_from_cache(source, POOLING_FILE)
        except ValueError:  # not a valid hub name: then there is nothing cached under it
            return None
    if not isinstance(path, str) or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        settings = json.load(f)
    return next((ours for key, ours in TRAINED_POOLINGS if settings.get(key)), None)
