"""The package list, found rather than written by hand: every package under
genbench/ (a new one is installed without editing anything) and the built-in
models in genbench_plugins/ (the folder and the import name are the same, and
never the bare name `plugins`). Everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

setup(
    # Namespace packages too: genbench/metrics/weights holds only the classifiers'
    # weights (package data, see pyproject.toml).
    packages=find_namespace_packages(include=["genbench", "genbench.*", "genbench_plugins"],
                                     exclude=["*.__pycache__"]),
)
