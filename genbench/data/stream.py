"""Batches of a large image folder, decoded by DataLoader worker processes.

The order of each epoch is a permutation fixed by (seed, epoch), so the state of
the sampler is just (epoch, batches drawn in it): on resume the epoch's
permutation is rebuilt and the loader starts at the next unseen batch. Images
are decoded deterministically (no random augmentation), so resume is exact,
mid-epoch included. The cost: the workers' prefetched batches are discarded on
resume, and a file changed between the runs changes the data silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset

from genbench.data.decode import load_image
from genbench.data.sampler import state_int, to_unit_range
from genbench.errors import UsageError


class FileImages(TorchDataset):
    def __init__(self, files: list[Path], labels: list[int] | None, size: int, mode: str):
        self.files, self.labels, self.size, self.mode = files, labels, size, mode

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        image = torch.from_numpy(load_image(self.files[i], self.size, self.mode))
        return image, (self.labels[i] if self.labels is not None else -1)


class EpochOrder(Sampler[int]):
    """The example order of epoch ``epoch`` from position ``start`` onwards."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed = n, seed % 2**64  # SeedSequence wants non-negative ints
        self.epoch, self.start = 0, 0

    def __iter__(self):
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        return iter(perm[self.start :].tolist())

    def __len__(self) -> int:
        return self.n - self.start


class StreamingSampler:
    def __init__(
        self,
        files: list[Path],
        labels: list[int] | None,
        size: int,
        mode: str,
        batch_size: int,
        device: torch.device,
        seed: int,
        workers: int,
    ):
        if batch_size > len(files):
            raise UsageError(
                f"--batch-size {batch_size} is larger than the dataset ({len(files)} images)"
            )
        self.n, self.batch_size, self.device = len(files), batch_size, device
        self.labelled = labels is not None
        self.order = EpochOrder(self.n, seed)
        self.loader = DataLoader(
            FileImages(files, labels, size, mode),
            batch_size=batch_size,
            sampler=self.order,
            drop_last=True,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=device.type == "cuda",
            prefetch_factor=4 if workers > 0 else None,
        )
        self.epoch, self.batch = 0, 0
        # The loader's iterator, started at (epoch, batch).
        self._batches: Iterator[Any] | None = None

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        while True:
            if self._batches is None:
                self.order.epoch, self.order.start = self.epoch, self.batch * self.batch_size
                self._batches = iter(self.loader)
            try:
                x, y = next(self._batches)
                break
            except StopIteration:
                self.epoch, self.batch, self._batches = self.epoch + 1, 0, None
            except UsageError as exc:
                # A worker's error arrives as "Caught UsageError in DataLoader worker
                # process 0. Original Traceback ..."; its last line names the file.
                last = str(exc).strip().splitlines()[-1]
                raise UsageError(last.removeprefix("genbench.errors.UsageError: ")) from None
        self.batch += 1
        x = to_unit_range(x.to(self.device, non_blocking=True))
        return x, (y.to(self.device, non_blocking=True) if self.labelled else None)

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "batch": self.batch,
            "size": self.n,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # From a checkpoint file (untrusted): checked before use (a negative epoch
        # would fail the first draw, after the run was taken).
        size = state_int(state, "size", 1, 1 << 62)
        if size != self.n:
            raise UsageError(
                f"the folder now has {self.n} images but the checkpoint was "
                f"drawn from {size}; it cannot resume exactly"
            )
        self.epoch = state_int(state, "epoch", 0, 1 << 53)
        self.batch = state_int(state, "batch", 0, self.n // self.batch_size)
        self._batches = None
