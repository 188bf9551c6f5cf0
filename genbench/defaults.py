"""The defaults of a new run, in one place.

``genbench run``'s help, the workbench's new-run form and the trainer's launcher
(genbench.training.launch) all read them from here, so what the help promises is
what a run gets. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunDefaults:
    steps: int = 2000  # --steps: train up to this step
    batch_size: int = 64  # --batch-size: examples per step
    seed: int = 0  # --seed
    log_every: int = 50  # --log-every: steps per metrics line
    sample_every: int = 500  # --sample-every: steps per sample grid
    checkpoint_every: int = 1000  # --checkpoint-every: steps per checkpoint
    # --eval-every: steps between live sample-quality checks (a few hundred samples
    # each; see genbench.metrics.evaluate.LiveEvaluator). The last step is always checked.
    eval_every: int = 500
    precision: str = "fp32"  # --precision


DEFAULTS = RunDefaults()
