"""Optional Inception FID, for comparison with published numbers.

Only when pytorch-fid or torch-fidelity is installed *and* its Inception weights
(the 2015-12-05 TensorFlow graph ported to PyTorch, the network every published
FID uses) are already in torch's hub cache. genbench never downloads them: a
missing piece is a one-line UsageError saying what to install or fetch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genbench.errors import UsageError
from genbench.metrics.distances import Gaussian, frechet_distance

PYTORCH_FID_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
FIDELITY_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


def _cached(name: str) -> Path | None:
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    return path if path.is_file() else None


def load_backend():
    """(name, feature function taking float images in [0, 1] (N, 3, H, W))."""
    if importlib.util.find_spec("pytorch_fid") and _cached(PYTORCH_FID_WEIGHTS):
        from pytorch_fid.inception import InceptionV3

        # With the weights cached, load_state_dict_from_url reads the file
        # instead of fetching it.
        net = InceptionV3(
            [InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True
        ).eval()
        return "inception-v3 (pytorch-fid)", net, lambda x: net(x)[0].flatten(1)
    if importlib.util.find_spec("torch_fidelity") and _cached(FIDELITY_WEIGHTS):
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        net = FeatureExtractorInceptionV3(
            "inception-v3-compat",
            ["2048"],
            feature_extractor_weights_path=str(_cached(FIDELITY_WEIGHTS)),
        ).eval()
        # torch-fidelity takes uint8 images, as its reference TF code did
        return (
            "inception-v3 (torch-fidelity)",
            net,
            lambda x: net((x * 255).round().to(torch.uint8))[0].flatten(1),
        )
    have = [m for m in ("pytorch_fid", "torch_fidelity") if importlib.util.find_spec(m)]
    if not have:
        raise UsageError(
            "--inception needs pytorch-fid or torch-fidelity "
            "(pip install pytorch-fid) and its Inception weights"
        )
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    raise UsageError(
        f"--inception: {', '.join(have)} is installed but its Inception weights "
        f"are not in {hub} ({PYTORCH_FID_WEIGHTS} or {FIDELITY_WEIGHTS}); "
        "genbench does not download them"
    )


@torch.no_grad()
def inception_features(images: torch.Tensor, net, fn, device, batch: int = 200) -> np.ndarray:
    net.to(device)
    out = []
    for i in range(0, len(images), batch):
        x = (images[i : i + batch].to(device).float().clamp(-1, 1) + 1) / 2
        if x.shape[1] == 1:  # grayscale datasets: the same plane thrice
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] < 75:  # below Inception's smallest valid input
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        out.append(fn(x).double().cpu())
    return torch.cat(out).numpy()


def inception_fid(
    real: torch.Tensor, fake: torch.Tensor, device, backend=None
) -> tuple[float, str]:
    """FID between image sets in [-1, 1]; returns (value, which network)."""
    name, net, fn = backend or load_backend()
    a = Gaussian.fit(inception_features(real, net, fn, device))
    b = Gaussian.fit(inception_features(fake, net, fn, device))
    return frechet_distance(a, b), name
