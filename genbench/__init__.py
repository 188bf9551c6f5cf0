"""genbench: a terminal workbench for generative image models.

The names here are the public API a model plugin imports::

    from genbench import hookimpl, GenerativeModel, DataSpec, param
"""

from genbench.api import DataSpec, GenerativeModel, param
from genbench.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["DataSpec", "GenerativeModel", "hookimpl", "param", "__version__"]
