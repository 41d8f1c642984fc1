"""How the packages depend on each other, read from the source (every import, including those inside
functions): nothing in pipeline/ imports evaluation/, and no module imports itself through others."""
import ast
import tomllib

import pytest

from conftest import ROOT

PACKAGES = ("pipeline", "evaluation")


def module_files() -> dict[str, object]:
    return {f"{pkg}.{path.stem}" if path.stem != "__init__" else pkg: path
            for pkg in PACKAGES for path in sorted((ROOT / pkg).glob("*.py"))}


def imported(module: str, path, modules) -> set[str]:
    """The modules of ours that `module` imports anywhere in its file."""
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules and name != module}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {module: imported(module, path, modules) for module, path in modules.items()}


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "pipeline.llm_compose" in graph["pipeline.chain"]  # imported inside AnswerEngine._compose only
    assert "pipeline.notes" in graph["pipeline.cli"]  # imported inside the command functions


def test_nothing_in_pipeline_imports_evaluation():
    graph = import_graph()
    leaks = {m: sorted(d for d in deps if d.split(".")[0] == "evaluation")
             for m, deps in graph.items() if m.split(".")[0] == "pipeline"}
    assert {m: d for m, d in leaks.items() if d} == {}


def test_no_import_cycle_in_pipeline_or_evaluation():
    graph = import_graph()
    state: dict[str, str] = {}  # "open" while on the current path, "done" once every path from it is explored

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                pytest.fail("import cycle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_evaluation_commands_entry_points_name_functions_that_exist():
    """`inquire eval` and `inquire bench` find these through importlib.metadata once installed."""
    import importlib

    from pipeline.cli import COMMANDS

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"][COMMANDS]
    assert set(declared) == {"eval", "bench"}
    for target in declared.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target


def test_a_missing_evaluation_entry_point_names_the_fix(capsys, monkeypatch):
    import importlib.metadata

    from pipeline.cli import main

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: importlib.metadata.EntryPoints(()))
    assert main(["eval"]) == 1
    err = capsys.readouterr().err
    assert "inquire.commands" in err and "make install" in err and "pip install -e ." in err
