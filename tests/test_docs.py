"""The READMEs stay true: every result file they cite is in the repository, every module is in the layout,
and the tests mirror the code as the layout says."""
import re

from tests.helpers import ROOT

READMES = [ROOT / "README.md", ROOT / "bench" / "README.md"]


def test_every_cited_result_file_is_in_the_repository():
    cited = {path.rstrip(".,;:)") for readme in READMES
             for path in re.findall(r"bench/results/[\w./-]*", readme.read_text(encoding="utf-8"))}
    assert len(cited) > 5
    missing = sorted(p for p in cited if not (ROOT / p).exists())
    assert not missing, f"cited but not in the repository: {missing}"


def test_the_layout_names_every_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    modules = [p for folder in ("bertclf", "distributed") for p in sorted((ROOT / folder).glob("*.py"))
               if p.name != "__init__.py"]
    assert len(modules) > 20
    missing = [f"{p.parent.name}/{p.name}" for p in modules if f"`{p.name}`" not in layout
               and f"`{p.parent.name}/{p.name}`" not in layout]
    assert not missing, f"modules the README's layout does not name: {missing}"


def test_every_test_file_names_the_module_it_tests():
    """tests/<folder>/test_X.py tests <folder>/X.py, or is more of it (test_X_more.py); at the top only
    launch.py's tests and the repository's own."""
    wrong = []
    for folder in ("bertclf", "distributed", "bench"):
        modules = {"_".join(p.relative_to(ROOT / folder).with_suffix("").parts)
                   for p in (ROOT / folder).rglob("*.py") if p.name != "__init__.py"}
        tests = sorted((ROOT / "tests" / folder).glob("test_*.py"))
        assert len(tests) >= 4, folder
        wrong += [f"tests/{folder}/{t.name}" for t in tests
                  if not any(t.stem[5:] == m or t.stem[5:].startswith(m + "_") for m in modules)]
    top = {p.stem for p in (ROOT / "tests").glob("test_*.py")}
    wrong += [f"tests/{name}.py" for name in sorted(top)
              if not name.startswith("test_launch") and name not in ("test_docs", "test_imports", "test_packaging")]
    assert not wrong, f"test files that name no module of the folder they mirror: {wrong}"
