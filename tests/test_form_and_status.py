"""The new-run form's smaller promises, clone-a-run, the status line a starting run
writes, progress on `genbench eval`, and quitting."""

from __future__ import annotations

import json

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
