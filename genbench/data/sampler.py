"""Batches drawn from a uint8 image tensor that lives on the training device.

The whole dataset is uploaded once; each step gathers a batch by index on the
device and scales it to [-1, 1]. No DataLoader, no host round trip, no host
synchronisation per step: the permutation comes from a generator on the device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from genbench.data.resize import resize_chunk
from genbench.errors import UsageError


def upload(
    images: np.ndarray, labels: np.ndarray | None, device: torch.device, size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``images`` (N, C, H, W) uint8 on ``device``, resized to ``size`` x ``size``
    when given (bilinear with antialiasing, once, here), and labels as int64."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        # Into one tensor made up front: resized parts joined by torch.cat held the
        # resized dataset twice at the peak (InMemoryImages.device_bytes counts once).
        out = torch.empty((*x.shape[:2], size, size), dtype=torch.uint8, device=device)
        chunk = resize_chunk(x.shape[1], size)
        for start in range(0, x.shape[0], chunk):
            out[start : start + chunk] = resize_uint8(x[start : start + chunk], size)
        x = out
    y = None if labels is None else torch.from_numpy(labels.astype(np.int64)).to(device)
    return x, y


def resize_uint8(x: torch.Tensor, size: int) -> torch.Tensor:
    # Kept as uint8 after resizing: a quarter of the memory of float32, and the
    # rounding is below what the [-1, 1] scaling of 8-bit data resolves anyway.
    out = F.interpolate(
        x.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)


def to_unit_range(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (0 -> -1 and 255 -> 1 exactly), the range
    models generate in: a new tensor, on the device of ``x`` (a numpy array: the CPU)."""
    return torch.as_tensor(x).to(torch.float32, copy=True).div_(127.5).sub_(1.0)


def next_batches(sampler: Any, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The real data of one training step that consumes ``k`` batches.

    ``k == 1``: the sampler's ``next()``, (B, ...) and (B,) as always. ``k > 1``: k
    batches as one tensor of shape (k, B, ...), labels (k, B) or None. A sampler may
    draw them in one go with a ``next_batches(k)`` method of its own (DeviceBatchSampler
    gives the batches k calls of ``next()`` would; the 2D mixtures draw (k, B) points
    at once); otherwise k calls of ``next()`` are stacked. Every draw comes from the
    sampler's own generator, so its state still resumes exactly.
    """
    if k == 1:
        return sampler.next()
    own = getattr(sampler, "next_batches", None)
    if own is not None:
        return own(k)
    return _stacked([sampler.next() for _ in range(k)])


def _stacked(draws: list) -> tuple[torch.Tensor, torch.Tensor | None]:
    labels = [y for _, y in draws if y is not None]
    return torch.stack([x for x, _ in draws]), torch.stack(labels) if labels else None


class DeviceBatchSampler:
    """Shuffled passes over a device tensor; the last partial batch of each epoch is
    dropped so every batch has the same shape (CUDA graphs and compiled steps rely
    on static shapes).

    Its state is the generator's state, the current permutation, the cursor in it
    and the epoch: restoring it gives exactly the batches that would have come next.
    """

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor | None, batch_size: int, seed: int
    ):
        n = images.shape[0]
        if batch_size > n:
            raise UsageError(f"--batch-size {batch_size} is larger than the dataset ({n} examples)")
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.device = images.device
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.epoch, self.cursor = 0, 0
        self.perm = self._shuffle()

    @property
    def size(self) -> int:
        return self.images.shape[0]

    def _shuffle(self) -> torch.Tensor:
        return torch.randperm(self.size, generator=self.generator, device=self.device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.cursor + self.batch_size > self.size:
            self.epoch += 1
            self.cursor = 0
            self.perm = self._shuffle()
        index = self.perm[self.cursor : self.cursor + self.batch_size]
        self.cursor += self.batch_size
        x = to_unit_range(self.images[index])
        return x, None if self.labels is None else self.labels[index]

    def next_batches(self, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """k batches as (k, B, ...): the same ones as k calls of next(), gathered
        at once when they all lie in the current epoch's permutation."""
        n = k * self.batch_size
        if self.cursor + n > self.size:  # an epoch ends among them: one at a time
            return _stacked([self.next() for _ in range(k)])
        index = self.perm[self.cursor : self.cursor + n]
        self.cursor += n
        x = to_unit_range(self.images[index]).unflatten(0, (k, self.batch_size))
        y = None if self.labels is None else self.labels[index].view(k, self.batch_size)
        return x, y

    def state_dict(self) -> dict[str, Any]:
        # Tensors and ints only: loads with torch.load(weights_only=True).
        return {
            "generator": self.generator.get_state(),
            "perm": self.perm,
            "cursor": self.cursor,
            "epoch": self.epoch,
            "size": self.size,
            "batch_size": self.batch_size,
            "device": self.device.type,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # The state comes from a checkpoint file (untrusted): every part is checked
        # before any is used, so a damaged one is one line, not an index error at
        # the first step after the run is taken (and marked failed).
        size = state_int(state, "size", 1, 1 << 62)
        if size != self.size:
            raise UsageError(
                f"the dataset now has {self.size} examples but the checkpoint "
                f"was drawn from {size}; the data changed since "
                "the run started, so it cannot resume exactly"
            )
        cursor = state_int(state, "cursor", 0, self.size)
        epoch = state_int(state, "epoch", 0, 1 << 53)
        perm, generator = state.get("perm"), state.get("generator")
        problem = _not_a_permutation(perm, self.size)
        if problem or not isinstance(perm, torch.Tensor):
            raise UsageError(
                f"its sampler order is damaged: 'perm' must be a permutation "
                f"of 0..{self.size - 1} (int64), got {problem}"
            )
        expected = self.generator.get_state()
        if not (
            isinstance(generator, torch.Tensor)
            and generator.dtype == expected.dtype
            and generator.shape == expected.shape
        ):
            raise UsageError(
                f"its sampler's generator state is damaged: a "
                f"{expected.dtype} tensor of shape {tuple(expected.shape)} was "
                f"expected, got {_about(generator)}"
            )
        saved_on = state.get("device", self.device.type)
        if saved_on != self.device.type:
            # CPU and CUDA generators have different states (Mersenne Twister vs
            # Philox): the order of the coming batches cannot be carried over.
            raise UsageError(
                f"the checkpoint's data order was drawn on {saved_on} and "
                f"cannot continue exactly on {self.device.type}; resume with "
                f"--device {saved_on}"
            )
        try:
            self.generator.set_state(generator.cpu())
        except RuntimeError as exc:  # right size, values no generator can take
            raise UsageError(
                "its sampler's generator state is damaged: "
                f"{str(exc).strip().splitlines()[0][:160]}"
            ) from None
        self.perm = perm.to(self.device)
        self.cursor, self.epoch = cursor, epoch


def state_int(state: Any, key: str, lo: int, hi: int) -> int:
    """``state[key]`` from a checkpoint's sampler state, a whole number from ``lo``
    to ``hi``; one UsageError line otherwise (a tensor, a float, a bool, or out of
    range)."""
    value = state.get(key) if isinstance(state, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UsageError(
            f"its sampler state is damaged: {key!r} must be a "
            f"whole number from {lo} to {hi}, got {_about(value)}"
        )
    return value


def _not_a_permutation(perm: Any, size: int) -> str | None:
    """What keeps ``perm`` from being an int64 permutation of 0..size-1, or None."""
    if (
        not isinstance(perm, torch.Tensor)
        or perm.dtype != torch.int64
        or tuple(perm.shape) != (size,)
    ):
        return _about(perm)
    low, high = int(perm.min()), int(perm.max())
    if low < 0 or high >= size:
        return f"index {low if low < 0 else high}"
    if not torch.equal(perm.cpu().sort().values, torch.arange(size)):
        return "an index twice"
    return None


def _about(value: Any) -> str:
    """A checkpoint value in a few words, for a message."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} {text[:30]}..."
