"""bert-hpo's Ray side, imported as `bert_hpo_distributed` (see pyproject.toml).

Everything that touches Ray lives here; the engine (`bertclf`) never imports Ray.

"distributed" is Dask's top-level package. When this folder is reached under that name (the
repository root on sys.path, e.g. `python launch.py` run from it), it steps aside: the import
is handed to Dask's package if one is installed, and fails as if this folder were not there
otherwise. So ours never shadows Dask's, and Dask's never shadows ours.
"""
if __name__ == "distributed":
    import importlib.machinery
    import importlib.util
    import os
    import sys

    _here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    _path = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _here]
    _spec = importlib.machinery.PathFinder.find_spec("distributed", _path)
    if _spec is None:
        del sys.modules["distributed"]
        raise ModuleNotFoundError("No module named 'distributed'", name="distributed")
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["distributed"] = _module
    _spec.loader.exec_module(_module)
