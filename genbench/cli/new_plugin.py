"""genbench new-plugin: write an installable model (or dataset) plugin package to
start from."""

from __future__ import annotations

import os
from pathlib import Path

from genbench.options import DEFAULT_STEPS

NAME = "new-plugin"


def add_parser(sub) -> None:
    n = sub.add_parser(
        NAME,
        help="write a new model (or dataset) plugin package to start from",
        description="Write an installable model plugin package (pyproject.toml "
        "with the genbench entry point, a working model, a README "
        "and a test) into DIR, and print the next steps (pip install -e it, ...). With "
        "--dataset, a dataset plugin instead.",
    )
    n.add_argument(
        "name",
        metavar="NAME",
        help="distribution name, e.g. genbench-mygan (its model, or dataset, is then 'mygan')",
    )
    n.add_argument("--dir", help="folder to write, new or empty (default ./NAME)")
    n.add_argument(
        "--dataset",
        choices=("points", "image"),
        metavar="points|image",
        help="write a dataset plugin instead of a model: 2D points with known "
        "modes, or labelled images",
    )


def run(args) -> int:
    from genbench.cli.scaffold import create_plugin

    kind = args.dataset or "model"
    names, target, files = create_plugin(args.name, Path(args.dir) if args.dir else None, kind)
    where = os.path.relpath(target)
    if kind != "model":
        return _dataset_next_steps(names, where, files, kind)
    print(
        f"created {names.distribution} in {where}: model {names.model!r}, "
        f"class {names.cls} in src/{names.package}/model.py"
    )
    for rel in files:
        print(f"  {rel}")
    print("next:")
    if where != ".":
        print(f"  cd {where}")
    print("  pip install -e .     # offline: pip install --no-build-isolation -e .")
    print("  genbench models")
    print(
        f"  genbench run --headless --model {names.model} --dataset ring8 --steps {DEFAULT_STEPS}"
    )
    print("  pytest               # the contract check and a short headless run")
    return 0


def _dataset_next_steps(names, where: str, files: list[str], kind: str) -> int:
    print(
        f"created {names.distribution} in {where}: {kind} dataset {names.model!r}, "
        f"class {names.cls} in src/{names.package}/data.py"
    )
    for rel in files:
        print(f"  {rel}")
    print("next:")
    if where != ".":
        print(f"  cd {where}")
    print("  pip install -e .     # offline: pip install --no-build-isolation -e .")
    print("  genbench datasets")
    print(f"  genbench run --headless --model gan --dataset {names.model} --steps {DEFAULT_STEPS}")
    print("  pytest               # check_dataset and a short headless run")
    return 0
