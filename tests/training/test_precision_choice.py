"""Precision chosen with the machine in mind: bf16 only where the CPU (or GPU) runs it
natively. The probe (the CPU's flags, and the measured bf16/fp32 time of a conv step)
is replaced here to play a CPU without native bf16 and one with it."""

from __future__ import annotations

import json

import pytest
import torch
from textual.widgets import Select

from genbench.cli import main
from genbench.host import bf16 as host_bf16
from genbench.host.bf16 import cpu_bf16, cuda_bf16
from genbench.training import precision
from genbench.training.precision import bf16_time_ratio, choose_precision

CPU = torch.device("cpu")
AVX2_ONLY = frozenset({"fpu", "sse2", "avx", "avx2", "fma"})  # the machine
SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})


@pytest.fixture
def emulating_cpu(monkeypatch):
    """A CPU with AVX2 and no bf16 instructions, where a conv step in bf16 takes 9x
    as long as in fp32 (the measurement too is the probe's, so the test is exact)."""
    monkeypatch.setattr(host_bf16, "cpu_flags", lambda: AVX2_ONLY)
    monkeypatch.setattr(precision, "bf16_time_ratio", lambda device: 9.0)


@pytest.fixture
def native_cpu(monkeypatch):
    monkeypatch.setattr(host_bf16, "cpu_flags", lambda: SAPPHIRE_RAPIDS)
    monkeypatch.setattr(precision, "bf16_time_ratio", lambda device: 0.5)


def test_the_cpu_probe_reads_the_flags_that_make_bf16_native(monkeypatch):
    monkeypatch.setattr(host_bf16, "cpu_flags", lambda: AVX2_ONLY)
    emulated = cpu_bf16()
    assert emulated.native is False and "AVX2, no AVX512-BF16 or AMX-BF16" in emulated.because
    monkeypatch.setattr(host_bf16, "cpu_flags", lambda: SAPPHIRE_RAPIDS)
    assert cpu_bf16().native is True and cpu_bf16().because == "AMX-BF16, AVX512-BF16"
    monkeypatch.setattr(host_bf16, "cpu_flags", lambda: frozenset({"fp", "asimd", "bf16"}))
    assert cpu_bf16().native is True and cpu_bf16().because == "Arm BF16"
    monkeypatch.setattr(host_bf16, "cpu_flags", lambda: None)  # no /proc/cpuinfo
    assert cpu_bf16().native is None
    assert cuda_bf16("A100", (8, 0)).native and not cuda_bf16("V100", (7, 0)).native


def test_onednns_isa_cap_makes_bf16_emulated_whatever_the_flags(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 on a CPU with AMX runs oneDNN's AVX2 kernels: bf16 is
    emulated there (a conv step 20x fp32's time on this machine's AMX CPU)."""
    monkeypatch.setattr(host_bf16, "cpu_flags", lambda: SAPPHIRE_RAPIDS)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert cpu_bf16() == host_bf16.Bf16Support(False, "this CPU", "ONEDNN_MAX_CPU_ISA=AVX2")
    for allowing in ("AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX10_1_512", "ALL", ""):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", allowing)
        assert cpu_bf16().native is True, allowing
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "AVX512_CORE")  # the old name
    assert cpu_bf16().native is False


def test_the_real_flags_and_measurement_answer_on_this_machine():
    """Not faked: this machine's /proc/cpuinfo lists flags, and the measured ratio is a
    positive time ratio (its value is the machine's, never asserted)."""
    assert host_bf16.cpu_flags()
    assert cpu_bf16().native in (True, False)
    ratio = bf16_time_ratio(CPU)
    assert 0 < ratio < float("inf")


def test_auto_is_fp32_where_bf16_is_emulated_and_bf16_where_native_and_faster(
    monkeypatch, emulating_cpu
):
    choice = choose_precision("auto", CPU)
    assert choice.precision == "fp32" and choice.warning is None
    assert "emulated on this CPU (AVX2" in choice.why
    monkeypatch.setattr(host_bf16, "cpu_flags", lambda: SAPPHIRE_RAPIDS)
    monkeypatch.setattr(precision, "bf16_time_ratio", lambda device: 0.5)
    choice = choose_precision("auto", CPU)
    assert choice.precision == "bf16" and "2.0x faster than fp32" in choice.why
    monkeypatch.setattr(precision, "bf16_time_ratio", lambda device: 0.98)  # native, no faster
    assert choose_precision("auto", CPU).precision == "fp32"


def _run(runs_dir, name, *flags):
    argv = ["run", "--headless", "--model", "gan", "--dataset", "ring8", "--steps", "2"]
    return main([*argv, "--runs-dir", str(runs_dir), "--name", name, *flags])


def test_run_warns_of_emulated_bf16_with_its_cost_and_records_why(runs_dir, capsys, emulating_cpu):
    assert _run(runs_dir, "bf", "--precision", "bf16") == 0
    out, err = capsys.readouterr()
    warning = [line for line in err.splitlines() if "warning" in line]
    assert warning == [
        "genbench: warning: bf16 is emulated on this CPU (AVX2, no AVX512-BF16 or AMX-BF16): "
        "a conv step took 9.0x as long as in fp32 here; --precision fp32 (or auto) trains "
        "at full speed"
    ]
    assert "(cpu, bf16)" in out and "precision: bf16 as asked; bf16 is emulated" in out
    meta = json.loads((runs_dir / "bf" / "run.json").read_text())
    assert meta["precision"] == "bf16" and "emulated on this CPU" in meta["precision_why"]

    assert _run(runs_dir, "auto", "--precision", "auto") == 0
    out, err = capsys.readouterr()
    assert "warning" not in err and "(cpu, fp32)" in out
    meta = json.loads((runs_dir / "auto" / "run.json").read_text())
    assert meta["precision"] == "fp32" and meta["precision_why"].startswith("auto: fp32; ")


def test_run_with_auto_trains_in_bf16_where_native(runs_dir, capsys, native_cpu):
    assert _run(runs_dir, "auto", "--precision", "auto", "--quiet") == 0
    meta = json.loads((runs_dir / "auto" / "run.json").read_text())
    assert meta["precision"] == "bf16"
    assert meta["precision_why"] == (
        "auto: bf16; bf16 is native on this CPU (AMX-BF16, AVX512-BF16), "
        "a conv step 2.0x faster than fp32 here"
    )


def test_a_resume_resolves_auto_anew_and_records_the_change(runs_dir, capsys, native_cpu):
    assert _run(runs_dir, "r", "--quiet") == 0
    argv = ["run", "--resume", str(runs_dir / "r"), "--steps", "4", "--precision", "auto"]
    assert main([*argv, "--quiet"]) == 0
    meta = json.loads((runs_dir / "r" / "run.json").read_text())
    assert meta["precision"] == "bf16" and meta["precision_why"].startswith("auto: bf16")
    change = meta["changes"][-1]
    assert (change["key"], change["old"], change["new"]) == ("precision", "fp32", "bf16")


def test_bench_says_whether_bf16_is_native_and_warns_where_emulated(capsys, emulating_cpu):
    argv = ["bench", "--model", "gan", "--dataset", "ring8", "--steps", "1", "--warmup", "0"]
    assert main([*argv, "--precision", "bf16"]) == 0
    out, err = capsys.readouterr()
    assert "genbench: warning: bf16 is emulated on this CPU (AVX2" in err
    assert "precision: bf16 as asked; bf16 is emulated" in " ".join(out.split())
    assert main([*argv, "--precision", "auto", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["precision"] == "fp32" and report["precision_warning"] is None


async def test_the_form_says_bf16_is_emulated_and_offers_auto(runs_dir, monkeypatch):
    from genbench.tui.app import GenbenchApp
    from tests.tui.test_new_run_form import open_form
    from tests.tui_support import fixed_run_choices

    monkeypatch.setattr(host_bf16, "cpu_flags", lambda: AVX2_ONLY)
    app = GenbenchApp(runs_dir, run_choices_loader=fixed_run_choices)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, app, "toygan")
        field = form.query_one("#field-precision", Select).parent.parent
        help_text = str(field.query_one(".form-help").render())
        assert help_text == (
            "bf16 is emulated on this CPU (AVX2, no AVX512-BF16 or AMX-BF16): "
            "several times slower; fp32 or auto"
        )
        choices = [value for _, value in form.query_one("#field-precision", Select)._options]
        assert choices == ["fp32", "bf16", "auto"]
