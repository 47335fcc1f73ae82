"""The documents stay true: the README is a front page, every result file and relative link they cite
exists, every command they show parses with its script's own parser (and its --help runs), and the
tests mirror the code."""
import argparse
import importlib.util
import re
import runpy
import shlex
import sys

import pytest

from tests.helpers import ROOT

README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
BENCH_READMES = sorted((ROOT / "bench").rglob("README.md"))
COMMAND = re.compile(r"python (launch\.py|bench/\w+\.py)\b")


def test_the_readme_is_a_front_page_with_your_own_csv_near_the_top():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move detail to docs/"
    own_csv = next(i for i, line in enumerate(lines) if line.startswith("python launch.py --search classify --train_path"))
    assert own_csv < 40, f"the own-CSV command is on line {own_csv + 1}"
    assert len(DOCS) >= 8


def test_every_cited_result_file_is_in_the_repository():
    cited = {path.rstrip(".,;:)") for doc in DOCS + BENCH_READMES
             for path in re.findall(r"bench/results/[\w./-]*", doc.read_text(encoding="utf-8"))}
    assert len(cited) > 5
    missing = sorted(p for p in cited if not (ROOT / p).exists())
    assert not missing, f"cited but not in the repository: {missing}"


def anchors(path) -> set:
    """GitHub's heading anchors of a Markdown file."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_relative_link_resolves():
    broken = []
    for doc in DOCS + BENCH_READMES:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, f"links that lead nowhere: {broken}"


def shown_commands() -> list:
    """(document, script, arguments) of every `python launch.py ...` / `python bench/X.py ...` the
    documents show, in code blocks and inline code; a block's NAME="..." lines are expanded where $NAME
    is used, and a `$(...)` substitution stands for one argument."""
    found = []
    for doc in DOCS + BENCH_READMES:
        text = doc.read_text(encoding="utf-8")
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
        inline = re.findall(r"(?<!`)`([^`]+)`(?!`)", re.sub(r"```.*?```", "", text, flags=re.S))
        for chunk, block in [(b, True) for b in blocks] + [(i, False) for i in inline]:
            chunk = chunk.replace("\\\n", " ")
            variables = dict(re.findall(r'^(\w+)="([^"]*)"$', chunk, re.M))
            for line in chunk.splitlines() if block else [" ".join(chunk.split())]:
                line = re.sub(r'"\$\(.*?\)"', "SUBSTITUTED", line)
                for _ in range(2):  # a variable may name another
                    line = re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), m.group(0)), line)
                match = COMMAND.search(line)
                if match:
                    rest = re.split(r"\s+(?:#|>|\||&&)(?:\s|$)", line[match.end():])[0]
                    found.append((doc.relative_to(ROOT).as_posix(), match.group(1), shlex.split(rest)))
    return found


class Parsed(Exception):
    """Raised in place of running a script once its arguments have parsed."""


def parse_bench_script(script: str, args: list, monkeypatch):
    original = argparse.ArgumentParser.parse_args

    def parse_only(parser, argv=None, namespace=None):
        raise Parsed(original(parser, argv, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_only)
    monkeypatch.setattr(sys, "argv", [script, *args])
    monkeypatch.syspath_prepend(str(ROOT))
    with pytest.raises(Parsed):
        runpy.run_path(str(ROOT / script), run_name="__main__")


def parse_launch(args: list, monkeypatch):
    """launch.py's own main() with the run of a search and of a single run replaced: the parser and
    the refusal of options of the other mode both apply."""
    import bert_hpo_distributed.search_cli as search_cli
    import bertclf.cli as engine_cli
    seen = []
    monkeypatch.setattr(search_cli, "run", lambda parsed: seen.append(parsed) or 0)
    monkeypatch.setattr(engine_cli, "run", lambda parsed: seen.append(parsed) or 0)
    spec = importlib.util.spec_from_file_location("launch_under_test", ROOT / "launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    assert launch.main(args) == 0 and len(seen) == 1
    return seen[0]


COMMANDS = shown_commands()
RUNS = [c for c in COMMANDS if "--help" not in c[2]]  # a --help shown is the test below


def test_the_documents_show_the_main_commands():
    shown = {(script, " ".join(args)) for _, script, args in COMMANDS}
    assert ("launch.py", "--search imdb --smoke-test") in shown
    assert ("launch.py", "--search imdb") in shown
    assert {script for script, _ in shown} >= {"launch.py", "bench/search_vs_hf.py", "bench/simulate.py",
                                               "bench/record_curves.py", "bench/data_scale.py"}


@pytest.mark.parametrize("doc, script, args", RUNS, ids=[f"{d}:{' '.join([s, *a])[:60]}" for d, s, a in RUNS])
def test_every_command_shown_parses(doc, script, args, monkeypatch, capsys):
    if script == "launch.py":
        parse_launch(args, monkeypatch)
    else:
        parse_bench_script(script, args, monkeypatch)
    assert "error:" not in capsys.readouterr().err


@pytest.mark.parametrize("task, metric", [("multilabel", "valid_micro_f1"), ("regression", "valid_spearman")])
def test_data_shows_a_search_of_your_own_file_for_each_task(task, metric, monkeypatch):
    """docs/data.md's search of your own file with several labels per text / a score: the command parses,
    and the spec it makes (its file options and --set) is of that task, scored by the task's default."""
    from bert_hpo_distributed.search_cli import search_options
    from bert_hpo_distributed.spec.load import load_spec
    args = next(a for doc, _, a in COMMANDS if doc == "docs/data.md" and "--search" in a and f"task={task}" in a)
    opts = search_options(parse_launch(args, monkeypatch))
    spec = load_spec(opts.search, opts.overrides)
    assert (spec.task, spec.metric, spec.files["train"]) == (task, metric, args[args.index("--train_path") + 1])


@pytest.mark.parametrize("script", sorted({script for _, script, _ in COMMANDS}))
def test_the_help_of_every_script_shown_runs(script, monkeypatch, capsys):
    with pytest.raises(SystemExit) as end:
        if script == "launch.py":
            parse_launch(["--help"], monkeypatch)
        else:
            parse_bench_script(script, ["--help"], monkeypatch)
    assert end.value.code == 0 and "usage:" in capsys.readouterr().out


def test_no_two_test_files_share_a_name():
    """The folders under tests/ hold no __init__.py, so pytest imports a test file there by its name
    alone: two files of one name in two folders stop the whole collection."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) > 50
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


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
