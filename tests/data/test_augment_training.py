"""--augment and --subset in training: every real batch the trainer hands a model is
warped (shapes and range kept, the same warps for the same seed, the data order
untouched), resume stays bit-exact with augmentation on, points are refused, the
subset is the first N examples whatever the seed, and run.json records both."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch

from genbench import augment as augment_module
from genbench.cli import main
from genbench.data.idx import write_idx
from genbench.registry import load_registry
from genbench.runfolder import record
from genbench.runfolder.record import RunRecord
from genbench.runfolder.runs import read_metrics
from genbench.training.launch import ResumeRequest, RunRequest, new_run, resume_run

N_IMAGES = 200

# Records every batch it is handed; k real batches a step (config k) like a WGAN critic.
IMG_TOY = """
from dataclasses import dataclass
import torch
from genbench import GenerativeModel, hookimpl, param

@dataclass
class Config:
    k: int = param(1, "real batches per step", min=1)

class ImgToy(GenerativeModel):
    name = "imgtoy"
    title = "image toy"
    kinds = frozenset({"image"})
    Config = Config

    @classmethod
    def batches_per_step(cls, config):
        return config.k

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        self.net = torch.nn.Linear(8, spec.dim).to(device)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01)
        self.seen = []

    def train_step(self, x, y=None):
        self.seen.append(x.clone())
        flat = x.reshape(-1, self.spec.dim)
        loss = (self.net(torch.randn(len(flat), 8, device=self.device)) - flat).pow(2).mean()
        self.opt.zero_grad(); loss.backward(); self.opt.step()
        return {"mse": loss.detach()}

    def sample(self, n, labels=None, generator=None):
        with torch.no_grad():
            z = torch.randn(n, 8, generator=generator, device=self.device)
            return self.net(z).tanh().view(n, *self.spec.shape)

@hookimpl
def genbench_models():
    return [ImgToy]
"""


@pytest.fixture
def data_dir(tmp_path):
    """An MNIST-shaped training set of N_IMAGES images, each with an asymmetric shape
    (so a mirror image differs from the original) and the extremes 0 and 255."""
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 120, (N_IMAGES, 28, 28), dtype=np.uint8)
    images[:, 4:20, 3:9] = 255  # a bar on the left
    images[:, 0, 0] = 0
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", (np.arange(N_IMAGES) % 10).astype(np.uint8))
    return folder


@pytest.fixture
def registry(plugin_site):
    plugin_site.add("gb-imgtoy", IMG_TOY)
    reg = load_registry()
    assert "imgtoy" in reg.models, reg.broken
    return reg


def req(
    runs_dir,
    data_dir,
    name,
    steps,
    *,
    model="imgtoy",
    sets=(),
    augment=None,
    subset=None,
    seed=5,
    batch=16,
):
    return RunRequest(
        model=model,
        dataset="mnist",
        data_dir=data_dir,
        steps=steps,
        runs_dir=runs_dir,
        name=name,
        sets=list(sets),
        seed=seed,
        batch_size=batch,
        log_every=10,
        sample_every=1000,
        checkpoint_every=1000,
        device="cpu",
        augment=augment,
        subset=subset,
    )


def trained(registry, request) -> Any:
    trainer = new_run(request, registry, lambda e: None)
    assert trainer.run().status == "completed"
    return trainer


def test_augment_warps_every_real_batch_keeping_shape_range_and_data_order(
    registry, runs_dir, data_dir
):
    plain = trained(registry, req(runs_dir, data_dir, "plain", 4)).model.seen
    flipped = trained(registry, req(runs_dir, data_dir, "flip", 4, augment="flip")).model.seen
    for x, f in zip(plain, flipped, strict=True):
        assert f.shape == x.shape == (16, 1, 28, 28)
        # the same images in the same order, each mirrored or left as it was
        mirrored = [torch.allclose(f[i], x[i].flip(-1), atol=1e-5) for i in range(16)]
        kept = [torch.allclose(f[i], x[i], atol=1e-5) for i in range(16)]
        assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert (
        0
        < sum(
            torch.allclose(f[i], x[i].flip(-1), atol=1e-5)
            for x, f in zip(plain, flipped, strict=True)
            for i in range(16)
        )
        < 64
    )

    # `default` is the flip alone (docs/experiments.md: shifts made FD worse)
    default = trained(registry, req(runs_dir, data_dir, "d", 4, augment="default")).model.seen
    assert all(torch.equal(d, f) for d, f in zip(default, flipped, strict=True))

    # every op at once: the range kept, and the same warps again under the same seed
    ops = "flip,translate,scale,rotate"
    a = trained(registry, req(runs_dir, data_dir, "a", 4, augment=ops)).model.seen
    b = trained(registry, req(runs_dir, data_dir, "b", 4, augment=ops)).model.seen
    c = trained(registry, req(runs_dir, data_dir, "c", 4, augment=ops, seed=6)).model.seen
    # the same ops in another order, one repeated: the same warps (run.json's order)
    allops = trained(
        registry, req(runs_dir, data_dir, "all", 4, augment="rotate,scale,translate,flip,flip")
    ).model.seen
    for xa, xb, xp, xall in zip(a, b, plain, allops, strict=True):
        assert torch.equal(xa, xb)
        assert not torch.equal(xa, xp) and torch.equal(xall, xa)
        for x in (xa, xall):
            assert x.shape == xp.shape and x.dtype == torch.float32
            assert x.min() >= -1 - 1e-5 and x.max() <= 1 + 1e-5
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))  # another seed

    # a k-batch model: k batches a step, (k, B, ...), each image warped on its own
    k_plain = trained(registry, req(runs_dir, data_dir, "k", 2, sets=["k=3"])).model.seen
    k_flip = trained(
        registry, req(runs_dir, data_dir, "kf", 2, sets=["k=3"], augment="flip")
    ).model.seen
    for x, f in zip(k_plain, k_flip, strict=True):
        assert f.shape == x.shape == (3, 16, 1, 28, 28)
        for i in range(3):
            for j in range(16):
                assert torch.allclose(f[i, j], x[i, j], atol=1e-5) or torch.allclose(
                    f[i, j], x[i, j].flip(-1), atol=1e-5
                )
        assert not torch.equal(f, x)


def test_resume_with_augment_and_subset_logs_exactly_what_an_uninterrupted_run_logs(
    runs_dir, data_dir
):
    registry = load_registry()
    small = ["latent_dim=8", "ngf=8", "ndf=8"]

    def request(name, steps):
        return req(
            runs_dir,
            data_dir,
            name,
            steps,
            model="dcgan",
            sets=small,
            augment="flip,translate",
            subset=48,
        )

    trained(registry, request("whole", 40))
    trained(registry, request("split", 20))
    second = resume_run(runs_dir / "split", registry, lambda e: None, ResumeRequest(steps=40))
    assert second.plan.augment == ("flip", "translate")  # from run.json
    assert second.run().status == "completed"

    def losses(name):
        return [(r["step"], r["losses"]) for r in read_metrics(runs_dir / name / "metrics.jsonl")]

    assert [s for s, _ in losses("whole")] == [10, 20, 30, 40]
    assert losses("split") == losses("whole")  # bit-exact floats, every interval
    a = torch.load(runs_dir / "whole/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(runs_dir / "split/checkpoints/last.pt", weights_only=True)["model"]
    for key in a["G"]:
        assert torch.equal(a["G"][key], b["G"][key]), key
    meta = json.loads((runs_dir / "split" / "run.json").read_text())
    assert meta["augment"] == ["flip", "translate"] and meta["data"]["subset"] == 48
    assert meta["changes"] == []


def test_resume_with_another_augment_is_recorded_as_a_change(registry, runs_dir, data_dir):
    trained(registry, req(runs_dir, data_dir, "r", 10, augment="flip"))
    trainer: Any = resume_run(
        runs_dir / "r", registry, lambda e: None, ResumeRequest(steps=20, augment="off")
    )
    assert trainer.run().status == "completed"
    assert trainer.model.seen and trainer.plan.augment == ()
    meta = json.loads((runs_dir / "r" / "run.json").read_text())
    assert meta["augment"] == []
    assert meta["changes"] == [{"step": 10, "key": "augment", "old": "flip", "new": "off"}]


def run_cli(args, runs_dir, capsys):
    code = main(["run", "--headless", "--runs-dir", str(runs_dir), "--quiet", *args])
    return code, capsys.readouterr().err.strip()


def test_augment_on_points_and_unknown_ops_are_refused_with_one_line(runs_dir, capsys):
    code, err = run_cli(
        ["--model", "gan", "--dataset", "ring8", "--steps", "2", "--augment", "flip"],
        runs_dir,
        capsys,
    )
    assert code == 2 and len(err.splitlines()) == 1
    assert "--augment applies to images" in err and "ring8" in err
    code, err = run_cli(
        ["--model", "gan", "--dataset", "ring8", "--steps", "2", "--augment", "flip,mirror"],
        runs_dir,
        capsys,
    )
    assert code == 2 and len(err.splitlines()) == 1 and "'flip,mirror'" in err
    assert "flip, translate, scale, rotate" in err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())

    # a run.json edited to augment points: resuming it says which file is wrong
    code, _ = run_cli(
        ["--model", "gan", "--dataset", "ring8", "--steps", "2", "--name", "p"], runs_dir, capsys
    )
    assert code == 0
    meta = json.loads((runs_dir / "p" / "run.json").read_text())
    (runs_dir / "p" / "run.json").write_text(json.dumps({**meta, "augment": ["flip"]}))
    code = main(["run", "--headless", "--resume", str(runs_dir / "p"), "--steps", "4"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "run.json: augment applies to images" in err


@pytest.mark.parametrize(
    "args, says",
    [
        (["--subset", "10"], "smaller than --batch-size 16"),
        (["--subset", str(N_IMAGES + 1)], f"more than the {N_IMAGES} training examples"),
        (["--subset", "0"], "positive integer"),
        (["--dataset", "ring8", "--model", "gan", "--subset", "100"], "generated on the fly"),
    ],
)
def test_subset_out_of_bounds_is_refused_with_one_line(runs_dir, data_dir, capsys, args, says):
    base = [
        "--model",
        "dcgan",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data_dir),
        "--batch-size",
        "16",
        "--steps",
        "2",
    ]
    # later flags win: a point dataset's own --model/--dataset replace the image ones
    code, err = run_cli(base + args, runs_dir, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and says in err, err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_subset_trains_on_the_first_n_images_whatever_the_seed(registry, runs_dir, data_dir):
    from genbench.data import get_dataset

    dataset: Any = get_dataset("mnist", data_dir=data_dir)
    images, _ = dataset.load()
    first = torch.as_tensor(images[:32]).float().div(127.5).sub(1)
    for seed in (1, 2):
        seen = torch.cat(
            trained(
                registry, req(runs_dir, data_dir, f"s{seed}", 4, subset=32, seed=seed)
            ).model.seen
        )
        # 4 steps of 16 = two passes over the 32: each of them twice, nothing else
        matches = (seen[:, None] == first[None]).flatten(2).all(-1)
        assert matches.sum(0).tolist() == [2] * 32 and matches.sum(1).tolist() == [1] * 64
    meta = json.loads((runs_dir / "s1" / "run.json").read_text())
    assert meta["data"]["subset"] == 32 and meta["augment"] == []
    code = main(["run", "--headless", "--resume", str(runs_dir / "s1"), "--subset", "64"])
    assert code == 2


def test_run_json_without_the_new_fields_still_reads_and_the_op_names_agree():
    old = RunRecord.from_dict(
        {
            "model": "dcgan",
            "dataset": "fashion-mnist",
            "data": {"kind": "image", "shape": [1, 28, 28]},
        }
    )
    assert old.augment == [] and old.data.subset is None
    assert record.AUGMENTS == augment_module.AUGMENTS
    with pytest.raises(record.InvalidRecord, match="augment"):
        RunRecord.from_dict({"model": "m", "dataset": "d", "augment": ["warp"]})
    with pytest.raises(record.InvalidRecord, match="data.subset"):
        RunRecord.from_dict({"model": "m", "dataset": "d", "data": {"subset": 0}})
