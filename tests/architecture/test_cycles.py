"""No import cycles between the modules of genbench and its built-in models.

A cycle makes a module's meaning depend on which of its partners was imported
first, and hides which of them is the lower layer. The graph is grimp's (the one
import-linter checks): every import statement counts, function-level ones
included, and imports under ``if TYPE_CHECKING:`` do not, as in [tool.importlinter].
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Run in a fresh process, so that a copy of the tree first on PYTHONPATH is the one
# grimp reads (in this process `genbench` is already imported from the checkout).
GRAPH = """
import json, grimp
graph = grimp.build_graph(
    "genbench", "genbench_plugins", exclude_type_checking_imports=True, cache_dir=None
)
print(json.dumps({
    m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)
}))
"""


def import_graph(root: Path) -> dict[str, list[str]]:
    """Each module of genbench and genbench_plugins under ``root``, and the modules
    of those two packages it imports."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(root / "plugins")]))
    out = subprocess.run(
        [sys.executable, "-c", GRAPH], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or of one that
    imports itself), by Tarjan's algorithm, iteratively: each is a set of modules
    every one of which imports, through the others, every other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph.get(nxt, ()))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        found.append(sorted(component))
    return sorted(found)


def describe(graph: dict[str, list[str]], found: list[list[str]]) -> str:
    lines = []
    for component in found:
        lines.append(" <-> ".join(component))
        lines += [f"    {a} imports {b}" for a in component for b in graph[a] if b in component]
    return "\n".join(lines)


def test_no_module_is_on_an_import_cycle():
    graph = import_graph(REPO)
    assert "genbench.training.loop" in graph and "genbench_plugins.gan" in graph
    found = cycles(graph)
    assert not found, "import cycles:\n" + describe(graph, found)


def test_cycles_finds_a_cycle_through_several_modules_and_a_self_import():
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["e"], "f": ["a"]}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]
    assert cycles({"a": ["b"], "b": ["c"], "c": []}) == []


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """genbench and its built-in models copied, to add one import at a time."""
    root = tmp_path_factory.mktemp("cycles")
    ignore = shutil.ignore_patterns("__pycache__", "*.pt", "*.json")
    shutil.copytree(REPO / "genbench", root / "genbench", ignore=ignore)
    shutil.copytree(REPO / "plugins", root / "plugins", ignore=ignore)
    return root


# genbench.runfolder.runs imports genbench.runfolder.record; each case makes record
# import runs back.
CYCLE_IN_A_FUNCTION = """
def _deliberate_cycle():
    import genbench.runfolder.runs
"""
TYPE_CHECKING_ONLY = """
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import genbench.runfolder.runs
"""


@pytest.mark.parametrize(
    "added, is_cycle",
    [(CYCLE_IN_A_FUNCTION, True), (TYPE_CHECKING_ONLY, False)],
    ids=["function-level import counts", "TYPE_CHECKING import does not"],
)
def test_an_added_import_back_is_a_cycle_unless_only_for_type_checking(copy, added, is_cycle):
    record = copy / "genbench" / "runfolder" / "record.py"
    original = record.read_text()
    record.write_text(original + added)
    try:
        graph = import_graph(copy)
    finally:
        record.write_text(original)
    # Read from the copy: the edge is there exactly when it counts.
    assert ("genbench.runfolder.runs" in graph["genbench.runfolder.record"]) is is_cycle
    found = cycles(graph)
    pair = {"genbench.runfolder.record", "genbench.runfolder.runs"}
    assert any(pair <= set(c) for c in found) is is_cycle, describe(graph, found)
