"""The package list, found rather than written by hand: every package under
genbench/ (a new one is installed without editing anything) and the built-in
models, the package genbench_plugins in plugins/genbench_plugins/. Everything
else is in pyproject.toml.

The built-in models' folder holds a package of the same name, rather than
plugins/ being mapped to the import name, so that putting plugins/ on a search
path (PYTHONPATH, mypy's files) finds `genbench_plugins` without an install, and
`plugins` itself is never a package: it is not installed."""

from setuptools import find_namespace_packages, setup

PLUGINS_ROOT = "plugins"

setup(
    # Namespace packages too: genbench/metrics/weights holds only the classifiers'
    # weights (package data, see pyproject.toml).
    packages=find_namespace_packages(include=["genbench", "genbench.*"], exclude=["*.__pycache__"])
    + find_namespace_packages(
        where=PLUGINS_ROOT,
        include=["genbench_plugins", "genbench_plugins.*"],
        exclude=["*.__pycache__"],
    ),
    package_dir={"genbench_plugins": f"{PLUGINS_ROOT}/genbench_plugins"},
)
