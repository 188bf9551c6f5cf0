"""What train_step may return is part of the contract (genbench.api.losses_problem):
the trainer checks it every step, check_model with the same words, and the trainer
reads it from the contract, never from the test helpers."""

from __future__ import annotations

import ast
from pathlib import Path

import torch

import genbench
from genbench import api, testing

PACKAGE = Path(genbench.__file__).parent


def importers_of(module: str) -> list[str]:
    """The package's modules that import ``module`` (at any level of the file)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if module in names:
                found.append(str(path.relative_to(PACKAGE.parent)))
    return found


def test_only_the_plugin_authors_import_the_test_helpers():
    # genbench.testing is for plugin authors' tests (and `genbench new-plugin`'s
    # scaffold writes such tests as text); no module of genbench imports it.
    assert importers_of("genbench.testing") == []


def test_the_test_helpers_name_the_contracts_own_check():
    assert testing.losses_problem is api.losses_problem
    assert api.losses_problem({"g": torch.zeros(())}, 1) is None
    assert "not a tensor" in api.losses_problem({"g": 0.5}, 7)
    assert "step 7" in api.losses_problem([], 7)
    assert "non-empty strings" in api.losses_problem({"": torch.zeros(())}, 1)
