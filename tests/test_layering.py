"""The package's layering, as its docstrings state it: the library never imports its entry
points (popnas_steps.cli), and only the modules of IMPORTS_TENSORFLOW import TensorFlow
when they are imported."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import popnas_steps

PACKAGE = Path(popnas_steps.__file__).parent
LIBRARY = sorted(path for path in PACKAGE.glob("*.py") if path.name != "__init__.py")


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at its top or inside a function, as absolute names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from .cli import y
                base = ".".join(["popnas_steps", *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_no_library_module_imports_the_entry_points():
    offenders = {
        path.name: sorted(name for name in imported_modules(path) if name.split(".")[:2] == ["popnas_steps", "cli"])
        for path in LIBRARY
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def library_imports() -> dict[str, set[str]]:
    """Each library module's imports of other library modules (by stem), wherever they are."""
    stems = {path.stem for path in LIBRARY}
    return {
        path.stem: {
            parts[1]
            for parts in (name.split(".") for name in imported_modules(path))
            if parts[0] == "popnas_steps" and len(parts) > 1 and parts[1] in stems and parts[1] != path.stem
        }
        for path in LIBRARY
    }


def import_cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or around a cycle."""
    import networkx as nx

    graph = nx.DiGraph([(module, other) for module, others in imports.items() for other in others])
    return sorted(sorted(group) for group in nx.strongly_connected_components(graph) if len(group) > 1)


def test_no_library_modules_import_each_other_in_a_cycle():
    # imports inside functions count: a cycle they hide still ties the modules together
    assert import_cycles(library_imports()) == []


def test_the_cycle_check_finds_a_cycle_through_a_function_level_import():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_import_parser_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from popnas_steps.cli import train_cell\n    from . import cli\n")
    assert {"popnas_steps.cli.train_cell", "popnas_steps.cli"} <= imported_modules(module)


def test_every_module_but_those_named_imports_without_tensorflow():
    free = [path.stem for path in LIBRARY if path.stem not in popnas_steps.IMPORTS_TENSORFLOW]
    assert {"space", "search", "strategies", "cost", "status", "time_predictor", "worker"} <= set(free)
    # one fresh interpreter, the modules imported one by one: the first that pulls TensorFlow in is named
    script = (
        "import importlib, json, sys\n"
        f"for name in {free!r}:\n"
        "    importlib.import_module('popnas_steps.' + name)\n"
        "    loaded = sorted({'tensorflow', 'keras'} & set(sys.modules))\n"
        "    if loaded:\n"
        "        print(json.dumps([name, loaded])); break\n"
        "else:\n"
        "    print(json.dumps(None))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) is None


def test_the_modules_named_import_tensorflow_at_their_top():
    for name in popnas_steps.IMPORTS_TENSORFLOW:
        body = ast.parse((PACKAGE / f"{name}.py").read_text()).body
        top = {alias.name for node in body if isinstance(node, ast.Import) for alias in node.names}
        top |= {node.module for node in body if isinstance(node, ast.ImportFrom)}
        assert {"tensorflow", "keras"} & top, name


def function_level_imports(path: Path) -> set[str]:
    """The top-level names of what `path` imports inside its functions (library modules by stem)."""
    names = set()
    for function in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    parts = node.module.split(".")
                    names.update(parts[:2] if parts[0] == "popnas_steps" else parts[:1])
    return names


def test_the_modules_named_load_tensorflow_inside_functions_and_no_others():
    loads = {"tensorflow", "keras", *popnas_steps.IMPORTS_TENSORFLOW}
    found = {
        path.stem
        for path in LIBRARY
        if path.stem not in popnas_steps.IMPORTS_TENSORFLOW and function_level_imports(path) & loads
    }
    assert found == set(popnas_steps.LOADS_TENSORFLOW_WHEN_CALLED)
