"""The dataset contract's old home: it lives in :mod:`genbench.dataset` (the layer
plugins import, below the registry). Kept so existing imports keep working."""

from genbench.dataset import Availability, BatchSampler, Dataset

__all__ = ["Availability", "BatchSampler", "Dataset"]
