"""The package's import layering, read from the code's own imports: no arrow runs from a lower floor to a
higher one, and no module imports itself back through others (docs/ARCHITECTURE.md, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gcflnet_lib"

# Floors from the ground up; a room (top-level module or subpackage) imports only from its floor or below.
LAYERS = (
    {"errors", "files"},
    {"provenance", "ops"},
    {"nn"},
    {"models", "data"},
    {"losses", "metrics", "released", "diagnostics"},
    {"engine"},
    {"classical"},
    {"ablation", "commands"},
    {"workbook", "cli", "__main__", "__init__"},
)
FLOOR = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> set[str]:
    """The gcflnet_lib modules a file imports, at the top or inside functions (relative imports resolved)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "gcflnet_lib")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gcflnet_lib":
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def module_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {target for target in imports_of(path) if target in modules and target != name}
            for name, path in modules.items()}


def test_every_room_has_a_floor():
    assert {room(name) for name in module_graph()} <= set(FLOOR), set(map(room, module_graph())) - set(FLOOR)


def test_no_import_runs_up():
    upward = [f"{source} -> {target}" for source, targets in module_graph().items() for target in targets
              if FLOOR[room(target)] > FLOOR[room(source)]]
    assert upward == []


def test_no_import_cycle():
    graph = module_graph()
    # A package's __init__ re-exports its modules: that edge is the package's face, not a dependency back.
    edges = {source: {t for t in targets if not (source.startswith(t + ".") or t.startswith(source + "."))}
             for source, targets in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_checker_sees_an_upward_arrow_and_a_cycle(tmp_path):
    # The rules above must be able to fail: a data module importing the engine is an upward arrow.
    assert FLOOR[room("gcflnet_lib.engine.trainer")] > FLOOR[room("gcflnet_lib.data.dataset")]
    probe = tmp_path / "probe.py"
    probe.write_text("from gcflnet_lib.engine import trainer\nimport gcflnet_lib.metrics\n")
    assert imports_of(probe) == {"gcflnet_lib.engine", "gcflnet_lib.engine.trainer", "gcflnet_lib.metrics"}


ENGINE_MAX_LINES = 80  # issue 22: each step of the engine is short enough to read at once


def test_no_engine_function_is_longer_than_the_bar():
    long = []
    for path in sorted((PACKAGE / "engine").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > ENGINE_MAX_LINES:
                    long.append(f"{path.name}:{node.name} ({lines} lines)")
    assert long == []
