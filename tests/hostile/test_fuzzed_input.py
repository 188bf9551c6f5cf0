"""Hostile and broken input: fuzzed --set values and metrics lines, misbehaving plugins."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genbench import config as cfg
from genbench.cli import main
from genbench.errors import UsageError
from genbench.registry import load_registry
from genbench.runfolder.runs import read_metrics, summarize
from tests.conftest import toy_model_source

GAN_CONFIG = load_registry().get("gan").cls.Config
KEYS = [f.name for f in cfg.fields(GAN_CONFIG)]


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(KEYS + ["bogus", "", "lr "]), value=st.text(max_size=20))
def test_set_values_give_a_typed_config_or_a_usage_error(key, value):
    try:
        config = cfg.from_assignments(GAN_CONFIG, [f"{key}={value}"])
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    field = next(f for f in cfg.fields(GAN_CONFIG) if f.name == key.strip())
    got = getattr(config, field.name)
    assert type(got) is cfg.field_type(GAN_CONFIG, field)
    if "min" in field.metadata:
        assert got >= field.metadata["min"]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.builds(
                lambda s, losses: json.dumps({"step": s, "losses": losses}).encode(),
                st.integers(-5, 10**9),
                st.dictionaries(st.text(max_size=5), st.floats()),
            ),
        ),
        max_size=20,
    )
)
def test_metrics_reader_never_raises_and_keeps_only_records_with_a_step(tmp_path, lines):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"\n".join(lines))
    for rec in read_metrics(path):
        assert isinstance(rec, dict) and isinstance(rec["step"], int)


def test_garbage_run_json_is_reported_for_that_run_only(runs_dir, capsys):
    for name, content in {
        "empty": b"",
        "binary": b"\x00\xff" * 50,
        "list": b"[1, 2]",
        "wrongtypes": b'{"model": 3, "dataset": null}',
    }.items():
        (runs_dir / name).mkdir(parents=True)
        (runs_dir / name / "run.json").write_bytes(content)
        assert summarize(runs_dir / name).error
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out.count("unreadable") == 4


def test_plugin_raising_in_train_step_fails_the_run_naming_the_plugin(
    plugin_site, runs_dir, capsys
):
    plugin_site.add(
        "gb-raise",
        toy_model_source("raiser").replace(
            "self.steps += 1",
            "self.steps += 1\n        if self.steps == 5: raise RuntimeError('boom')",
        ),
    )
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "raiser",
                "--dataset",
                "ring8",
                "--steps",
                "20",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "x",
                "--quiet",
            ]
        )
        == 1
    )
    meta = json.loads((runs_dir / "x" / "run.json").read_text())
    assert meta["status"] == "failed"
    assert "model 'raiser' raised RuntimeError: boom" in meta["message"]


def test_plugin_returning_the_wrong_sample_shape_fails_the_run(plugin_site, runs_dir):
    plugin_site.add(
        "gb-shape",
        toy_model_source("badshape").replace(
            "generator=generator, device=self.device))",
            "generator=generator, device=self.device))[:, :1]",
        ),
    )
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "badshape",
                "--dataset",
                "ring8",
                "--steps",
                "10",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "x",
                "--quiet",
            ]
        )
        == 1
    )
    meta = json.loads((runs_dir / "x" / "run.json").read_text())
    assert meta["status"] == "failed" and "'badshape'" in meta["message"]
    assert "expected a tensor of shape (1000, 2)" in meta["message"]
