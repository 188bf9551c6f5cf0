"""The measurements in docs/experiments.md ("Built-in models on Fashion-MNIST
after one epoch" and the ring8 sections), re-runnable (a developer's
script, not part of the installed package: it wires training and metrics
together, as the CLI does).

    python benchmarks/quality_study.py ring8   [--seeds 5] [--steps 3000]
    python benchmarks/quality_study.py fashion [--steps 1000] [-n 10000]
    python benchmarks/quality_study.py real    [-n 10000]

``ring8`` trains every installed model that takes 2D points, once per seed, and
reports modes covered and the high-quality share on 2,500 samples (mean and
spread over seeds). ``fashion`` trains every image model for a fixed number of
steps on the CPU and evaluates it like `genbench eval`. ``real`` measures real
training images against the test split: the floor every generator is compared
with. Runs are written under --runs-dir (default a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def _train(
    registry,
    model: str,
    dataset: str,
    steps: int,
    seed: int,
    runs_dir: Path,
    batch: int,
    device: str,
) -> Path:
    from genbench.training.launch import RunRequest, new_run

    request = RunRequest(
        model=model,
        dataset=dataset,
        steps=steps,
        seed=seed,
        batch_size=batch,
        device=device,
        runs_dir=runs_dir,
        name=f"{model}-{dataset}-s{seed}",
        log_every=max(1, steps // 10),
        sample_every=steps,
        checkpoint_every=steps,
        eval_every=steps,
    )
    from genbench.metrics.evaluate import live_evaluator

    outcome = new_run(request, registry, lambda event: None, evaluator=live_evaluator).run()
    if outcome.status != "completed":
        raise RuntimeError(f"{model} seed {seed}: {outcome.status}: {outcome.message}")
    return runs_dir / request.name


def _restore(registry, device: str):
    from genbench.training.launch import restore_model

    return lambda run_dir: restore_model(run_dir, registry, device)


def ring8(registry, seeds: int, steps: int, runs_dir: Path, device: str) -> list[dict]:
    from genbench.metrics.run_eval import evaluate_run

    rows = []
    models = sorted(e.name for e in registry.models.values() if "points" in e.cls.kinds)
    for model in models:
        modes, hq, seconds = [], [], []
        for seed in range(seeds):
            started = time.perf_counter()
            run = _train(registry, model, "ring8", steps, seed, runs_dir, 64, device)
            seconds.append(time.perf_counter() - started)
            s = evaluate_run(run, _restore(registry, device))["summary"]
            modes.append(s["modes_covered"])
            hq.append(s["high_quality"])
            print(
                f"ring8 {model} seed {seed}: {s['modes_covered']}/8 modes, "
                f"{s['high_quality']:.1%} high quality",
                file=sys.stderr,
                flush=True,
            )
        rows.append(
            {
                "model": model,
                "steps": steps,
                "seeds": seeds,
                "modes_mean": statistics.mean(modes),
                "modes": modes,
                "high_quality_mean": statistics.mean(hq),
                "high_quality": hq,
                "train_seconds_mean": statistics.mean(seconds),
            }
        )
    return rows


def fashion(registry, steps: int, n: int, runs_dir: Path, device: str) -> list[dict]:
    from genbench.metrics.run_eval import evaluate_run

    rows = []
    models = sorted(e.name for e in registry.models.values() if "image" in e.cls.kinds)
    for model in models:
        started = time.perf_counter()
        run = _train(registry, model, "fashion-mnist", steps, 0, runs_dir, 64, device)
        seconds = time.perf_counter() - started
        record = evaluate_run(run, _restore(registry, device), n=n)
        row = {
            "model": model,
            "steps": steps,
            "train_seconds": round(seconds, 1),
            **{
                k: v
                for k, v in record["summary"].items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            },
        }
        print(f"fashion {model}: {row}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def real(n: int) -> dict:
    """Real training images as if they were samples: the best any model can do."""
    from genbench.data import get_dataset
    from genbench.metrics.coverage import class_coverage
    from genbench.metrics.distances import Gaussian, frechet_distance, kernel_inception_distance
    from genbench.metrics.evaluate import image_reference
    from genbench.metrics.manifold import precision_recall
    from genbench.metrics.reference import load_split, to_unit_range

    ds = get_dataset("fashion-mnist")
    ref = image_reference(ds, torch.device("cpu"))
    images, _ = load_split(ds, "train")
    # an evenly spread subset, not the first n, so no ordering in the file matters
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:n]
    feats, pred = ref.classifier(to_unit_range(images[pick.numpy()]))
    pr = precision_recall(ref.features, feats)
    cov = class_coverage(pred, 10)
    return {
        "model": "real train images",
        "samples": n,
        "fd": frechet_distance(ref.gaussian, Gaussian.fit(feats)),
        "kid": kernel_inception_distance(ref.features, feats).mean,
        "precision": pr.precision,
        "recall": pr.recall,
        "classes_covered": cov.covered,
        "class_kl": cov.kl_uniform,
    }


def main(argv: list[str] | None = None) -> int:
    from genbench.registry import load_registry

    p = argparse.ArgumentParser(prog="python benchmarks/quality_study.py")
    p.add_argument("what", choices=("ring8", "fashion", "real"))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int)
    p.add_argument("-n", type=int, default=10_000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--runs-dir", type=Path)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="genbench-study-"))
    if args.what == "ring8":
        out = ring8(load_registry(), args.seeds, args.steps or 3000, runs_dir, args.device)
    elif args.what == "fashion":
        out = fashion(load_registry(), args.steps or 1000, args.n, runs_dir, args.device)
    else:
        out = real(args.n)
    print(
        json.dumps(
            {
                "study": args.what,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "results": out,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
