"""genbench: a terminal workbench for generative image models.

The names here are the public API a plugin imports::

    from genbench import hookimpl, GenerativeModel, DataSpec, param
    from genbench import Dataset, Availability, BatchSampler    # to ship a dataset

``genbench.testing.check_model`` checks a model against the contract in a
plugin's tests; ``genbench.nn`` has network building blocks. Importing this
package imports no torch: the CLI's help and the TUI's first paint rely on it.
"""

from genbench.api import DataSpec, GenerativeModel, param
from genbench.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["Availability", "BatchSampler", "DataSpec", "Dataset", "GenerativeModel",
           "hookimpl", "param", "__version__"]

# The dataset base classes live in genbench.data, which the CLI need not import
# for every command: load them on first use.
_LAZY = {"Dataset", "Availability", "BatchSampler"}


def __getattr__(name: str):
    if name in _LAZY:
        from genbench.data import base

        return getattr(base, name)
    raise AttributeError(f"module 'genbench' has no attribute {name!r}")
