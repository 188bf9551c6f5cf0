"""genbench new-plugin: write an installable model plugin package to start from."""

from __future__ import annotations

import os
from pathlib import Path

from genbench.defaults import DEFAULTS

NAME = "new-plugin"


def add_parser(sub) -> None:
    n = sub.add_parser(NAME, help="write a new model plugin package to start from",
                       description="Write an installable model plugin package (pyproject.toml "
                                   "with the genbench entry point, a working model, a README "
                                   "and a test) into DIR, then pip install -e it.")
    n.add_argument("name", metavar="NAME",
                   help="distribution name, e.g. genbench-mygan (its model is then 'mygan')")
    n.add_argument("--dir", help="folder to write, new or empty (default ./NAME)")


def run(args) -> int:
    from genbench.scaffold import create_plugin

    names, target, files = create_plugin(args.name, Path(args.dir) if args.dir else None)
    where = os.path.relpath(target)
    print(f"created {names.distribution} in {where}: model {names.model!r}, "
          f"class {names.cls} in src/{names.package}/model.py")
    for rel in files:
        print(f"  {rel}")
    print("next:")
    if where != ".":
        print(f"  cd {where}")
    print("  pip install -e .     # offline: pip install --no-build-isolation -e .")
    print("  genbench models")
    print(f"  genbench run --headless --model {names.model} --dataset ring8 "
          f"--steps {DEFAULTS.steps}")
    print("  pytest               # the contract check and a short headless run")
    return 0
