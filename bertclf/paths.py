"""Where bert-hpo keeps its files unless told otherwise: below every module that needs the place
(the options' default cache_dir, the named data sets' folder)."""
import os


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bert-hpo")
