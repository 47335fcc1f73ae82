"""The built package holds every sub-package: an editable install (what the tests use) would hide one
left out of pyproject.toml, and a wheel install would then fail on its import."""
import tomllib

from tests.helpers import ROOT


def test_every_sub_package_is_listed_in_pyproject():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders = {name: ROOT / folder for name, folder in setuptools["package-dir"].items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            found.add(".".join((name, *relative)))
    assert found == set(setuptools["packages"])
