"""The new-run form's smaller promises, clone-a-run, the status line a starting run
writes, progress on `genbench eval`, and quitting."""

from __future__ import annotations

import json
from pathlib import Path

from genbench import runs as runs_module


def _run_json_writes(monkeypatch) -> list[dict]:
    """Every run.json the trainer writes, in order, as the workbench would read it."""
    seen: list[dict] = []
    write = runs_module.write_atomic

    def recording(path, data):
        write(path, data)
        if path.name == "run.json":
            seen.append(json.loads(data))

    monkeypatch.setattr(runs_module, "write_atomic", recording)
    return seen


def test_a_starting_run_says_what_it_does_until_its_first_losses(runs_dir, monkeypatch):
    from genbench.registry import load_registry
    from genbench.training.launch import RunRequest, new_run

    seen = _run_json_writes(monkeypatch)
    request = RunRequest(model="gan", dataset="ring8", steps=4, runs_dir=runs_dir,
                         name="phases", log_every=3, device="cpu")
    outcome = new_run(request, load_registry(), lambda event: None).run()
    assert outcome.status == "completed"
    before_first_step = [w["message"] for w in seen if w["step"] == 0]
    assert before_first_step and all(m == "taking the first step on cpu"
                                     for m in before_first_step), before_first_step
    # After the first step and before the first metrics line (at step 3):
    assert any(w["message"] == "training: first losses at step 3" for w in seen
               if 1 <= w["step"] < 3), [(w["step"], w["message"]) for w in seen]
    # From the first metrics line on, the losses speak: the phase message is gone.
    after = [w["message"] for w in seen if w["step"] >= 3]
    assert after[0] == "" and after[-1] == "trained 4 steps", after
    assert not any(m.startswith(("taking", "training:")) for m in after)


# -- `genbench eval`: progress for a person, silence for a pipe ---------------------------

def _trained_ring8(runs_dir) -> Path:
    from genbench.cli import main

    assert main(["run", "--headless", "--model", "gan", "--dataset", "ring8", "--steps", "2",
                 "--runs-dir", str(runs_dir), "--name", "r", "--quiet"]) == 0
    return runs_dir / "r"


def test_eval_tells_its_progress_and_is_silent_when_not_a_terminal(runs_dir, capsys,
                                                                   monkeypatch):
    from genbench.cli import eval as eval_cli
    from genbench.cli import main
    from genbench.metrics.run_eval import evaluate_run
    from genbench.registry import load_registry
    from genbench.training.launch import restore_model

    run = _trained_ring8(runs_dir)
    capsys.readouterr()
    told: list[tuple] = []
    registry = load_registry()
    evaluate_run(run, lambda d: restore_model(d, registry, "cpu"), n=300,
                 progress=lambda *event: told.append(event))
    phases = [phase for phase, _, _ in told]
    assert phases[0] == "restore" and phases[-1] == "write"
    drawn = [(done, total) for phase, done, total in told if phase == "samples"]
    assert drawn[-1] == (300, 300) and len(drawn) >= 2, drawn   # before, and as drawn
    assert phases.index("metrics") > phases.index("samples")

    # Piped (capsys: stderr is no terminal): the table and nothing else.
    assert main(["eval", str(run), "-n", "50"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "modes covered" in out

    # On a terminal the bar is drawn on stderr, fed by those events ...
    drawn_bars: list[bool] = []
    real_bar = eval_cli.progress_bar

    def spy(show):
        drawn_bars.append(show)
        return real_bar(False)      # the bar's drawing itself is rich's business

    monkeypatch.setattr(eval_cli, "progress_bar", spy)
    monkeypatch.setattr(eval_cli, "stderr_is_terminal", lambda: True)
    assert main(["eval", str(run), "-n", "50"]) == 0
    # ... but never with --json or --quiet, whose output is for scripts.
    assert main(["eval", str(run), "-n", "50", "--json"]) == 0
    assert main(["eval", str(run), "-n", "50", "--quiet"]) == 0
    assert drawn_bars == [True, False, False]
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"wrote {run / 'eval.json'}", out[-3:]


def test_eval_progress_bar_names_the_phase_and_counts_samples():
    import io

    from rich.console import Console

    from genbench.cli import eval as eval_cli

    screen = io.StringIO()
    with eval_cli.progress_bar(True, Console(file=screen, force_terminal=True,
                                             width=100)) as tell:
        assert tell is not None
        tell("samples", 250, 500)
    assert "drawing samples" in screen.getvalue() and "250/500" in screen.getvalue()
