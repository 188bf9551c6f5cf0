"""#15's end-to-end promise: one plugin distribution, installed through its entry point
(not monkeypatched), ships a points dataset with modes and an image dataset with a
reference split. Both appear in `genbench datasets` and in the workbench's new-run
form, train, are evaluated by `genbench eval` (the image one once `genbench
train-classifier` made its classifier), and a collapsed model trained on either
raises the trainer's collapse alarm."""

from __future__ import annotations

import json

from genbench.cli import main
from genbench.tui.app import GenbenchApp
from tests.metrics.test_train_classifier import BARS_PLUGIN
from tests.plugins.test_plugin_datasets_tui import form_datasets
from tests.plugins.test_plugin_mistakes import RING5_PLUGIN

# Both datasets from one distribution: the two modules' hooks, joined.
DATA_PLUGIN = (
    # (the helpers lose @hookimpl: a marked _ring5 would be named as no genbench hook)
    RING5_PLUGIN.replace("@hookimpl\ndef genbench_datasets():", "def _ring5():")
    + BARS_PLUGIN.replace("@hookimpl\ndef genbench_datasets():", "def _bars():").replace(
        "from genbench import DataSpec, Dataset, hookimpl", ""
    )
    + """

@hookimpl
def genbench_datasets():
    return [*_ring5(), *_bars()[:1]]
"""
)

# A generator that has collapsed: every sample is the same point or image, whatever
# the noise. It trains (its one parameter moves) so the trainer runs it as any model.
COLLAPSED = """
import torch
from dataclasses import dataclass
from genbench import GenerativeModel, hookimpl, param


@dataclass
class Config:
    lr: float = param(0.01, "learning rate", min=0.0)


class Stuck(GenerativeModel):
    name = "stuck"
    Config = Config

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        self.point = torch.nn.Parameter(torch.zeros(spec.dim, device=device))
        self.opt = torch.optim.SGD([self.point], lr=config.lr)

    def train_step(self, x, y=None):
        loss = ((self.point - x.flatten(1)[0]) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"mse": loss.detach()}

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None):
        one = torch.tanh(self.point) if self.spec.kind == "image" else self.point
        return one.expand(n, -1).reshape(n, *self.spec.shape).clone()


@hookimpl
def genbench_models():
    return [Stuck]
"""


def run(runs_dir, model, dataset, name, *extra) -> int:
    return main(
        [
            "run",
            "--headless",
            "--model",
            model,
            "--dataset",
            dataset,
            "--steps",
            "20",
            "--eval-every",
            "10",
            "--threads",
            "1",
            "--runs-dir",
            str(runs_dir),
            "--name",
            name,
            *extra,
        ]
    )


async def test_a_plugins_points_and_image_datasets_get_the_whole_workbench(
    plugin_site, runs_dir, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    plugin_site.add("gb-data", DATA_PLUGIN, version="1.2")
    plugin_site.add("gb-stuck", COLLAPSED)

    # Listed, with who provides them.
    assert main(["datasets", "--json"]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)["datasets"]}
    for name, kind in (("ring5", "points"), ("bars4", "image")):
        assert listed[name]["kind"] == kind and listed[name]["provider"] == "gb-data 1.2"

    # Offered by the workbench's new-run form.
    app = GenbenchApp(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert "ring5" in await form_datasets(app, pilot, "gan")
        app.pop_screen()
        await pilot.pause()
        assert "bars4" in await form_datasets(app, pilot, "gan")

    # Points: trained and evaluated against the plugin's own modes.
    assert run(runs_dir, "gan", "ring5", "r5", "--set", "hidden=16", "--quiet") == 0
    capsys.readouterr()
    assert main(["eval", str(runs_dir / "r5"), "--json"]) == 0
    (covered,) = [
        m for m in json.loads(capsys.readouterr().out)["metrics"] if m["metric"] == "modes_covered"
    ]
    assert covered["of"] == 5

    # Images: the classifier is trained by the user, then eval measures FD and classes.
    assert main(["train-classifier", "bars4", "--epochs", "1", "--threads", "1"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert run(runs_dir, "gan", "bars4", "b4", "--set", "hidden=16", "--quiet") == 0
    capsys.readouterr()
    assert main(["eval", str(runs_dir / "b4"), "-n", "200", "--json"]) == 0
    metrics = {m["metric"]: m for m in json.loads(capsys.readouterr().out)["metrics"]}
    assert metrics["fd"]["value"] >= 0 and metrics["classes_covered"]["of"] == 4

    # A collapsed generator on either dataset raises the alarm, once, in the trainer.
    for dataset in ("ring5", "bars4"):
        assert run(runs_dir, "stuck", dataset, f"stuck-{dataset}", "--json") == 0
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        warnings = [e for e in events if e["event"] == "warning"]
        assert [w["kind"] for w in warnings] == ["mode_collapse"], dataset
        assert any(e["event"] == "eval" and e["collapse"] for e in events)
