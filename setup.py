"""The package list, found rather than written by hand: every package under
genbench/ (a new one is installed without editing anything), and the built-in
models' plugins/ folder installed as `genbench_plugins`, so it never claims the name
`plugins`. pyproject.toml's [tool.setuptools.packages.find] cannot map a folder to
another name, hence this file; everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

setup(
    # Namespace packages too: genbench/metrics/weights holds only the classifiers'
    # weights (package data, see pyproject.toml).
    packages=[*find_namespace_packages(include=["genbench", "genbench.*"],
                                       exclude=["*.__pycache__"]),
              "genbench_plugins"],
    package_dir={"genbench_plugins": "plugins"},
)
