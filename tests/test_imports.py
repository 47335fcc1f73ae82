"""The house rule "arrows point down": no import cycle inside bertclf/ or distributed/, counting the
imports inside functions, nor between the parts of a package when each sub-package counts as one
part (bertclf/data/ sits below config.py or above it, not both); and the engine never imports Ray or
the Ray side."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"bertclf": "bertclf", "distributed": "bert_hpo_distributed"}  # folder -> import name


def _module_name(package: str, path: Path) -> str:
    parts = [package, *path.relative_to(ROOT / package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _known(name: str, modules: set) -> str:
    """The longest prefix of `name` that is one of our modules (a.b.c -> a.b when c is a function)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return ""


def import_graph() -> dict:
    """{module: {our modules it imports anywhere in its file}}, e.g. 'bertclf.train' -> {'bertclf.config', ...}."""
    files = {_module_name(folder, path): path for folder in PACKAGES for path in (ROOT / folder).rglob("*.py")}
    modules = set(files)
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    stem = f"{base}.{node.module}" if node.module else base
                else:
                    stem = node.module
                found = [f"{stem}.{a.name}" for a in node.names]
            else:
                continue
            for target in found:
                for folder, alias in PACKAGES.items():
                    if target == alias or target.startswith(alias + "."):
                        target = folder + target[len(alias):]
                module = _known(target, modules)
                if module and module != name:
                    targets.add(module)
        graph[name] = targets
    return graph


def find_cycle(graph: dict) -> list:
    """One cycle as [a, b, ..., a], or [] when there is none."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def packages() -> list:
    """Our packages' names (bertclf, bertclf.data, ...)."""
    return sorted(_module_name(folder, init) for folder in PACKAGES for init in (ROOT / folder).rglob("__init__.py"))


def parts_graph(graph: dict, package: str) -> dict:
    """The arrows between the parts of `package`: its own modules, and each sub-package as one part
    (its __init__ and everything below it); `package` itself (its __init__) is a part too."""
    def part(module):
        if module == package:
            return package
        if module.startswith(package + "."):
            return f"{package}.{module[len(package) + 1:].split('.')[0]}"
        return None
    arrows = {}
    for module, targets in graph.items():
        source = part(module)
        if source is not None:
            arrows.setdefault(source, set()).update(t for t in map(part, targets) if t not in (None, source))
    return arrows


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "bertclf.train" in graph and "bertclf.config" in graph["bertclf.train"]
    # search_cli imports the driver inside main(): an arrow all the same
    assert "distributed.search" in graph["distributed.search_cli"]


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_parts_graph_sees_a_sub_package_that_is_both_below_and_above():
    # datasets -> config -> label_names: no cycle between modules, but bertclf.data is above and below config
    graph = {"p.config": {"p.data.label_names"}, "p.data.datasets": {"p.config"}, "p.data.label_names": set()}
    assert find_cycle(graph) == []
    assert find_cycle(parts_graph(graph, "p")) == ["p.config", "p.data", "p.config"]
    assert find_cycle(parts_graph(graph, "p.data")) == []


def test_no_cycles_between_the_parts_of_a_package():
    graph = import_graph()
    assert {"bertclf", "bertclf.data", "bertclf.tasks", "bertclf.tasks.qa", "bertclf.models"} <= set(packages())
    for package in packages():
        cycle = find_cycle(parts_graph(graph, package))
        assert not cycle, f"import cycle between the parts of {package}: " + " -> ".join(cycle)


def test_the_engine_never_imports_the_ray_side():
    graph = import_graph()
    upward = {m: sorted(t for t in targets if t.startswith("distributed"))
              for m, targets in graph.items() if m.startswith("bertclf")}
    assert not any(upward.values()), upward


def test_engine_never_imports_ray():
    import subprocess
    import sys
    code = ("import sys, bertclf.cli, bertclf.train, bertclf.predict, bertclf.feature_cache; "
            "sys.exit(1 if any(m == 'ray' or m.startswith('ray.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
