"""A model may schedule its learning rate over the run (the trainer tells it the run's
length through plan_steps), and regularise its discriminator with R1: the building
blocks in genbench.nn, the trainer's call, and gan's use of both on points, where a
resumed run continues the schedule exactly."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from genbench import DataSpec
from genbench.nn import LR_DECAYS, LrSchedule, r1_penalty
from genbench.registry import load_registry
from genbench.runfolder.runs import read_metrics
from genbench.training.launch import ResumeRequest, RunRequest, new_run, resume_run


def optimiser(lr=0.1):
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def rates(schedule, n):
    out = []
    for _ in range(n):
        schedule.step()
        out.append(schedule.optimisers[0].param_groups[0]["lr"])
    return out


def test_linear_decay_falls_from_lr_to_zero_over_the_planned_steps():
    opt_a, opt_b = optimiser(), optimiser()
    schedule = LrSchedule("linear", 0.1, opt_a, opt_b)
    schedule.plan(0, 4)
    assert rates(schedule, 4) == pytest.approx([0.1, 0.075, 0.05, 0.025])
    assert opt_b.param_groups[0]["lr"] == pytest.approx(0.025)  # every optimiser
    assert rates(schedule, 2) == [0.0, 0.0]  # past the plan: 0, never negative


def test_a_resume_to_the_same_end_continues_the_line_exactly():
    whole = LrSchedule("linear", 0.1, optimiser())
    whole.plan(0, 10)
    resumed = LrSchedule("linear", 0.1, optimiser())  # a fresh model, as on a resume
    resumed.plan(6, 10)
    assert rates(whole, 10)[6:] == rates(resumed, 4)


def test_more_steps_follow_the_line_of_the_longer_run_a_warm_restart():
    # A finished run of 10 steps given 10 more: the rate of a 20-step run from step 10
    # on (up from 0.01 to 0.05), then down to 0 at the new end.
    longer = LrSchedule("linear", 0.1, optimiser())
    longer.plan(10, 20)
    assert rates(longer, 10) == pytest.approx([0.1 * (20 - k) / 20 for k in range(10, 20)])
    # another lr on the resume follows that lr's line
    other = LrSchedule("linear", 0.02, optimiser())
    other.plan(10, 20)
    assert rates(other, 1) == pytest.approx([0.01])


def test_no_decay_and_no_plan_keep_the_configured_rate():
    constant = LrSchedule("none", 0.1, optimiser(0.5))
    constant.plan(0, 4)
    assert rates(constant, 3) == [0.1] * 3
    unplanned = LrSchedule("linear", 0.1, optimiser())  # genbench bench, a direct caller
    assert rates(unplanned, 3) == [0.1] * 3
    with pytest.raises(ValueError, match="none, linear"):
        LrSchedule("cosine", 0.1, optimiser())
    assert LR_DECAYS == ("none", "linear")


def test_r1_penalty_is_the_squared_gradient_norm_at_the_real_data():
    # D(x) = w . x + b has gradient w everywhere: the penalty is ||w||^2.
    torch.manual_seed(0)
    D = torch.nn.Linear(3, 1)
    x = torch.randn(8, 3).requires_grad_(True)
    penalty = r1_penalty(D(x).squeeze(1), x)
    assert penalty.item() == pytest.approx(D.weight.pow(2).sum().item(), rel=1e-6)
    penalty.backward()  # create_graph: D's update follows the penalty
    assert torch.allclose(D.weight.grad, 2 * D.weight.detach())
    # images: the norm is over every pixel of an example
    img = torch.randn(4, 1, 2, 2).requires_grad_(True)
    scores = (img * 3).flatten(1).sum(1)
    assert r1_penalty(scores, img).item() == pytest.approx(4 * 9)


def request(runs_dir, name, steps, sets=(), checkpoint_every=1000):
    return RunRequest(
        model="gan",
        dataset="ring8",
        steps=steps,
        runs_dir=runs_dir,
        name=name,
        sets=list(sets),
        seed=3,
        batch_size=32,
        log_every=10,
        sample_every=1000,
        checkpoint_every=checkpoint_every,
        device="cpu",
    )


SMALL = ["hidden=32", "layers=2"]


def test_the_trainer_tells_the_model_the_run_length_and_gan_decays_to_it(runs_dir):
    registry = load_registry()
    trainer = new_run(request(runs_dir, "decay", 40, SMALL), registry, lambda e: None)
    assert trainer.model.config.lr_decay == "linear" and trainer.model.config.r1 == 1.0
    assert trainer.run().status == "completed"
    lr = trainer.model.config.lr
    for opt in (trainer.model.opt_g, trainer.model.opt_d):  # the last step's rate
        assert opt.param_groups[0]["lr"] == pytest.approx(lr / 40)
    records = read_metrics(runs_dir / "decay" / "metrics.jsonl")
    assert set(records[-1]["losses"]) == {"d", "g", "r1"}  # the penalty is logged

    # More steps for a finished run: the line of an 80-step run from step 40 on.
    more = resume_run(runs_dir / "decay", registry, lambda e: None, ResumeRequest(steps=80))
    rates_seen = []
    step = more.model.schedule.step

    def spy():
        step()
        rates_seen.append(more.model.opt_g.param_groups[0]["lr"])

    more.model.schedule.step = spy
    assert more.run().status == "completed"
    assert rates_seen == pytest.approx([lr * (80 - k) / 80 for k in range(40, 80)])

    # Without a decay the rate stays where the config puts it.
    flat = new_run(
        request(runs_dir, "flat", 20, SMALL + ["lr_decay=none"]), registry, lambda e: None
    )
    assert flat.run().status == "completed"
    assert flat.model.opt_g.param_groups[0]["lr"] == pytest.approx(lr)


def test_a_stopped_run_resumes_its_schedule_exactly(runs_dir):
    registry = load_registry()
    whole = new_run(request(runs_dir, "whole", 40, SMALL), registry, lambda e: None)
    assert whole.run().status == "completed"

    def stop_at_20(event):  # as a Ctrl-C at step 20 would
        if event.get("event") == "metrics" and event.get("step") == 20:
            os.kill(os.getpid(), signal.SIGTERM)

    split = new_run(request(runs_dir, "split", 40, SMALL), registry, stop_at_20)
    assert split.run().status == "stopped" and split.step == 20
    resumed = resume_run(runs_dir / "split", registry, lambda e: None, ResumeRequest())
    assert resumed.run().status == "completed" and resumed.step == 40

    def losses(name):
        return [(r["step"], r["losses"]) for r in read_metrics(runs_dir / name / "metrics.jsonl")]

    assert [s for s, _ in losses("whole")] == [10, 20, 30, 40]
    assert losses("split") == losses("whole")  # bit-exact floats, every interval
    for a, b in zip(whole.model.G.parameters(), resumed.model.G.parameters(), strict=True):
        assert torch.equal(a, b)


def test_gan_keeps_its_images_settings_and_old_runs_have_neither():
    gan = load_registry().get("gan").cls
    image = DataSpec(kind="image", shape=(1, 28, 28), num_classes=10)
    assert gan.defaults_for(image) == {}
    assert gan.Config().lr_decay == "none" and gan.Config().r1 == 0.0
    points = gan.defaults_for(DataSpec(kind="points", shape=(2,), num_classes=8))
    assert points == {"lr": 1e-3, "lr_decay": "linear", "r1": 1.0}


@pytest.mark.parametrize(
    "name,config",
    [
        (
            "gan",
            {
                "latent_dim": 8,
                "hidden": 16,
                "layers": 1,
                "r1": 1.0,
                "d_steps": 2,
                "lr_decay": "linear",
            },
        ),
        (
            "lsgan",
            {
                "latent_dim": 8,
                "width": 4,
                "r1": 10.0,
                "diffaugment": "translation",
                "lr_decay": "linear",
            },
        ),
        ("wgan-gp", {"latent_dim": 8, "width": 4, "n_critic": 2, "lr_decay": "linear"}),
        ("wgan", {"latent_dim": 8, "width": 4, "n_critic": 2, "lr_decay": "linear"}),
    ],
)
def test_r1_and_the_decay_keep_the_plugin_contract_on_images(name, config):
    """On images too (convolutional D, several critic batches, DiffAugment): shapes,
    determinism and an exact state round trip, as check_model asks of every model."""
    from genbench.testing import check_model

    image = DataSpec(kind="image", shape=(1, 28, 28), num_classes=10)
    check_model(load_registry().get(name).cls, image, config=config)


@pytest.mark.parametrize("name", ["gan", "lsgan", "wgan", "wgan-gp"])
def test_a_run_saved_before_the_schedule_existed_is_rebuilt_and_cloned_without_it(name):
    """Its run.json lacks lr_decay (and r1): resuming, evaluating or cloning it (the form
    fills what a saved config lacks from config.older_than) must not switch on the
    points defaults it never trained with."""
    from genbench import config as cfg

    cls = load_registry().get(name).cls
    old = {k: v for k, v in cfg.to_dict(cls.Config()).items() if k not in ("lr_decay", "r1")}
    rebuilt = cfg.from_dict(cls.Config, old)
    assert rebuilt.lr_decay == "none" and getattr(rebuilt, "r1", 0.0) == 0.0
    expected = {"lr_decay": "none"} | ({"r1": 0.0} if hasattr(rebuilt, "r1") else {})
    assert {k: v for k, v in cfg.older_than(cls.Config, old).items() if k in expected} == expected


def test_turning_r1_off_on_resume_ends_its_loss_line(runs_dir):
    # The loss meter restores its loss names from the checkpoint; a loss the resumed
    # model no longer returns must stop being logged, not go on as a line of zeros.
    registry = load_registry()

    def stop_at_20(event):
        if event.get("event") == "metrics" and event.get("step") == 20:
            os.kill(os.getpid(), signal.SIGTERM)

    first = new_run(request(runs_dir, "r1off", 40, SMALL), registry, stop_at_20)
    assert first.run().status == "stopped"
    more = resume_run(runs_dir / "r1off", registry, lambda e: None, ResumeRequest(sets=["r1=0"]))
    assert more.run().status == "completed"
    logged = {
        r["step"]: set(r["losses"]) for r in read_metrics(runs_dir / "r1off" / "metrics.jsonl")
    }
    assert logged == {10: {"d", "g", "r1"}, 20: {"d", "g", "r1"}, 30: {"d", "g"}, 40: {"d", "g"}}


def test_a_loss_returned_only_some_steps_is_averaged_over_those_steps():
    from genbench.training.loop import LossMeter

    meter = LossMeter(torch.device("cpu"))
    for step in range(4):
        losses = {"g": torch.tensor(float(step))}
        if step % 2:
            losses["extra"] = torch.tensor(10.0 * step)  # steps 1 and 3
        meter.add(losses)
    assert meter.read() == {"g": 1.5, "extra": 20.0}
    meter.add({"g": torch.tensor(2.0)})
    assert meter.read() == {"g": 2.0}  # "extra" absent: not reported
    # A checkpoint written before the per-loss counts: every loss counted every step.
    meter.add({"g": torch.tensor(4.0), "extra": torch.tensor(6.0)})
    state = meter.state_dict()
    del state["counts"]
    again = LossMeter(torch.device("cpu"))
    again.load_state_dict(state)
    assert again.read() == {"g": 4.0, "extra": 6.0}
    state["counts"] = {"g": -1}
    from genbench.errors import UsageError

    with pytest.raises(UsageError, match="counts"):  # damaged input: one line, exit 2
        again.load_state_dict(state)


def test_resuming_a_run_older_than_a_setting_records_no_change_for_it(runs_dir):
    # run.json lacks r1 and lr_decay (saved before they existed); the run is rebuilt
    # with their old_runs values, so only a real --set is a change in its history.
    import json

    registry = load_registry()
    old = new_run(
        request(runs_dir, "old", 20, SMALL + ["r1=0", "lr_decay=none"]), registry, lambda e: None
    )
    assert old.run().status == "completed"
    path = runs_dir / "old" / "run.json"
    meta = json.loads(path.read_text())
    for key in ("r1", "lr_decay"):
        del meta["config"][key]
    path.write_text(json.dumps(meta))
    more = resume_run(
        runs_dir / "old", registry, lambda e: None, ResumeRequest(steps=30, sets=["hidden=32"])
    )
    assert more.run().status == "completed"
    assert json.loads(path.read_text())["changes"] == []
    again = resume_run(
        runs_dir / "old", registry, lambda e: None, ResumeRequest(steps=40, sets=["r1=0.5"])
    )
    assert again.run().status == "completed"
    changes = json.loads(path.read_text())["changes"]
    assert [(c["step"], c["key"], c["old"], c["new"]) for c in changes] == [(30, "r1", 0.0, 0.5)]
