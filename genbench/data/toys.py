"""2D mixtures of Gaussians used to study mode collapse.

As in PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al. 2017):
ring8 is 8 Gaussians evenly spaced on the unit circle with sigma 0.01;
grid25 has its means at {-4,-2,0,2,4}^2 with sigma 0.05.
Points are drawn fresh for every batch, labelled by the mode they came from.
"""

from __future__ import annotations

import math
from typing import Any

from genbench.api import DataSpec
from genbench.dataset import Dataset


class GaussianMixture2D(Dataset):
    size = None

    def __init__(self, name: str, title: str, means: list[tuple[float, float]], std: float):
        self.name, self.title, self.means, self.std = name, title, means, std
        self.spec = DataSpec(kind="points", shape=(2,), num_classes=len(means))

    def sampler(self, batch_size, device, seed):
        return MixtureSampler(self, batch_size, device, seed)


class MixtureSampler:
    def __init__(self, mixture: GaussianMixture2D, batch_size: int, device, seed: int):
        import torch

        self.batch_size = batch_size
        self.std = mixture.std
        self.means = torch.tensor(mixture.means, dtype=torch.float32, device=device)
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def next(self):
        return self._draw((self.batch_size,))

    def next_batches(self, k: int):
        """k batches as one (k, B, 2) draw (labels (k, B))."""
        return self._draw((k, self.batch_size))

    def _draw(self, shape: tuple[int, ...]):
        import torch

        y = torch.randint(
            0, len(self.means), shape, generator=self.generator, device=self.means.device
        )
        noise = torch.randn(*shape, 2, generator=self.generator, device=self.means.device)
        return self.means[y] + self.std * noise, y

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def ring8() -> GaussianMixture2D:
    means = [(math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)) for i in range(8)]
    return GaussianMixture2D("ring8", "8 Gaussians on a ring", means, std=0.01)


def grid25() -> GaussianMixture2D:
    means = [(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)]
    return GaussianMixture2D("grid25", "25 Gaussians on a grid", means, std=0.05)
