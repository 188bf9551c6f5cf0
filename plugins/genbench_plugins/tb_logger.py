"""The ``tensorboard`` logger: a run's metrics as TensorBoard event files.

``genbench run --log tensorboard`` writes ``RUN/tensorboard/``, so
``tensorboard --logdir runs/`` shows every run, one per run folder: scalars for
every loss (``loss/NAME``), images/s (``speed/img_per_s``) and live quality
(``quality/NAME``), the sample grids as images (``samples``), evaluation results
(``eval/NAME``), and the model's config and the run options as hparams and text.
A resumed run appends to the same folder: events after the checkpoint it resumes
from are purged (``purge_step``), so steps trained again appear once. ``genbench
eval RUN`` appends its results (``eval/NAME`` at the checkpoint's step) and purges
nothing: no step is trained again.

torch's SummaryWriter writes the files (it needs the ``tensorboard`` package:
``pip install 'genbench[tensorboard]'``). Uses only genbench's public API, as a
third party's logger would; ``genbench export RUN --tensorboard`` replays an
earlier run through it with another ``log_dir``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genbench import LoggedRun, Logger, hookimpl
from genbench.logger import EVAL

FOLDER = "tensorboard"  # in the run folder
# How often the writer flushes on its own (its default is 2 minutes): a run being
# watched shows within seconds.
FLUSH_SECS = 10


class TensorBoardLogger(Logger):
    name = "tensorboard"
    title = "TensorBoard"
    summary = "event files in RUN/tensorboard/: tensorboard --logdir runs/"
    requires = "pip install 'genbench[tensorboard]'"
    packages = ("tensorboard",)

    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir  # None: the run folder's tensorboard/
        self.writer: Any = None
        self.step = 0  # the last step logged: where the end's status goes
        self.evaluating = False  # started by genbench eval: the run's status is written

    def start(self, run: LoggedRun) -> None:
        from torch.utils.tensorboard import SummaryWriter

        log_dir = self.log_dir or Path(run.dir) / FOLDER
        if log_dir.is_symlink():  # a received run folder's link must not be written through
            raise RuntimeError(f"{log_dir} is a link; TensorBoard writes only a folder of its own")
        # Resumed at step T: what an earlier attempt logged after T is trained again
        # (an evaluation trains nothing: it only appends).
        self.evaluating = run.purpose == EVAL
        purge = run.start_step + 1 if run.resumed and not self.evaluating else None
        self.writer = SummaryWriter(str(log_dir), purge_step=purge, flush_secs=FLUSH_SECS)
        self.step = run.start_step
        if not run.resumed:
            self._describe(run)

    def _describe(self, run: LoggedRun) -> None:
        from torch.utils.tensorboard.summary import hparams

        params = {
            "model": run.model,
            "dataset": run.dataset,
            **{f"config/{k}": _hparam(v) for k, v in run.config.items()},
            **{f"options/{k}": _hparam(v) for k, v in run.options.items()},
        }
        for summary in hparams(params, {}):
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", _table(run.config), run.start_step)
        self.writer.add_text("options", _table(run.options), run.start_step)

    def metrics(self, step: int, values: Mapping[str, float]) -> None:
        self.step = max(self.step, step)
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def samples(self, step: int, png: Path) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(png) as image:
            pixels = np.asarray(image.convert("RGB"))
        self.writer.add_image("samples", pixels, step, dataformats="HWC")

    def evaluation(self, step: int, results: Mapping[str, float]) -> None:
        for name, value in results.items():
            self.writer.add_scalar(f"eval/{name}", value, step)

    def end(self, status: str) -> None:
        if not self.evaluating:  # an evaluation's is the one the run ended with
            self.writer.add_text("status", status, self.step)
        self.writer.close()


def _hparam(value: Any) -> bool | int | float | str:
    """What the hparams plugin takes: a number, a bool or text (lists and None as JSON)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, default=str)


def _table(values: Mapping[str, Any]) -> str:
    """A markdown table (TensorBoard's text panel renders it)."""
    rows = "\n".join(f"| {k} | {json.dumps(v, default=str)} |" for k, v in values.items())
    return "| name | value |\n| --- | --- |\n" + rows


@hookimpl
def genbench_loggers() -> list[type[Logger]]:
    return [TensorBoardLogger]
