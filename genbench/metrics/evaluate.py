"""Measuring a generator: draw samples, embed them, compare with real data.

Two users:

* ``genbench eval RUN`` (:func:`evaluate`): 10,000 samples by default, every
  metric, against the dataset's test split; the result goes to eval.json.
* the trainer (:class:`LiveEvaluator`): a few hundred samples every eval
  interval, FD and class coverage only (or toy mode coverage), cheap enough to
  run while training and recorded in metrics.jsonl.

Every number carries what it was measured with (metric, split, sample count,
feature classifier), because an FD from 500 samples is not comparable with one
from 10,000, and neither is comparable with an Inception FID.

Sampling draws all randomness from a private ``torch.Generator``: the global
random state, which a resumed run must reproduce exactly, is never touched.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from genbench.api import GenerativeModel, sample_range_warning
from genbench.metrics.coverage import (
    WITHIN_CLASS_MIN,
    WithinClass,
    class_consistency,
    class_coverage,
    collapse_threshold,
    mode_coverage,
    within_class,
    within_mode,
)
from genbench.metrics.distances import Gaussian, frechet_distance, kernel_inception_distance
from genbench.metrics.manifold import mean_pairwise_distance, precision_recall

DEFAULT_SAMPLES = 10_000  # offline, as for FID
TOY_SAMPLES = 2_500  # as in VEEGAN and PacGAN
LIVE_SAMPLES = 500  # during training: enough to see a trend and a collapse
LIVE_REFERENCE = 2_000  # real test images the live FD compares with (features once per run)
SAMPLE_BATCH = 500
# Real images per class that a class's spread and Gaussian are measured on: the whole
# class of a 10-class test split; bounded so 100 classes stay cheap.
CLASS_REFERENCE = 1_000


# -- drawing samples -------------------------------------------------------------


def balanced_labels(n: int, classes: int, device: torch.device) -> torch.Tensor:
    """0, 1, ..., K-1, 0, 1, ...: every class asked for equally often."""
    return torch.arange(n, device=device) % classes


@torch.no_grad()
def draw(
    model: GenerativeModel, n: int, seed: int, device: torch.device, batch: int = SAMPLE_BATCH
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` samples (float32, on the CPU) and, for a conditional model, the labels
    they were asked for. The same seed gives the same samples."""
    generator = torch.Generator(device=device).manual_seed(seed)
    classes = model.spec.num_classes if model.conditional else None
    labels = balanced_labels(n, classes, device) if classes else None
    out = []
    for i in range(0, n, batch):
        part = None if labels is None else labels[i : i + batch]
        x = model.sample(min(batch, n - i), labels=part, generator=generator)
        out.append(x.detach().float().cpu())
    return torch.cat(out), (labels.cpu() if labels is not None else None)


# -- the reference: real test images in feature space ---------------------------


@dataclass
class ImageReference:
    """A dataset's classifier and the features of its real images of one split."""

    classifier: Any  # FeatureClassifier
    split: str
    features: torch.Tensor | None  # (N, d) float64; None when the split is missing
    gaussian: Gaussian | None
    missing: str | None = None  # why there are no real features
    # k -> k-NN radii of the real features, shared by every copy of one cached reference
    radii: dict = field(default_factory=dict)
    labels: torch.Tensor | None = None  # (N,) true classes of ``features``
    class_names: tuple[str, ...] | None = None
    # class -> (spread, Gaussian) of its real features, shared like ``radii``
    classes: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return 0 if self.features is None else len(self.features)

    def knn_radii(self, k: int) -> torch.Tensor:
        """The real manifold's ball radii for precision (computed once per k)."""
        from genbench.metrics.manifold import knn_radii

        if k not in self.radii:
            assert self.features is not None, "a reference without features has no radii"
            self.radii[k] = knn_radii(self.features, k)
        return self.radii[k]

    def class_features(self, k: int) -> torch.Tensor | None:
        if self.features is None or self.labels is None:
            return None
        return self.features[self.labels == k][:CLASS_REFERENCE]

    def class_stats(self, k: int) -> tuple[float | None, Gaussian | None]:
        """(mean pairwise distance, Gaussian) of real class ``k``'s features, computed
        once per class; None where the class has too few images to measure."""
        if k not in self.classes:
            real = self.class_features(k)
            if real is None or len(real) < 2:
                self.classes[k] = (None, None)
            else:
                self.classes[k] = (mean_pairwise_distance(real), Gaussian.fit(real))
        return self.classes[k]

    def class_name(self, k: int) -> str:
        names = self.class_names
        return f"class {k} ({names[k]})" if names and k < len(names) else f"class {k}"


_REFERENCES: dict[tuple, ImageReference] = {}


def image_reference(
    dataset, device: torch.device, split: str = "test", limit: int | None = None
) -> ImageReference:
    """The classifier and the features of the first ``limit`` (default: all) real
    images of ``split``, computed once per process."""
    from genbench.data.sampler import to_unit_range
    from genbench.metrics.classifier import FeatureClassifier
    from genbench.metrics.reference import load_split

    classifier = FeatureClassifier.load(dataset, device)
    key = (classifier.card.id, split, limit, str(getattr(dataset, "found", "")))
    cached = _REFERENCES.get(key)
    if cached is None:
        images, labels = load_split(dataset, split)
        features, _ = classifier(to_unit_range(images[:limit]))
        cached = _REFERENCES[key] = ImageReference(
            classifier,
            split,
            features,
            Gaussian.fit(features),
            labels=torch.as_tensor(labels[:limit]),
            class_names=getattr(dataset, "class_names", None),
        )
    return ImageReference(
        classifier,
        split,
        cached.features,
        cached.gaussian,
        radii=cached.radii,
        labels=cached.labels,
        class_names=cached.class_names,
        classes=cached.classes,
    )


# -- one result row ----------------------------------------------------------------


@dataclass
class Result:
    """All metrics of one evaluation, as rows and as a flat summary."""

    rows: list[dict] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def add(self, metric: str, value: float | int, **info: Any) -> None:
        self.rows.append({"metric": metric, "value": value, **info})
        self.summary[metric] = value


def collapse_warning(covered: int, total: int, what: str) -> str | None:
    need = collapse_threshold(total)
    if covered >= need:
        return None
    return f"mode collapse: {covered} of {total} {what} covered (healthy is {need} or more)"


def within_class_warning(within: WithinClass, name) -> str | None:
    """One line naming the classes whose samples are nearly identical, or None.
    ``name(k)`` says what class k is called."""
    flat = sorted((v, k) for k, v in within.measured if k in within.collapsed)
    if not flat:
        return None
    shown = [f"{name(k)} at {v:.2f}" for v, k in flat[:3]]
    more = f" and {len(flat) - 3} more" if len(flat) > 3 else ""
    return (
        f"within-class collapse: the samples of {', '.join(shown)}{more} are nearly "
        f"identical (diversity relative to the real data; healthy is "
        f"{WITHIN_CLASS_MIN} or more)"
    )


def add_within_class(res: Result, within: WithinClass, name, **info: Any) -> None:
    """The within-class diversity row and summary; a collapsed class turns the
    collapse flag on (the trainer's alarm reads it) and adds to the warning."""
    worst = within.worst
    if worst is None:
        return
    k, value = worst
    res.add(
        "within_class_diversity",
        round(value, 4),
        worst_class=k,
        worst_name=name(k),
        threshold=WITHIN_CLASS_MIN,
        measure=within.measure,
        per_class=[None if v is None else round(v, 4) for v in within.diversity],
        **info,
    )
    res.summary["within_class_worst"] = k
    res.summary["within_class_collapse"] = within.collapsed
    line = within_class_warning(within, name)
    if line:
        res.summary["collapse"] = True
        old = res.summary.get("warning")
        res.summary["warning"] = f"{old}; {line}" if old else line


# -- image models ------------------------------------------------------------------


def evaluate_images(
    samples: torch.Tensor,
    asked: torch.Tensor | None,
    ref: ImageReference,
    full: bool = True,
    seed: int = 0,
) -> Result:
    """FD (and, when ``full``, KID and precision/recall) of ``samples`` against
    ``ref``, plus class coverage and, when the samples were generated for labels
    ``asked``, class consistency."""
    n = len(samples)
    features, predicted = ref.classifier(samples)
    card = ref.classifier.card
    base = {"split": ref.split, "reference": ref.size, "samples": n, "features": card.id}
    res = Result()
    # Non-finite samples (a diverged generator) make every distance meaningless.
    finite = torch.isfinite(features).all(1)
    if not bool(finite.all()):
        res.summary["nonfinite_samples"] = int((~finite).sum())
    if ref.missing:
        res.summary["note"] = ref.missing
    elif int(finite.sum()) >= 2:
        # Only a reference that names nothing missing has its features and Gaussian.
        assert ref.gaussian is not None and ref.features is not None
        fake = features[finite]
        res.add("fd", frechet_distance(ref.gaussian, Gaussian.fit(fake)), **base)
        if full:
            kid = kernel_inception_distance(ref.features, fake, seed=seed)
            res.add(
                "kid",
                kid.mean,
                std=kid.std,
                subsets=kid.subsets,
                subset_size=kid.subset_size,
                **base,
            )
            pr = precision_recall(ref.features, fake, k=3, real_radii=ref.knn_radii(3))
            res.add("precision", pr.precision, k=pr.k, **base)
            res.add("recall", pr.recall, k=pr.k, **base)
    # Classes of the finite samples only: a NaN image has no class, and argmax of
    # NaN logits would call it class 0.
    res.summary["classes"] = card.classes
    if not bool(finite.any()):
        res.summary["collapse"] = True
        res.summary["warning"] = "every sample is non-finite: the generator has diverged"
        return res
    predicted = predicted[finite]
    cov = class_coverage(predicted, card.classes)
    res.add("classes_covered", cov.covered, of=cov.classes, samples=n, features=card.id)
    res.add("class_kl", cov.kl_uniform, samples=n, features=card.id, histogram=cov.histogram)
    if asked is not None:
        res.add(
            "class_consistency",
            class_consistency(predicted, asked[finite]),
            samples=n,
            features=card.id,
        )
    res.summary["collapse"] = cov.collapsed
    res.summary["warning"] = collapse_warning(cov.covered, cov.classes, "classes")
    if asked is not None and ref.labels is not None and ref.features is not None:
        per_class_figures(res, features[finite], asked[finite].cpu(), ref, full, base)
    return res


def per_class_figures(
    res: Result,
    features: torch.Tensor,
    asked: torch.Tensor,
    ref: ImageReference,
    full: bool,
    base: dict,
) -> None:
    """A conditional model, class by class against the real images of that class:
    within-class diversity (always; the collapse alarm) and, when ``full``, FD."""
    classes = ref.classifier.card.classes
    spread: list[float | None] = []
    real: list[float | None] = []
    fds: list[float | None] = []
    for k in range(classes):
        mine = features[asked == k]
        real_spread, real_gauss = ref.class_stats(k)
        spread.append(mean_pairwise_distance(mine) if len(mine) >= 2 else None)
        real.append(real_spread)
        if full:
            fds.append(
                frechet_distance(real_gauss, Gaussian.fit(mine))
                if real_gauss is not None and len(mine) >= 2
                else None
            )
    info = {"samples": len(features), "features": base["features"]}
    measured = [(k, v) for k, v in enumerate(fds) if v is not None]
    if measured:
        k, worst = max(measured, key=lambda kv: kv[1])
        mean = sum(v for _, v in measured) / len(measured)
        per_class = [None if v is None else round(v, 4) for v in fds]
        # Each class against at most CLASS_REFERENCE real images of it.
        size = sum(len(f) for f in map(ref.class_features, range(classes)) if f is not None)
        res.add(
            "class_fd",
            round(mean, 4),
            worst=round(worst, 4),
            worst_class=k,
            worst_name=ref.class_name(k),
            per_class=per_class,
            **{**base, "reference": size},
        )
        res.summary["class_fd_worst"] = round(worst, 4)
    within = within_class(
        spread, real, "mean pairwise feature distance of the samples of a class / the real class's"
    )
    add_within_class(res, within, ref.class_name, **info)


# -- 2D toys -------------------------------------------------------------------------


def evaluate_points(
    samples: torch.Tensor, means, std: float, asked: torch.Tensor | None = None
) -> Result:
    """Mode coverage; for a conditional model (``asked``: the labels, which on the
    2D mixtures are the modes), each mode's spread against the data's sigma too."""
    n = len(samples)
    cov = mode_coverage(samples, means, std)
    res = Result()
    res.add("modes_covered", cov.covered, of=cov.modes, samples=n, per_mode=cov.per_mode)
    res.add("high_quality", cov.high_quality, samples=n, within="3 std of the nearest mode")
    res.summary["modes"] = cov.modes
    res.summary["collapse"] = cov.collapsed
    res.summary["warning"] = collapse_warning(cov.covered, cov.modes, "modes")
    if asked is not None:
        add_within_class(
            res, within_mode(samples, asked, cov.modes, std), lambda k: f"mode {k}", samples=n
        )
    return res


def can_evaluate(dataset) -> bool:
    """Whether there is anything to measure for this dataset (toy modes, or a classifier)."""
    from genbench.metrics.classifier import has_classifier

    if dataset.spec.kind == "points":
        return getattr(dataset, "means", None) is not None
    return has_classifier(dataset.name)


# -- during training -----------------------------------------------------------------


class LiveEvaluator:
    """Cheap quality numbers while a run trains.

    Called by the trainer every eval interval, outside the hot loop, with the
    model as it is. Returns the flat summary for the metrics record (FD and
    class coverage, or toy mode coverage), always drawn from the same seed so
    successive points of the curve differ only by the model. The real
    features are computed on first use, not at startup, so a run starts as
    fast with evaluation as without.
    """

    def __init__(self, dataset, device: torch.device, seed: int, samples: int | None = None):
        self.dataset, self.device, self.seed = dataset, device, seed
        self.points = dataset.spec.kind == "points"
        self.samples = samples or (TOY_SAMPLES if self.points else LIVE_SAMPLES)
        self.ref: ImageReference | None = None
        self._real: tuple | None = None  # held-out real data for d_accuracy, once

    def _reference(self) -> ImageReference:
        from genbench.errors import UsageError
        from genbench.metrics.classifier import FeatureClassifier

        try:
            return image_reference(self.dataset, self.device, limit=LIVE_REFERENCE)
        except UsageError as exc:
            # No test split here (a custom folder of MNIST files, say): class
            # coverage needs only the classifier, so the collapse alarm still works.
            clf = FeatureClassifier.load(self.dataset, self.device)
            return ImageReference(clf, "test", None, None, missing=f"no FD: {exc}")

    def __call__(self, model: GenerativeModel) -> dict[str, Any]:
        started = time.perf_counter()
        if not self.points and self.ref is None:
            self.ref = self._reference()
        samples, asked = draw(model, self.samples, self.seed, self.device)
        if self.points:
            res = evaluate_points(samples, self.dataset.means, self.dataset.std, asked)
        else:
            assert self.ref is not None  # set above for images
            res = evaluate_images(samples, asked, self.ref, full=False)
            res.summary["features"] = self.ref.classifier.card.id
        accuracy = self._d_accuracy(model, samples, asked)
        if accuracy is not None:
            res.summary["d_accuracy"] = accuracy
        return {
            "samples": self.samples,
            **res.summary,
            "seconds": round(time.perf_counter() - started, 3),
        }

    def _d_accuracy(
        self, model: GenerativeModel, samples: torch.Tensor, asked: torch.Tensor | None
    ) -> float | None:
        """d_accuracy_for, with the held-out real data read once per run."""
        from genbench.metrics.criteria import d_accuracy_for, has_discriminator, held_out_real

        if not has_discriminator(model):
            return None
        if self._real is None:
            self._real = (
                held_out_real(self.dataset, len(samples), self.seed, tuple(model.spec.shape)),
            )
        if self._real[0] is None:
            return None
        return d_accuracy_for(model, self.dataset, samples, asked, self.seed, self._real[0])


def _to_stderr(note: str) -> None:
    print(note, file=sys.stderr, flush=True)


def live_evaluator(
    dataset, device: torch.device, seed: int, say: Callable[[str], None] = _to_stderr
) -> LiveEvaluator | None:
    """The trainer's evaluator for ``dataset``, or None when nothing can be measured
    (an image dataset without a classifier, points without known modes), which is
    said once through ``say`` (stderr: the terminal, or a workbench run's launch.log):
    a run with no live checks otherwise looks like one whose checks never came."""
    if can_evaluate(dataset):
        return LiveEvaluator(dataset, device, seed)
    if dataset.spec.kind == "points":
        why = "it has no known modes (`means` and `std`: see docs/plugins.md)"
    else:
        why = (
            "it has no feature classifier yet; `genbench train-classifier "
            f"{dataset.name}` makes one, and then new runs, resumed ones and "
            "`genbench eval` measure it"
        )
    say(f"genbench: note: no live quality checks on {dataset.name!r}: {why}")
    return None


# -- offline ---------------------------------------------------------------------------


def evaluate(
    model: GenerativeModel,
    dataset,
    device: torch.device,
    n: int | None = None,
    seed: int = 0,
    inception: bool = False,
) -> tuple[Result, dict]:
    """Every metric for ``model`` on ``dataset``; returns the result and a description
    of what it was measured with (classifier, reference split)."""
    from genbench.errors import UsageError

    if dataset.spec.kind == "points":
        means = getattr(dataset, "means", None)
        if means is None:
            raise UsageError(f"dataset {dataset.name!r} has no known modes to measure against")
        n = n or TOY_SAMPLES
        samples, asked, speed = timed_draw(model, n, seed, device)
        res = evaluate_points(samples, means, dataset.std, asked)
        add_criteria(res, model, dataset, samples, asked, seed, speed, device)
        return res, {"samples": n, "reference": {"modes": len(means), "std": dataset.std}}
    n = n or DEFAULT_SAMPLES
    # Everything that can be missing is looked for before 10,000 samples are drawn.
    ref = image_reference(dataset, device)
    backend = None
    if inception:
        from genbench.metrics.inception import load_backend

        backend = load_backend()
    samples, asked, speed = timed_draw(model, n, seed, device)
    res, about = measure_images(samples, asked, dataset, ref, device, seed, backend)
    add_criteria(res, model, dataset, samples, asked, seed, speed, device)
    return res, about


D_ACCURACY_SAMPLES = 2_000  # real and generated examples the discriminator judges


def timed_draw(
    model: GenerativeModel, n: int, seed: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """draw(), and the generator's throughput over it in samples per second."""
    started = time.perf_counter()
    samples, asked = draw(model, n, seed, device)
    return samples, asked, n / max(time.perf_counter() - started, 1e-9)


def add_criteria(
    res: Result,
    model: GenerativeModel,
    dataset,
    samples: torch.Tensor,
    asked: torch.Tensor | None,
    seed: int,
    speed: float,
    device: torch.device,
) -> None:
    """The seeds' other criteria (genbench.metrics.criteria): the discriminator's
    accuracy on held-out real data vs these samples, and generation speed."""
    from genbench.metrics.criteria import d_accuracy_for

    m = min(len(samples), D_ACCURACY_SAMPLES)
    accuracy = d_accuracy_for(
        model, dataset, samples[:m], None if asked is None else asked[:m], seed
    )
    if accuracy is not None:
        res.add("d_accuracy", accuracy, samples=m)
        res.summary["d_accuracy"] = accuracy
    res.add("samples_per_s", round(speed, 1), batch=SAMPLE_BATCH, device=str(device))


def add_range_warning(res: Result, samples: torch.Tensor) -> None:
    """Images in [0, 1] (a sigmoid generator) or past [-1, 1] are measured all the
    same, but the summary's warning says so: their figures compare darkened or
    clipped images with the data."""
    finite = samples[torch.isfinite(samples)]
    if not len(finite):
        return
    line = sample_range_warning(float(finite.min()), float(finite.max()))
    if line:
        old = res.summary.get("warning")
        res.summary["warning"] = f"{old}; {line}" if old else line


def measure_images(
    samples: torch.Tensor,
    asked: torch.Tensor | None,
    dataset,
    ref: ImageReference,
    device: torch.device,
    seed: int = 0,
    backend: Any = None,
) -> tuple[Result, dict]:
    """Every image metric of ``samples`` (in [-1, 1]) against ``ref``, whether a run's
    model drew them or they came from elsewhere (genbench eval of an .npy or PNGs);
    Inception FID too when ``backend`` is loaded."""
    n = len(samples)
    res = evaluate_images(samples, asked, ref, full=True, seed=seed)
    add_range_warning(res, samples)
    if backend is not None:
        from genbench.data.sampler import to_unit_range
        from genbench.metrics.inception import inception_fid
        from genbench.metrics.reference import load_split

        real, _ = load_split(dataset, "test")
        value, name = inception_fid(to_unit_range(real), samples, device, backend)
        res.add("inception_fid", value, split="test", reference=len(real), samples=n, features=name)
    return res, {
        "samples": n,
        "classifier": ref.classifier.card.describe(),
        "reference": {"split": ref.split, "size": ref.size},
    }
