"""genbench.trained: a run folder opened as a library object, as a user's own code
uses it (the record, the metrics, the generator on a device)."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from genbench.errors import UsageError
from genbench.trained import load


def _train(root, model: str, name: str, steps: int = 30) -> str:
    from genbench.cli import main

    args = ["run", "--headless", "--model", model, "--dataset", "fashion-mnist"]
    args += ["--steps", str(steps), "--threads", "1", "--eval-every", str(steps)]
    args += ["--runs-dir", str(root), "--name", name]
    assert main(args) == 0
    return str(root / name)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from genbench.data import get_dataset

    if not get_dataset("fashion-mnist").availability().ok:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    root = tmp_path_factory.mktemp("trained") / "runs"
    return {m: _train(root, m, m) for m in ("dcgan", "cgan")}


def test_a_run_opens_with_its_record_metrics_and_generator(runs):
    run = load(runs["dcgan"], device="cpu")
    assert run.record.model == "dcgan" and run.step == 30
    assert run.shape == (1, 28, 28) and not run.conditional and run.has_latent
    lines = run.metrics()
    assert lines[-1]["step"] == 30 and set(lines[-1]["losses"]) == {"d", "g"}
    assert [r["step"] for r in run.metrics(kind="eval")] == [30]
    assert run.evaluation() is None  # no `genbench eval` yet

    z = run.latent(8, seed=3)
    images = run.generator(z)
    assert images.shape == (8, 1, 28, 28) and not images.requires_grad
    assert images.min() >= -1 and images.max() <= 1
    # The generator of the seed's noise is what sample() draws for that seed, and
    # the same seed gives the same images.
    assert torch.equal(images, run.sample(8, seed=3))
    assert torch.equal(run.sample(8, seed=3), load(runs["dcgan"], device="cpu").sample(8, seed=3))
    assert not torch.equal(images, run.sample(8, seed=4))


def test_truncation_keeps_the_noise_inside_the_bound_and_is_reproducible(runs):
    run = load(runs["dcgan"], device="cpu")
    z = run.latent(2000, seed=1, truncation=0.5)
    assert z.abs().max() <= 0.5
    # untruncated N(0, 1) noise of that size has entries far beyond 0.5
    assert run.latent(2000, seed=1).abs().max() > 2
    assert torch.equal(z, run.latent(2000, seed=1, truncation=0.5))
    small = run.latent(4, seed=1, truncation=0.5)
    assert torch.equal(run.sample(4, seed=1, truncation=0.5), run.generator(small))
    for t in (0, 1e-9):  # near 0 the redrawing would never end
        with pytest.raises(UsageError, match="at least 0.01"):
            run.latent(2, truncation=t)


def test_a_conditional_run_takes_labels_and_names_its_classes(runs):
    run = load(runs["cgan"], device="cpu")
    assert run.conditional and run.classes[:2] == ["T-shirt/top", "Trouser"]
    z = run.latent(3, seed=0)
    a = run.generator(z, [0, 1, 2])
    assert torch.equal(a, run.sample(3, seed=0, labels=[0, 1, 2]))
    assert not torch.equal(a, run.generator(z, [5, 5, 5]))
    with pytest.raises(UsageError, match=r"labels must lie in 0\.\.9"):
        run.generator(z, [0, 10, 2])
    with pytest.raises(UsageError, match="one label per sample"):
        run.generator(z, [0, 1])
    with pytest.raises(UsageError, match="not conditional"):
        load(runs["dcgan"]).sample(2, labels=[0, 1])


def test_an_unusable_folder_or_step_is_one_line(runs, tmp_path):
    with pytest.raises(UsageError, match="no checkpoint at step 7; it has steps 30"):
        load(runs["dcgan"], step=7)
    assert load(runs["dcgan"], step=30).step == 30
    # a kept checkpoint that is not a file is named as such, not listed as missing
    fifo = tmp_path / "fifo"
    shutil.copytree(runs["dcgan"], fifo)
    os.mkfifo(fifo / "checkpoints" / "step-0000010.pt")
    with pytest.raises(UsageError, match=r"step-0000010\.pt is a FIFO"):
        load(fifo, step=10)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError) as err:
        load(tmp_path / "empty")
    assert "\n" not in str(err.value)
