"""genbench: a terminal workbench for generative image models.

The names here are the public API a plugin imports::

    from genbench import hookimpl, GenerativeModel, DataSpec, param
    from genbench import Dataset, Availability, BatchSampler    # to ship a dataset
    from genbench import DatasetUnavailable                     # its data cannot be used
    from genbench import Executor, ExecutorOption, Member       # to run sweeps elsewhere
    from genbench import Logger, LoggedRun                      # to send metrics elsewhere

``genbench.testing.check_model`` checks a model against the contract in a
plugin's tests; ``genbench.nn`` has network building blocks. Importing this
package imports no torch: the CLI's help and the TUI's first paint rely on it.
"""

from genbench.api import DataSpec, GenerativeModel, param
from genbench.dataset import Availability, BatchSampler, Dataset, DatasetUnavailable
from genbench.executor import Executor, ExecutorError, ExecutorOption, Member
from genbench.hookspecs import hookimpl
from genbench.logger import LoggedRun, Logger

__version__ = "0.1.0"
__all__ = [
    "Availability",
    "BatchSampler",
    "DataSpec",
    "Dataset",
    "DatasetUnavailable",
    "Executor",
    "ExecutorError",
    "ExecutorOption",
    "Member",
    "GenerativeModel",
    "LoggedRun",
    "Logger",
    "hookimpl",
    "param",
    "__version__",
]
