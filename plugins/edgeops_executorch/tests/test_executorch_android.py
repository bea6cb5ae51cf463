"""An ExecuTorch round on an Android phone with executor_runner, against a real adbd.

ExecuTorch ships no prebuilt Android runner and none can run on this machine, so the
test pushes a STAND-IN shell script as the runner: it records the argv it received
and prints a real runner log from data/ (each file names its source). What is real:
Debian's AOSP adbd, adb-shell, the verified push of the runner and the program, the
command line as the device's shell runs it, the exit code and the parsing. What is
not: the runner's own executing.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

import edgeops_adb
import edgeops_executorch
from edgeops.plugin import Artifact, MeasureSettings
from edgeops_executorch import recipes

# The adb backend's test helpers (its adbd wrapper): shared test code, not plugin code.
sys.path.insert(0, str(Path(edgeops_adb.__file__).parent / "tests"))
from adb_testing import ADBD, Adbd, device_for  # noqa: E402

DATA = Path(__file__).parent / "data"
FAST = MeasureSettings(warmup_runs=1, min_runs=7, min_duration_s=0.0, threads=1, timeout_s=30)


@pytest.fixture
def adbd():
    if not ADBD.is_file():
        pytest.skip(f"{ADBD} is missing: run ./install.sh (it installs Debian's adbd)")
    if os.geteuid() != 0:
        pytest.skip("adbd must run as root (Debian's README.adbd)")
    daemon = Adbd(dict(os.environ))
    daemon.start()
    yield daemon
    daemon.kill()


def stand_in_runner(folder: Path, log: str, exit_code: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "executor_runner"
    script.write_text(
        "#!/bin/sh\n"
        f'printf \'%s\\0\' "$0" "$@" > {folder}/argv.bin\n'
        f"grep -v '^#' {shlex.quote(str(DATA / log))}\n"
        f"exit {exit_code}\n"
    )
    return script


def measure(edgeops_pm, register_plugin, device, tmp_path):
    if not edgeops_pm.has_plugin("executorch"):
        register_plugin(edgeops_executorch.ExecuTorchBackend, name="executorch")
    program = tmp_path / "model.pte"
    program.write_bytes(b"\0\0\0\0ET12 a program the stand-in never reads")
    variant = Artifact(
        id="xnnpack-fp32", format="executorch", path=program,
        recipe=recipes.recipe(recipes.Lower(delegate="xnnpack", precision="fp32")),
    )  # fmt: skip
    session = edgeops_pm.hook.edgeops_connect(device=device)
    assert session.python is None
    try:
        return edgeops_pm.hook.edgeops_measure(
            session=session, variant=variant, compute_unit="xnnpack", settings=FAST
        )
    finally:
        session.close()


def test_the_runner_is_pushed_run_on_the_program_and_its_log_read(
    adbd, tmp_path, edgeops_pm, register_plugin
):
    runner = stand_in_runner(tmp_path / "host-tools", "executor_runner_zephyr_tutorial.log")
    runner.chmod(0o644)  # as a downloaded binary often is: made executable on the device
    device = device_for(adbd, tmp_path, python="", executor_runner=str(runner))
    measured = measure(edgeops_pm, register_plugin, device, tmp_path)
    assert measured.status == "ok", measured.error
    assert measured.p50_ms == pytest.approx(0.691078) and measured.load_ms == pytest.approx(5.262)
    argv = (runner.parent / "argv.bin").read_bytes().decode().split("\0")[:-1]
    assert argv[0] != str(runner), "the device runs its pushed copy, not this host's file"
    assert argv[1:3] == ["--model_path", argv[2]] and argv[2].endswith(".pte")
    assert argv[3:] == ["--num_executions", "7"]


def test_a_phone_without_a_runner_label_is_an_error_naming_it(
    adbd, tmp_path, edgeops_pm, register_plugin
):
    device = device_for(adbd, tmp_path, python="")
    measured = measure(edgeops_pm, register_plugin, device, tmp_path)
    assert measured.status == "error"
    assert "set its label executor_runner in devices.toml" in measured.error
    assert "examples/portable/executor_runner" in measured.error


def test_a_runner_label_that_is_neither_here_nor_there_is_an_error_naming_it(
    adbd, tmp_path, edgeops_pm, register_plugin
):
    missing = str(tmp_path / "nowhere" / "executor_runner")
    device = device_for(adbd, tmp_path, python="", executor_runner=missing)
    measured = measure(edgeops_pm, register_plugin, device, tmp_path)
    assert measured.status == "error"
    assert measured.error == (
        f"executor_runner {missing!r} is neither a file on this host nor an executable on "
        f"{device.name}; fix the device's executor_runner label in devices.toml"
    )


def test_a_runner_that_never_finishes_says_where_it_stopped(
    adbd, tmp_path, edgeops_pm, register_plugin
):
    runner = stand_in_runner(tmp_path / "host-tools", "executor_runner_issue3919_stuck.log", 1)
    device = device_for(adbd, tmp_path, python="", executor_runner=str(runner))
    measured = measure(edgeops_pm, register_plugin, device, tmp_path)
    assert measured.status == "error"
    assert measured.error == (
        "executor_runner: the runner stopped after inputs prepared without finishing an execution"
    )
