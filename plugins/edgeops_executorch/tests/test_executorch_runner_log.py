"""The runner log parser, on real runner output from public issues and a tutorial
(each file under data/ names its source)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeops_executorch.runner_log import parse

DATA = Path(__file__).parent / "data"


def read(name: str) -> str:
    return (DATA / name).read_text()


def test_the_current_format_gives_executions_and_their_mean():
    log = parse(read("executor_runner_zephyr_tutorial.log"))
    assert log.ok and log.runner == "executor_runner.cpp"
    assert log.executions == 1
    assert log.mean_ms == pytest.approx(0.691078)
    assert log.load_ms == pytest.approx(5.262)  # "Method loaded." at 00:00:00.005262


def test_the_old_format_is_timed_from_inputs_prepared():
    log = parse(read("executor_runner_issue1231_x86.log"))
    assert log.ok and log.executions == 1
    # 00:00:00.437405 -> 00:02:23.767346: resnet18 on portable kernels in a VM.
    assert log.mean_ms == pytest.approx(143329.941, abs=0.01)
    assert log.load_ms == pytest.approx(437.272)


def test_qnn_runner_gives_its_average():
    log = parse(read("qnn_executor_runner_issue3528.log"))
    assert log.ok and log.runner == "qnn_executor_runner.cpp"
    assert log.executions == 100 and log.mean_ms == pytest.approx(10.96626)


def test_a_run_that_never_finished_is_an_error_naming_where_it_stopped():
    log = parse(read("executor_runner_issue3919_stuck.log"))
    assert not log.ok and log.mean_ms is None
    assert log.error == "the runner stopped after inputs prepared without finishing an execution"
    assert log.load_ms == pytest.approx(896.979)


def test_a_failed_execution_is_named_with_its_status():
    # The runner's ET_CHECK_MSG format (executor_runner.cpp), as the last line before the abort.
    text = read("executor_runner_issue3919_stuck.log") + (
        "F 00:00:01.201000 executorch:executor_runner.cpp:175] "
        "Execution of method forward failed with status 0x12\n"
    )
    log = parse(text)
    assert log.error == "execution of method forward failed with status 0x12"


def test_output_that_is_no_runner_log_says_so():
    assert parse("/system/bin/sh: executor_runner: not found\n").error == (
        "no ExecuTorch runner log in the output"
    )


def test_a_round_on_a_phone_becomes_a_labelled_measurement():
    from edgeops.plugin import Artifact, Device, MeasureSettings
    from edgeops_executorch.android import runner_argv, to_measurement

    argv = runner_argv("/data/local/tmp/executor_runner", "/data/local/tmp/m.pte",
                       MeasureSettings(min_runs=10), big_cores="f0")  # fmt: skip
    assert argv == [
        "taskset", "f0", "/data/local/tmp/executor_runner",
        "--model_path", "/data/local/tmp/m.pte", "--num_executions", "10",
    ]  # fmt: skip
    variant = Artifact(id="v", format="executorch")
    phone = Device(id="d", name="Pixel 6", transport="adb", profile_id="pixel6")
    ok = to_measurement(read("executor_runner_zephyr_tutorial.log"), 0, argv, variant, phone,
                        "xnnpack")  # fmt: skip
    assert (ok.variant_id, ok.device_id, ok.profile_id, ok.compute_unit) == (
        "v", "d", "pixel6", "xnnpack"
    )  # fmt: skip
    assert ok.status == "ok" and ok.p50_ms == ok.mean_ms == pytest.approx(0.691078)
    assert ok.environment["p50_ms_statistic"].startswith("mean of 1 executions")
    stuck = to_measurement(read("executor_runner_issue3919_stuck.log"), 137, argv, variant, phone,
                           "xnnpack")  # fmt: skip
    assert stuck.status == "oom" and "stopped after inputs prepared" in stuck.error
