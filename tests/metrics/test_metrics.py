"""Sample-quality metrics: that they are right, not just that they run.

The math is checked against closed forms and hand-built sets. The feature
space is checked on real Fashion-MNIST (skipped when it is not installed): FD
and KID must order images by how damaged they are, precision must fall for
noise, recall for a single repeated image. Last, `genbench eval` and the live
evaluation of the trainer on short real runs.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from genbench.metrics.coverage import (
    class_consistency,
    class_coverage,
    collapse_threshold,
    mode_coverage,
)
from genbench.metrics.distances import (
    Gaussian,
    frechet_distance,
    kernel_inception_distance,
    mmd2_unbiased,
    trace_sqrt_product,
)
from genbench.metrics.manifold import knn_radii, precision_recall

# -- Fréchet distance ------------------------------------------------------------


def random_psd(d: int, rng: np.random.Generator, rank: int | None = None) -> np.ndarray:
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


def test_fd_matches_the_closed_form_for_commuting_covariances():
    # Same eigenvectors Q: (S1 S2)^(1/2) = Q sqrt(D1 D2) Q^T, so
    # FD = |mu1 - mu2|^2 + sum_i (sqrt(d1_i) - sqrt(d2_i))^2.
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    d1, d2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    a = Gaussian(mu1, q @ np.diag(d1) @ q.T, 100)
    b = Gaussian(mu2, q @ np.diag(d2) @ q.T, 100)
    want = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(d1) - np.sqrt(d2)) ** 2).sum()
    assert frechet_distance(a, b) == pytest.approx(want, rel=1e-10)
    assert frechet_distance(b, a) == pytest.approx(want, rel=1e-10)


def test_trace_sqrt_product_agrees_with_eigenvalues_of_the_product():
    # S1 S2 has real non-negative eigenvalues; the symmetric route must sum their roots,
    # also when a covariance is singular (fewer samples than dimensions).
    rng = np.random.default_rng(1)
    s1, s2 = random_psd(8, rng), random_psd(8, rng, rank=3)
    roots = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    assert trace_sqrt_product(s1, s2) == pytest.approx(roots, rel=1e-8, abs=1e-10)
    assert trace_sqrt_product(s1, s1) == pytest.approx(np.trace(s1), rel=1e-10)


def test_fd_of_a_sample_with_itself_is_zero_and_grows_with_a_shift():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 16)) @ rng.normal(size=(16, 16))
    g = Gaussian.fit(x)
    assert frechet_distance(g, g) < 1e-8
    few = Gaussian.fit(x[:10])  # singular covariance: still ~0 with itself
    assert frechet_distance(few, few) < 1e-8
    shifts = [frechet_distance(g, Gaussian.fit(x + s)) for s in (0.1, 0.5, 1.0)]
    assert shifts == pytest.approx([16 * s * s for s in (0.1, 0.5, 1.0)], rel=1e-9)


# -- KID ---------------------------------------------------------------------------


def test_mmd2_unbiased_matches_the_definition_written_as_loops():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)) + 0.5

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_the_difference():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    same = kernel_inception_distance(a, b, subsets=10, subset_size=500)
    near = kernel_inception_distance(a, b + 0.3, subsets=10, subset_size=500)
    far = kernel_inception_distance(a, b + 1.0, subsets=10, subset_size=500)
    assert abs(same.mean) < 3 * same.std + 1e-3  # unbiased: zero up to noise
    assert 0 < near.mean < far.mean
    assert near.mean > 5 * abs(same.mean)


# -- precision and recall --------------------------------------------------------


def test_knn_radii_on_points_of_a_line():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0], [10.0]], dtype=torch.float64)
    # third nearest other point of each: 0 -> 6, 1 -> 5, 3 -> 3, 6 -> 5, 10 -> 9
    assert knn_radii(x, k=3).tolist() == [6.0, 5.0, 3.0, 5.0, 9.0]
    assert knn_radii(x, k=1).tolist() == [1.0, 1.0, 2.0, 3.0, 4.0]


def test_precision_and_recall_on_hand_built_sets():
    grid = torch.tensor([[i, j] for i in range(10) for j in range(10)], dtype=torch.float64)
    same = precision_recall(grid, grid.clone())
    assert (same.precision, same.recall) == (1.0, 1.0)
    # Every 3rd-neighbour radius on the unit grid is 1 (or sqrt 2 at corners). Fakes
    # on the left half only: all of them real-looking, only about half the grid reached.
    half = grid[grid[:, 0] < 5]
    pr = precision_recall(grid, half)
    assert pr.precision == 1.0 and 0.5 <= pr.recall < 0.7
    far = precision_recall(grid, grid + 100)
    assert (far.precision, far.recall) == (0.0, 0.0)
    # One repeated point: its balls have radius 0, so it reaches only itself.
    single = precision_recall(grid, grid[:1].repeat(50, 1))
    assert single.precision == 1.0 and single.recall == pytest.approx(0.01)


# -- class and mode coverage -----------------------------------------------------


def test_class_coverage_counts_classes_with_a_quarter_of_their_share():
    one = class_coverage(np.full(1000, 3), 10)
    assert one.covered == 1 and one.kl_uniform == pytest.approx(math.log(10))
    assert one.collapsed
    uniform = class_coverage(np.arange(1000) % 10, 10)
    assert uniform.covered == 10 and uniform.kl_uniform == pytest.approx(0, abs=1e-12)
    assert not uniform.collapsed
    # 1/(4K) = 2.5% of 400 = 10 samples: 10 counts, 9 does not
    pred = np.concatenate([np.full(10, 0), np.full(9, 1), np.full(381, 2)])
    cov = class_coverage(pred, 10)
    assert cov.covered == 2 and cov.histogram[0] == 0.025
    assert class_consistency(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 3])) == 0.75


def test_collapse_thresholds_are_seven_of_ten_and_six_of_eight():
    assert collapse_threshold(10) == 7
    assert collapse_threshold(8) == 6
    assert collapse_threshold(25) == 18


def ring8_means():
    return [(math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)) for i in range(8)]


def test_toy_mode_coverage_is_exact_on_hand_built_points():
    means, std = np.array(ring8_means()), 0.01
    pts = [
        means[0],
        means[0] + [0.02, 0],
        means[0] + [0, -0.029],  # mode 0: within 3 std
        means[1] + [0.0299, 0],  # mode 1: just inside
        means[2] + [0.031, 0],  # mode 2: just outside
        [0.0, 0.0],  # between modes
        [float("nan"), 0.0],  # a diverged sample
    ]
    cov = mode_coverage(np.array(pts), means, std)
    assert cov.covered == 2 and cov.modes == 8
    assert cov.high_quality == pytest.approx(4 / 7)
    assert cov.per_mode == [3, 1, 0, 0, 0, 0, 0, 0]
    assert cov.collapsed


def test_toy_mode_coverage_of_real_ring8_samples_is_complete():
    from genbench.data.toys import grid25, ring8

    for make in (ring8, grid25):
        ds = make()
        x, _ = ds.sampler(2500, torch.device("cpu"), seed=0).next()
        cov = mode_coverage(x, ds.means, ds.std)
        assert cov.covered == len(ds.means)
        assert cov.high_quality > 0.98  # 3 sigma in 2D holds 98.9% of the mass
        assert not cov.collapsed


# -- in the classifier's feature space, on real Fashion-MNIST -------------------------


def fashion_mnist():
    from genbench.data import get_dataset

    ds = get_dataset("fashion-mnist")
    if not ds.availability().ok:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    return ds


@pytest.fixture(scope="module")
def fm():
    """Classifier, test images and features, and a slice of the training images."""
    from genbench.metrics.classifier import has_classifier
    from genbench.metrics.evaluate import image_reference
    from genbench.metrics.reference import load_split, to_unit_range

    ds = fashion_mnist()
    if not has_classifier("fashion-mnist"):
        pytest.fail("genbench/metrics/weights/fashion-mnist.pt is missing from the package")
    # The reference is the whole test split, as `genbench eval` uses (and the same
    # cached object, so the eval CLI test below reuses its features): with fewer
    # real points the k-NN balls of precision/recall grow and swallow outliers.
    ref = image_reference(ds, torch.device("cpu"))
    test_x, test_y = load_split(ds, "test")
    train_x, train_y = load_split(ds, "train")
    test = to_unit_range(test_x[:2000])
    train = to_unit_range(train_x[:2000])
    return {
        "clf": ref.classifier,
        "test": test,
        "test_y": test_y[:2000],
        "train": train,
        "train_y": train_y[:2000],
        "ref": ref.features,
        "gauss": ref.gaussian,
        "reference": ref,
    }


def fd_to_test(fm, images) -> float:
    feats, _ = fm["clf"](images)
    return frechet_distance(fm["gauss"], Gaussian.fit(feats))


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    from torchvision.transforms.functional import gaussian_blur

    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur(images, [k, k], [sigma, sigma])


def noisy(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (images + std * torch.randn(images.shape, generator=g)).clamp(-1, 1)


def test_classifier_card_reaches_92_percent_and_weights_load_with_weights_only(fm):
    from genbench.metrics.classifier import card_path, read_card, sha256, weights_path

    card = read_card("fashion-mnist")
    assert card.accuracy >= 0.92
    raw = json.loads(card_path("fashion-mnist").read_text())
    assert raw["seed"] == 0 and raw["dataset"] == "fashion-mnist" and raw["architecture"]
    path = weights_path("fashion-mnist")
    assert path.stat().st_size < 5_000_000 and sha256(path) == card.sha256
    state = torch.load(path, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    # and the recorded accuracy is what the shipped weights do on these test images
    _, pred = fm["clf"](fm["test"])
    assert (pred.numpy() == fm["test_y"]).mean() > 0.9


def test_fd_separates_real_images_from_noise(fm):
    same = Gaussian.fit(fm["clf"](fm["test"])[0])
    assert frechet_distance(same, same) < 1e-9
    real = fd_to_test(fm, fm["train"])
    noise = fd_to_test(
        fm, torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    )
    assert real < noise / 20, (real, noise)


def test_fd_and_kid_grow_monotonically_with_blur_and_with_noise(fm):
    base = fm["train"][:1000]
    for damage, levels in ((blur, (0.5, 1.0, 1.5, 2.5)), (noisy, (0.1, 0.2, 0.4, 0.8))):
        images = [base] + [damage(base, s) for s in levels]
        feats = [fm["clf"](x)[0] for x in images]
        fds = [frechet_distance(fm["gauss"], Gaussian.fit(f)) for f in feats]
        kids = [
            kernel_inception_distance(fm["ref"], f, subsets=10, subset_size=500).mean for f in feats
        ]
        assert fds == sorted(fds) and len(set(fds)) == len(fds), (damage.__name__, fds)
        assert kids == sorted(kids), (damage.__name__, kids)
        assert abs(kids[0]) < kids[1] and kids[-1] > 0


def test_precision_falls_for_noise_and_recall_for_one_repeated_image(fm):
    radii = fm["reference"].knn_radii(3)

    def pr(images):
        return precision_recall(fm["ref"], fm["clf"](images)[0], real_radii=radii)

    real = pr(fm["train"])
    assert real.precision > 0.6 and real.recall > 0.6
    for std in (0.2, 0.4, 0.8):
        noise = pr(noisy(fm["train"], std))
        assert noise.precision < 0.7 * real.precision and noise.recall < 0.05, std
    uniform = torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert pr(uniform).precision < 0.05
    repeated = pr(fm["train"][:1].repeat(500, 1, 1, 1))
    assert repeated.recall < 0.01 and repeated.recall < real.recall / 50


def test_class_coverage_of_one_real_class_is_one_and_of_the_test_set_is_ten(fm):
    trousers = fm["test"][torch.from_numpy(fm["test_y"] == 1)]
    assert class_coverage(fm["clf"](trousers)[1], 10).covered == 1
    cov = class_coverage(fm["clf"](fm["test"])[1], 10)
    assert cov.covered == 10 and cov.kl_uniform < 0.02


class RealImages:
    """A 'conditional generator' that returns real test images of the asked class:
    a perfect model, whose consistency must be the classifier's accuracy."""

    conditional = True

    def __init__(self, images, labels):
        from genbench.api import DataSpec

        self.images, self.labels = images, torch.as_tensor(labels)
        self.spec = DataSpec("image", (1, 28, 28), 10)

    def sample(self, n, labels=None, generator=None):
        out = []
        for k in labels.tolist():
            pool = torch.nonzero(self.labels == k).flatten()
            out.append(self.images[pool[torch.randint(len(pool), (), generator=generator)]])
        return torch.stack(out)


def test_a_perfect_conditional_model_is_consistent_and_covers_every_class(fm):
    from genbench.metrics.evaluate import ImageReference, draw, evaluate_images

    model = RealImages(fm["test"], fm["test_y"])
    samples, asked = draw(model, 400, seed=0, device=torch.device("cpu"))
    assert asked.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    ref = ImageReference(fm["clf"], "test", fm["ref"], fm["gauss"])
    res = evaluate_images(samples, asked, ref, full=False)
    assert res.summary["classes_covered"] == 10 and not res.summary["collapse"]
    assert 0.85 < res.summary["class_consistency"] <= 1.0
    assert res.summary["fd"] < fd_to_test(fm, noisy(fm["train"][:400], 0.4))


# -- the run folder: live records, `genbench eval`, `genbench runs` ---------------------


def run_cli(*args) -> int:
    from genbench.cli import main

    return main([str(a) for a in args])


def test_live_eval_records_and_eval_cli_on_a_short_ring8_run(runs_dir, capsys):
    from genbench.runfolder.runs import read_metrics, summarize

    assert (
        run_cli(
            "run",
            "--headless",
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            60,
            "--log-every",
            20,
            "--eval-every",
            25,
            "--runs-dir",
            runs_dir,
            "--name",
            "r",
            "--json",
        )
        == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["step"] for e in events if e["event"] == "eval"] == [25, 50, 60]
    run = runs_dir / "r"
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [20, 40, 60]
    evals = read_metrics(run / "metrics.jsonl", kind="eval")
    assert [r["step"] for r in evals] == [25, 50, 60]
    last = evals[-1]["eval"]
    assert last["samples"] == 2500 and last["modes"] == 8
    assert 0 <= last["modes_covered"] <= 8 and 0 <= last["high_quality"] <= 1
    assert last["collapse"] == (last["modes_covered"] < 6)
    assert summarize(run).coverage == (last["modes_covered"], 8)
    assert summarize(run).quality_source == "live" and summarize(run).losses  # losses still read

    assert run_cli("eval", run, "--json") == 0
    record = json.loads(capsys.readouterr().out)
    assert record == json.loads((run / "eval.json").read_text())
    rows = {r["metric"]: r for r in record["metrics"]}
    assert {"modes_covered", "high_quality", "samples_per_s"} <= set(rows)
    assert rows["modes_covered"]["of"] == 8 and rows["modes_covered"]["samples"] == 2500
    assert record["step"] == 60 and record["genbench"] and record["samples"] == 2500
    assert summarize(run).quality_source == "eval.json"


def test_eval_cli_on_a_short_fashion_mnist_run(runs_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich: room for every column of `runs`
    fashion_mnist()
    from genbench.runfolder.runs import read_metrics, summarize

    assert (
        run_cli(
            "run",
            "--headless",
            "--model",
            "gan",
            "--dataset",
            "fashion-mnist",
            "--steps",
            30,
            "--batch-size",
            32,
            "--log-every",
            10,
            "--eval-every",
            15,
            "--sample-every",
            30,
            "--runs-dir",
            runs_dir,
            "--name",
            "fm",
            "--device",
            "cpu",
            "--quiet",
        )
        == 0
    )
    run = runs_dir / "fm"
    evals = read_metrics(run / "metrics.jsonl", kind="eval")
    assert [r["step"] for r in evals] == [15, 30]
    live = evals[-1]["eval"]
    assert live["samples"] == 500 and live["classes"] == 10 and live["fd"] > 0
    assert live["features"].startswith("fashion-mnist/")
    capsys.readouterr()

    assert run_cli("eval", run, "-n", 600, "--json") == 0
    record = json.loads(capsys.readouterr().out)
    rows = {r["metric"]: r for r in record["metrics"]}
    assert {"fd", "kid", "precision", "recall", "classes_covered", "class_kl"} <= set(rows)
    assert rows["fd"]["split"] == "test" and rows["fd"]["reference"] == 10_000
    assert rows["fd"]["samples"] == 600 and rows["fd"]["value"] > 0
    assert record["classifier"]["test_accuracy"] >= 0.92
    assert rows["fd"]["features"] == record["classifier"]["id"]
    print("FD after 30 steps of gan on fashion-mnist:", rows["fd"]["value"], live["fd"])

    summary = summarize(run)
    assert summary.fd == pytest.approx(rows["fd"]["value"]) and summary.coverage[1] == 10
    assert run_cli("runs", "--runs-dir", runs_dir) == 0
    table = capsys.readouterr().out
    assert "FD" in table and "coverage" in table and f"{summary.fd:.2f}" in table


def test_eval_cli_rejects_bad_input_in_one_line(runs_dir, tmp_path, capsys):
    import shutil

    assert (
        run_cli(
            "run",
            "--headless",
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            10,
            "--runs-dir",
            runs_dir,
            "--name",
            "ok",
            "--quiet",
        )
        == 0
    )
    capsys.readouterr()
    (tmp_path / "empty").mkdir()
    bare = runs_dir / "bare"
    shutil.copytree(runs_dir / "ok", bare)
    (bare / "checkpoints" / "last.pt").unlink()
    other = runs_dir / "cifar"
    shutil.copytree(runs_dir / "ok", other)
    meta = json.loads((other / "run.json").read_text())
    meta.update(dataset="cifar10", data={"kind": "image", "shape": [3, 32, 32], "classes": 10})
    (other / "run.json").write_text(json.dumps(meta))

    cases = [
        ((tmp_path / "empty",), "not a genbench run"),
        ((tmp_path / "nowhere",), "not a folder"),
        ((bare,), "no checkpoint"),
        ((other,), "no feature classifier for dataset 'cifar10'"),
        ((runs_dir / "ok", "-n", 3), "must be from 10 to 1,000,000 samples, got 3"),
    ]
    for args, words in cases:
        assert run_cli("eval", *args) == 2, args
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    assert not (bare / "eval.json").exists() and not (other / "eval.json").exists()


def test_exact_resume_holds_with_live_evaluation(runs_dir):
    from genbench.runfolder.runs import read_metrics

    # A constant rate: then a run to 30 extended to 50 is the run planned to 50 (gan's
    # decay on points ends with the run, so there the two runs differ by design).
    common = [
        "--headless",
        "--model",
        "gan",
        "--dataset",
        "ring8",
        "--log-every",
        10,
        "--eval-every",
        20,
        "--checkpoint-every",
        10,
        "--runs-dir",
        runs_dir,
        "--quiet",
        "--set",
        "lr_decay=none",
    ]
    assert run_cli("run", *common, "--steps", 50, "--name", "whole") == 0
    assert run_cli("run", *common, "--steps", 30, "--name", "split") == 0  # evaluates at 30
    assert (
        run_cli("run", "--headless", "--resume", runs_dir / "split", "--steps", 50, "--quiet") == 0
    )

    def read(name, kind=None):
        recs = read_metrics(runs_dir / name / "metrics.jsonl", kind=kind)
        if kind:
            return {r["step"]: {k: v for k, v in r["eval"].items() if k != "seconds"} for r in recs}
        return [(r["step"], r["losses"]) for r in recs]

    assert read("split") == read("whole")
    whole, split = read("whole", "eval"), read("split", "eval")
    assert sorted(whole) == [20, 40, 50] and sorted(split) == [20, 30, 40, 50]
    assert all(split[s] == whole[s] for s in whole)
    a = torch.load(runs_dir / "whole/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(runs_dir / "split/checkpoints/last.pt", weights_only=True)["model"]
    assert all(torch.equal(a["G"][k], b["G"][k]) for k in a["G"])


def test_non_finite_samples_are_counted_and_left_out_of_every_metric(fm):
    from genbench.metrics.evaluate import ImageReference, evaluate_images

    ref = ImageReference(fm["clf"], "test", fm["ref"], fm["gauss"])
    images = fm["test"][:300].clone()
    images[:100] = float("nan")
    res = evaluate_images(images, None, ref, full=False)
    assert res.summary["nonfinite_samples"] == 100
    assert math.isfinite(res.summary["fd"]) and res.summary["classes_covered"] == 10
    dead = evaluate_images(torch.full((20, 1, 28, 28), float("nan")), None, ref, full=False)
    assert dead.summary["collapse"] and "fd" not in dead.summary


def test_a_run_that_never_spreads_warns_once_at_the_end_and_every_record_says_so(
    plugin_site, runs_dir, capsys
):
    from tests.conftest import toy_model_source

    # The toy model maps Gaussian noise linearly: a blob, never within 3 sigma of a ring mode.
    plugin_site.add("gb-toy", toy_model_source("toy"))
    assert (
        run_cli(
            "run",
            "--headless",
            "--model",
            "toy",
            "--dataset",
            "ring8",
            "--steps",
            30,
            "--eval-every",
            10,
            "--runs-dir",
            runs_dir,
            "--name",
            "t",
            "--json",
        )
        == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    evals = [e for e in events if e["event"] == "eval"]
    assert [e["step"] for e in evals] == [10, 20, 30]
    assert all(e["collapse"] and e["modes_covered"] < 6 for e in evals)
    assert "of 8 modes covered" in evals[0]["warning"]
    # A fresh generator covers few modes: no alarm until the run ends without spreading.
    warnings = [e for e in events if e["event"] == "warning"]
    assert len(warnings) == 1 and warnings[0]["step"] == 30
    assert warnings[0]["kind"] == "mode_collapse"
    assert warnings[0]["message"] == evals[-1]["warning"] + ", at the end of the run"


def test_losing_modes_it_had_warns_at_once(monkeypatch, plugin_site, runs_dir, capsys):
    from genbench.metrics import evaluate
    from tests.conftest import toy_model_source

    # Coverage as the evaluator would see it: healthy, then lost, regained, lost again.
    covered = iter([8, 8, 2, 7, 3])

    def fake_call(self, model):
        n = next(covered)
        return {
            "modes_covered": n,
            "modes": 8,
            "collapse": n < 6,
            "warning": f"mode collapse: {n} of 8 modes covered" if n < 6 else None,
        }

    monkeypatch.setattr(evaluate.LiveEvaluator, "__call__", fake_call)
    plugin_site.add("gb-toy", toy_model_source("toy"))
    assert (
        run_cli(
            "run",
            "--headless",
            "--model",
            "toy",
            "--dataset",
            "ring8",
            "--steps",
            50,
            "--eval-every",
            10,
            "--runs-dir",
            runs_dir,
            "--name",
            "t",
            "--json",
        )
        == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    warnings = [(e["step"], e["message"]) for e in events if e["event"] == "warning"]
    assert warnings == [
        (30, "mode collapse: 2 of 8 modes covered, lost since an earlier check"),
        (50, "mode collapse: 3 of 8 modes covered, lost since an earlier check"),
    ]
