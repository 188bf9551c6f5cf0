"""The ``wandb`` logger: a run's metrics, sample grids and evaluations as a Weights &
Biases run (``genbench run --log wandb``).

Offline by default: W&B writes the run into ``RUN/wandb/`` and nothing leaves the
machine until ``wandb sync RUN/wandb/offline-run-*`` uploads it. ``WANDB_MODE=online``
(after ``wandb login``) streams it instead; ``WANDB_PROJECT`` (default ``genbench``)
and ``WANDB_ENTITY`` say where it goes.

The W&B run is named after the genbench run; its id is that name (any character W&B
refuses replaced) with a random suffix, kept in ``RUN/wandb/genbench.json`` so a
resume, even of a renamed run folder, continues the same W&B run
(``resume="allow"``). W&B's history only moves
forward, so a resumed run sends only the steps after the last one this logger sent:
the steps between the checkpoint and that one, trained again, keep the values logged
the first time. For the same reason ``genbench eval RUN``'s results (at the checkpoint's
step, which the run has logged) go into the same W&B run's summary as ``eval/NAME``.

Imports wandb only when a run starts (``genbench --help`` and the workbench never pay
for it). Uses only genbench's public API, as a third party's logger would.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genbench import LoggedRun, Logger, hookimpl
from genbench.logger import EVAL_PREFIX, number_values
from genbench_plugins.logger_files import own_folder, read_state, write_state

# W&B run ids: letters, digits, - and _ (the server refuses some other characters,
# the SDK ": ; , # ? / '"), at most this long.
_ID_LENGTH = 64
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# genbench's exit codes (docs/training.md): what W&B shows as the run's end.
_EXIT_CODES = {"completed": 0, "stopped": 130}


def wandb_run_id(name: str) -> str:
    """A new W&B run id for the run called ``name``: the name with the characters W&B
    refuses replaced, and a random suffix, since W&B would resume (and merge into)
    an earlier run of the same id in the project, as another folder's run of that
    name or a deleted run's whose name was used again."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", name)[: _ID_LENGTH - 9]
    return f"{safe}-{secrets.token_hex(4)}"


class WandbLogger(Logger):
    name = "wandb"
    title = "Weights & Biases"
    summary = "a W&B run, offline in RUN/wandb/ (wandb sync uploads it) unless WANDB_MODE says"
    requires = "pip install 'genbench[wandb]'"
    packages = ("wandb",)

    def start(self, run: LoggedRun) -> None:
        import wandb

        # W&B writes into RUN/.wandb instead of RUN/wandb where that exists: a received
        # run folder's .wandb (a link to anywhere) must not take the run elsewhere.
        if os.path.lexists(run.dir / ".wandb"):
            raise RuntimeError(
                f"{run.dir / '.wandb'} exists; W&B would write there instead of "
                f"{run.dir / 'wandb'}: remove it"
            )
        self._folder = own_folder(run.dir / "wandb")
        state = read_state(self._folder)
        run_id, sent = state.get("id"), state.get("last_step")
        if not (run.resumed and isinstance(run_id, str) and _ID.fullmatch(run_id)):
            run_id, sent = wandb_run_id(run.id), None  # a new W&B run
        # Steps up to here were sent by an earlier start: W&B would drop them anyway.
        self._sent_before = sent if isinstance(sent, int) else -1
        self._last_step = self._sent_before
        self._id = run_id
        self._run = wandb.init(
            id=run_id,
            resume="allow",
            name=run.id,
            project=os.environ.get("WANDB_PROJECT") or "genbench",
            dir=str(run.dir),
            # The user's WANDB_MODE decides; without one, nothing goes online.
            mode=None if os.environ.get("WANDB_MODE") else "offline",
            settings=wandb.Settings(console="off", silent=True),
        )
        # Hyperparameters a resume changed (--set) replace the earlier ones.
        self._run.config.update(
            {
                "model": run.model,
                "dataset": run.dataset,
                "config": dict(run.config),
                "options": dict(run.options),
            },
            allow_val_change=True,
        )
        self._keep()

    def metrics(self, step: int, values: Mapping[str, float]) -> None:
        self._log(step, number_values(values))

    def samples(self, step: int, png: Path) -> None:
        import wandb

        self._log(step, {"samples": wandb.Image(str(png), caption=f"step {step}")})

    def evaluation(self, step: int, results: Mapping[str, float]) -> None:
        values = {f"{EVAL_PREFIX}{k}": v for k, v in number_values(results).items()}
        self._run.summary.update(values)  # the latest evaluation, whatever its step
        if step >= self._last_step:  # an earlier step's: W&B's history cannot go back
            self._log(step, values)

    def end(self, status: str) -> None:
        self._run.summary["genbench_status"] = status
        self._run.finish(exit_code=_EXIT_CODES.get(status, 1))

    def _log(self, step: int, values: Mapping[str, Any]) -> None:
        if not values or step <= self._sent_before:
            return
        self._run.log(dict(values), step=step)
        if step > self._last_step:
            self._last_step = step
            self._keep()

    def _keep(self) -> None:
        """Write the id and the last step sent, for a resume (atomically)."""
        write_state(self._folder, {"id": self._id, "last_step": self._last_step})


@hookimpl
def genbench_loggers() -> list[type[Logger]]:
    return [WandbLogger]
