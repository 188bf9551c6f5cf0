"""`genbench sample RUN --serve DIR`: the generate view's worker process, spoken to
as the workbench speaks to it (one JSON request a line on stdin, one answer a line
on stdout), its grids checked against the trained-run library's own samples."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genbench.cli.sample_serve import LINE_MAX, render
from genbench.sampling.walks import slerp
from genbench.trained import load

ANSWER_S = 120  # a loaded CI machine: torch's import alone took 4 s on an idle one


def _train(root: Path, model: str) -> Path:
    from genbench.cli import main

    args = ["run", "--headless", "--model", model, "--dataset", "fashion-mnist"]
    args += ["--steps", "30", "--threads", "1", "--eval-every", "30"]
    assert main([*args, "--runs-dir", str(root), "--name", model]) == 0
    return root / model


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    from genbench.data import get_dataset

    if not get_dataset("fashion-mnist").availability().ok:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    root = tmp_path_factory.mktemp("serve") / "runs"
    return {m: _train(root, m) for m in ("dcgan", "cgan")}


class Worker:
    """The serve process: requests in, answers out, each answer awaited."""

    def __init__(self, run: Path, folder: Path) -> None:
        argv = [sys.executable, "-m", "genbench", "sample", str(run), "--serve", str(folder)]
        self.proc = subprocess.Popen(
            [*argv, "--device", "cpu"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # Answers are read by a thread, so a worker that never answers fails the test
        # after ANSWER_S instead of hanging it.
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.hello = self.read()

    def _pump(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line)
        self.lines.put(b"")  # the end of the pipe

    def read(self) -> dict:
        try:
            line = self.lines.get(timeout=ANSWER_S)
        except queue.Empty:
            self.proc.kill()
            pytest.fail(f"the worker did not answer within {ANSWER_S} s")
        if not line:
            self.proc.wait(ANSWER_S)
            pytest.fail(f"the worker ended ({self.proc.returncode}): {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
        return json.loads(line)

    def ask(self, request: dict | bytes) -> dict:
        line = request if isinstance(request, bytes) else json.dumps(request).encode()
        self.proc.stdin.write(line + b"\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self.read()

    def close(self) -> int:
        self.proc.stdin.close()  # type: ignore[union-attr]
        return self.proc.wait(ANSWER_S)


@pytest.fixture
def worker(runs, tmp_path):
    made: list[Worker] = []

    def start(model: str) -> Worker:
        folder = tmp_path / f"grids{len(made)}"
        folder.mkdir()
        w = Worker(runs[model], folder)
        made.append(w)
        return w

    yield start
    for w in made:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.wait()


def pixels(path: str | Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_a_seed_grid_is_the_library_sample_of_that_seed_rendered(runs, worker, tmp_path):
    w = worker("dcgan")
    assert w.hello["ready"] is True and w.hello["step"] == 30 and w.hello["kind"] == "image"
    assert w.hello["conditional"] is False and w.hello["classes"] == []
    assert w.hello["has_latent"] and w.hello["normal_latent"]

    got = w.ask({"id": 1, "seed": 3, "n": 8, "cols": 4, "labels": None, "walk": None})
    assert got["id"] == 1 and got["step"] == 30 and got["ms"] > 0
    folder = Path(got["png"]).parent
    assert folder.parent == tmp_path
    run = load(runs["dcgan"], device="cpu")
    expected = np.asarray(render(run, run.sample(8, seed=3), 4))
    assert np.array_equal(pixels(got["png"]), expected)
    # 8 samples of 28 px in 4 columns with 2 px gutters: 122 x 62, enlarged 8 times
    assert expected.shape == (62 * 8, 122 * 8, 3)

    again = w.ask({"id": 2, "seed": 3, "n": 8, "cols": 4})
    other = w.ask({"id": 3, "seed": 4, "n": 8, "cols": 4})
    assert np.array_equal(pixels(again["png"]), expected)
    assert not np.array_equal(pixels(other["png"]), expected)
    truncated = w.ask({"id": 4, "seed": 3, "n": 8, "cols": 4, "truncation": 0.5})
    want = np.asarray(render(run, run.sample(8, seed=3, truncation=0.5), 4))
    assert np.array_equal(pixels(truncated["png"]), want)
    assert w.close() == 0  # stdin closed: the worker ends by itself
    assert not folder.exists()  # with the grids it wrote and their folder


def test_a_walk_starts_at_one_seed_and_ends_at_the_next(runs, worker):
    w = worker("dcgan")
    ask = {"n": 8, "cols": 8}
    start = pixels(w.ask({**ask, "seed": 5})["png"])
    end = pixels(w.ask({**ask, "seed": 6})["png"])
    walk = {"from": 5, "to": 6}
    assert np.array_equal(pixels(w.ask({**ask, "walk": {**walk, "t": 0}})["png"]), start)
    assert np.array_equal(pixels(w.ask({**ask, "walk": {**walk, "t": 1}})["png"]), end)
    middle = pixels(w.ask({**ask, "walk": {**walk, "t": 0.5}})["png"])
    assert not np.array_equal(middle, start) and not np.array_equal(middle, end)
    # the middle is the generator of the slerp of the two seeds' noise
    run = load(runs["dcgan"], device="cpu")
    z = slerp(run.latent(8, 5), run.latent(8, 6), 0.5)
    assert np.array_equal(middle, np.asarray(render(run, run.generator(z), 8)))


def test_a_conditional_run_names_its_classes_and_draws_the_asked_labels(runs, worker):
    w = worker("cgan")
    assert w.hello["conditional"] is True and w.hello["classes"][1] == "Trouser"
    trousers = w.ask({"seed": 0, "n": 4, "cols": 4, "labels": [1, 1, 1, 1]})
    shirts = w.ask({"seed": 0, "n": 4, "cols": 4, "labels": [0, 0, 0, 0]})
    run = load(runs["cgan"], device="cpu")
    want = np.asarray(render(run, run.sample(4, seed=0, labels=[1] * 4), 4))
    assert np.array_equal(pixels(trousers["png"]), want)
    assert not np.array_equal(pixels(shirts["png"]), want)
    # a walk keeps the labels it is given at every t
    walk = w.ask({"n": 4, "cols": 4, "labels": [1] * 4, "walk": {"from": 0, "to": 1, "t": 0}})
    assert np.array_equal(pixels(walk["png"]), want)


BAD_LINES = [
    (b"not json", "one line of JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"id": 9, "seed": -1}', "seed must be a whole number"),
    (b'{"id": 9, "seed": 1.5}', "seed must be a whole number"),
    (b'{"id": 9, "n": 100000}', "n must be a whole number from 1 to 512"),
    (b'{"id": 9, "labels": [0]}', "not conditional"),
    (b'{"id": 9, "labels": "x"}', "labels must be a list"),
    (b'{"id": 9, "truncation": -2}', "truncation must be a number above 0"),
    (b'{"id": 9, "truncation": 1e-9}', "at least 0.01"),  # else redrawn for ever
    (b'{"id": 9, "walk": {"from": 0, "to": 1, "t": 2}}', "t must be a number from 0 to 1"),
    (b'{"id": 9, "walk": [0, 1]}', "walk must be"),
    (b'{"id": 9, "seed": 1' + b" " * LINE_MAX + b"}", f"over {LINE_MAX} bytes"),
]


def test_a_bad_request_is_an_error_answer_and_the_worker_goes_on(worker):
    w = worker("dcgan")
    for line, says in BAD_LINES:
        bad = w.ask(line)
        assert set(bad) == {"id", "error"} and says in bad["error"], (line[:60], bad)
        assert "\n" not in bad["error"] and "Traceback" not in bad["error"]
        assert bad["id"] in (None, 9)
        assert "png" in w.ask({"id": 10, "seed": 0, "n": 2})  # still serving
    assert w.close() == 0


def test_what_a_model_prints_goes_to_stderr_not_into_the_answers(runs, tmp_path):
    """A model plugin that prints while it draws (a debug line): the workbench reads
    only answers on stdout, so the print goes to the worker's stderr."""
    patch = (
        "import genbench_plugins.dcgan as m; plain = m.DCGAN.sample_from\n"
        "def noisy(self, *a, **k):\n    print('a debug line'); return plain(self, *a, **k)\n"
        "m.DCGAN.sample_from = noisy\n"
        "import sys; from genbench.cli import main; sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["sample", str(runs["dcgan"]), "--serve", str(tmp_path), "--device", "cpu"]
    request = json.dumps({"id": 1, "seed": 0, "n": 2}) + "\n"
    done = subprocess.run(
        [sys.executable, "-c", patch, *argv],
        input=request.encode(),
        capture_output=True,
        timeout=ANSWER_S,
    )
    hello, answer = (json.loads(line) for line in done.stdout.decode().splitlines())
    assert hello["ready"] is True and answer["id"] == 1 and "png" in answer
    assert "a debug line" in done.stderr.decode() and done.returncode == 0


def test_a_run_without_a_checkpoint_is_one_error_line(tmp_path):
    run = tmp_path / "runs" / "empty"
    run.mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, "-m", "genbench", "sample", str(run), "--serve", str(tmp_path)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=ANSWER_S,
    )
    assert proc.returncode == 1
    (line,) = proc.stdout.decode().splitlines()
    answer = json.loads(line)
    assert set(answer) == {"error"} and "Traceback" not in proc.stderr.decode()
