"""The in-process loop behind the exploration tables of "ring8 defaults (precision)" in
docs/experiments.md: ``gan``'s networks and losses on ring8 with the knobs
that table tries, measured with genbench's own mode coverage.

    python benchmarks/ring8_explore.py [--lr 5e-4] [--lr-end 0] [--pack 2] [--ema 0.999]
                                       [--topk 0.5] [--r1 1]
                                       [--batch 64] [--steps 8000]
                                       [--seeds 0,1,2,3,4] [--every 2000]

The networks are gan's defaults (3 hidden layers of 256 LeakyReLU(0.2) units, a 64-d z,
Adam with beta1 0.5) written out here, so the knobs need no change to the plugin:

- ``--lr-end``: the learning rate falls linearly from ``--lr`` to this over the run;
- ``--half-life h``: the learning rate halves every h steps instead (no run length needed);
- ``--pack m``: PacGAN (Lin et al. 2018): D judges m samples concatenated;
- ``--ema b``: samples from an exponential moving average of G's weights (decay b);
- ``--loss ls``: lsgan's least-squares losses (0-1 codes) instead of gan's;
- ``--r1 gamma``: R1 (Mescheder et al. 2018), gamma/2 E||grad_x D(x)||^2 on real points;
- ``--topk f``: G's loss on the fraction f of its batch that D scores highest (Sinha
  et al. 2020), ``--topk-end`` anneals it linearly.

Prints, per seed, at every ``--every`` steps: (step, modes covered, % high quality
(within 3 sigma), % within 6 sigma, % within 15 sigma) on 2,500 samples, and the means
of the last measurement. One torch thread.
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genbench.metrics.coverage import mode_coverage


def mlp(n_in: int, hidden: int, layers: int, n_out: int) -> nn.Sequential:
    blocks: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    return nn.Sequential(*blocks, nn.Linear(width, n_out))


def run(a: argparse.Namespace, seed: int, means: np.ndarray) -> list[tuple[int, ...]]:
    torch.manual_seed(seed)
    mu = torch.tensor(means, dtype=torch.float32)
    G, D = mlp(a.latent, a.hidden, 3, 2), mlp(2 * a.pack, a.hidden, 3, 1)
    G_ema = copy.deepcopy(G).requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=a.lr, betas=(a.beta1, a.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=a.lr, betas=(a.beta1, a.beta2))
    data = torch.Generator().manual_seed(1000 + seed)

    def critic(x: torch.Tensor) -> torch.Tensor:  # packs of m samples, one score each
        return D(x.reshape(-1, 2 * a.pack)).squeeze(1)

    trace = []
    for step in range(1, a.steps + 1):
        t = (step - 1) / a.steps
        if a.lr_end is not None or a.half_life:
            lr = (
                a.lr * 0.5 ** ((step - 1) / a.half_life)
                if a.half_life
                else a.lr + (a.lr_end - a.lr) * t
            )
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = lr
        y = torch.randint(0, 8, (a.batch,), generator=data)
        x = mu[y] + 0.01 * torch.randn(a.batch, 2, generator=data)
        fake = G(torch.randn(a.batch, a.latent)).detach()
        if a.r1:
            x.requires_grad_(True)
        real_scores = critic(x)
        if a.loss == "ls":  # LSGAN with 0-1 codes (lsgan's defaults on points)
            d_loss = 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (critic(fake) ** 2).mean()
        else:
            d_loss = F.softplus(-real_scores).mean() + F.softplus(critic(fake)).mean()
        if a.r1:  # Mescheder et al. 2018: gamma/2 E ||grad_x D(x)||^2 on real data
            (grad,) = torch.autograd.grad(real_scores.sum(), x, create_graph=True)
            d_loss = d_loss + a.r1 / 2 * grad.pow(2).sum(1).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        scores = critic(G(torch.randn(a.batch, a.latent)))
        keep = a.topk if a.topk_end is None else a.topk + (a.topk_end - a.topk) * t
        if keep < 1:
            scores = scores.topk(max(1, int(keep * len(scores)))).values
        g_loss = 0.5 * ((scores - 1) ** 2).mean() if a.loss == "ls" else F.softplus(-scores).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if a.ema:
            with torch.no_grad():
                for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
                    p_ema.lerp_(p, 1 - a.ema)
        if step % a.every == 0:
            z = torch.randn(2500, a.latent, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                s = (G_ema if a.ema else G)(z).numpy()
            cov = mode_coverage(s, means, 0.01)
            d = np.linalg.norm(s[:, None] - means[None], axis=2).min(1)
            trace.append(
                (
                    step,
                    cov.covered,
                    round(100 * cov.high_quality),
                    round(100 * float((d < 0.06).mean())),
                    round(100 * float((d < 0.15).mean())),
                )
            )
    return trace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--lr-end", type=float, default=None)
    ap.add_argument("--beta1", type=float, default=0.5)
    ap.add_argument("--loss", choices=("ns", "ls"), default="ns")
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--pack", type=int, default=1)
    ap.add_argument("--ema", type=float, default=0.0)
    ap.add_argument("--topk", type=float, default=1.0)
    ap.add_argument("--topk-end", type=float, default=None)
    ap.add_argument("--half-life", type=float, default=0.0)
    ap.add_argument("--r1", type=float, default=0.0)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--every", type=int, default=2000)
    a = ap.parse_args()
    torch.set_num_threads(1)
    means = np.array(
        [(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)) for k in range(8)]
    )
    started, last = time.time(), []
    for seed in (int(s) for s in a.seeds.split(",")):
        trace = run(a, seed, means)
        last.append(trace[-1])
        print(seed, trace, f"{time.time() - started:.0f}s", flush=True)
    print(
        f"modes {np.mean([t[1] for t in last]):.1f} (per seed {[t[1] for t in last]}), "
        f"high quality {np.mean([t[2] for t in last]):.1f}% (per seed "
        f"{[t[2] for t in last]})"
    )


if __name__ == "__main__":
    main()
