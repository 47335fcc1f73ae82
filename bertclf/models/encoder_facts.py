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
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from .encoders import checkpoint_file, load_model_config, load_tokenizer, stored_weight_names
from .lora import TARGETS, adapter_width, target_modules
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
    has_pooler: bool  # a [CLS] pooler (dense + tanh) the checkpoint holds: the encoder output has `pooler_output`
    attention: str  # sdpa where the model class supports it, else the model's own ("eager")
    parameters: int  # the encoder's parameter count (its pooler included, no task head)
    layers: int  # transformer layers (the config's num_hidden_layers)
    pooler_not_stored: bool = False  # the model class has a pooler, but the checkpoint holds none
    head_labels: int = 0  # a classifier checkpoint: the label count of the head it holds (dropped here)
    missing: Tuple[str, ...] = ()  # other weights the encoder has and the checkpoint lacks (drawn at random)
    adapter_targets: Tuple[str, ...] = TARGETS  # the --lora_targets it has layers for
    adapter_widths: Tuple[Tuple[str, int], ...] = ()  # (lora_targets, the adapters' parameters per unit of rank)

    def adapter_parameters(self, which: str, r: int) -> int:
        """The parameters of rank-r adapters on the `which` modules (what a LoRA run trains in the encoder)."""
        return r * dict(self.adapter_widths)[which]

    @property
    def cls_pooling(self) -> str:
        """What --pooling cls reads from this encoder, for messages and the plan line."""
        if self.has_pooler:
            return "the pooled [CLS] output"
        why = "the checkpoint holds no pooler" if self.pooler_not_stored else "no pooler"
        return f"the first token's hidden state ({why})"

    @property
    def notes(self) -> List[str]:
        """What loading this checkpoint as an encoder leaves out or makes up, one line each."""
        lines = []
        if self.head_labels:
            lines.append(f"a classifier checkpoint ({self.head_labels} labels): taken as an encoder, its "
                         f"classification head dropped; a new head is trained")
        if self.missing:
            more = ", ..." if len(self.missing) > 3 else ""
            lines.append(f"warning: the checkpoint lacks {len(self.missing)} weight(s) of the encoder, drawn at "
                         f"random on each load: {', '.join(self.missing[:3])}{more}")
        return lines


def encoder_facts(model_config, tokenizer=None, stored=None) -> EncoderFacts:
    """The facts of the encoder described by `model_config` (a transformers PretrainedConfig), its
    position limit narrowed by what `tokenizer` states where it states one; `stored`: the weight
    names its checkpoint holds (None: unknown, taken as all of them).

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
    missing = _missing_weights(model, stored)
    pooler = getattr(model, "pooler", None) is not None
    pooler_stored = not any(name.startswith("pooler.") for name in missing)
    return EncoderFacts(model_type=model_config.model_type, position_limit=limit,
                        has_pooler=pooler and pooler_stored,
                        attention="sdpa" if getattr(type(model), "_supports_sdpa", False) else "eager",
                        pooler_not_stored=pooler and not pooler_stored, head_labels=_head_labels(model_config),
                        missing=tuple(name for name in missing if not name.startswith("pooler.")),
                        adapter_targets=tuple(which for which in TARGETS if target_modules(model, which)),
                        adapter_widths=tuple((which, adapter_width(model, which)) for which in TARGETS),
                        parameters=sum(p.numel() for p in model.parameters()),
                        layers=int(getattr(model_config, "num_hidden_layers", 0)))


def _missing_weights(model, stored) -> List[str]:
    """The encoder's weight names its checkpoint lacks, the checkpoint's own read without the prefix a
    task model puts before the encoder's ("roberta." in a RobertaForSequenceClassification's)."""
    if stored is None:
        return []
    prefix = f"{model.base_model_prefix}."
    held = {name[len(prefix):] if name.startswith(prefix) else name for name in stored}
    return sorted(name for name in model.state_dict() if name not in held)


def _head_labels(model_config) -> int:
    """The label count of a sequence classifier's checkpoint (its config names that architecture), else 0."""
    if any(a.endswith("ForSequenceClassification") for a in getattr(model_config, "architectures", None) or ()):
        return int(model_config.num_labels)
    return 0


def facts_of(source: str) -> EncoderFacts:
    """The facts of the model that loads from `source` (a folder or a hub name), read from its config and
    tokenizer files, and the weight names its checkpoint holds."""
    return encoder_facts(load_model_config(source), load_tokenizer(source), stored_weight_names(source))


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


def fitting_layers(layers: Optional[int], facts: EncoderFacts, bert_name: str, where: str) -> None:
    """Refuse an encoder_layers (`layers`, as `where` names it: --encoder_layers 9, SPEC: space.encoder_layers)
    above the layer count of bert_name, described by `facts`: the one check of a depth against a model."""
    if layers is not None and not 1 <= layers <= facts.layers:
        raise UserError(f"{where}: {bert_name} has {facts.layers} layer(s); expected 1 to {facts.layers} "
                        f"(the first k are kept), or none for all")


def trained_pooling(source: str) -> Optional[str]:
    """The pooling a sentence-transformers model was trained with (mean or cls), read from its
    1_Pooling/config.json in `source` (a folder, or a hub name in the Hugging Face cache); None for
    a model without one (a plain encoder)."""
    path = checkpoint_file(source, POOLING_FILE)
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        settings = json.load(f)
    return next((ours for key, ours in TRAINED_POOLINGS if settings.get(key)), None)
