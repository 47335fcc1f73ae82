"""The READMEs stay true: every result file they cite is in the repository, every module is in the layout."""
import re

from tests.test_search import ROOT

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
