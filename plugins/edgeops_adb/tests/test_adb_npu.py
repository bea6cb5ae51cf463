"""The NPU on a phone: LiteRT benchmark_model --use_npu=true, its log, against a real adbd.

The logs are real (tests/data/fixtures/litert_npu_*, each with its public issue); the
tool is the STAND-IN shell script of adb_testing, which prints them. No public log of a
successful NPU run with its BENCHMARK RESULTS block was found in this session, so the
timings path is shown with the CompiledModel block of a GPU run (the same tool prints
the same block for every accelerator).
"""

from __future__ import annotations

from pathlib import Path

from test_adb_phone_measure import FAST, measure, phone

from edgeops_adb.npu_log import parse_npu_log

from adb_testing import fixture_text, received_argv, stand_in_benchmark_model

NOT_REGISTERED = "litert_npu_not_registered_LiteRT-LM-1377.txt"
STARTED = "litert_npu_benchmark_qualcomm_start_LiteRT-6059.txt"
DISPATCH = "litert_npu_dispatch_loaded_LiteRT-LM-1979.txt"
FALLBACK = "litert_npu_cpu_fallback_LiteRT-7858.txt"
RESULTS = "litert_compiledmodel_benchmark_mlcommons-mobile_app_open-1134.txt"


def test_an_npu_that_did_not_register_is_named_with_its_status() -> None:
    run = parse_npu_log(fixture_text(NOT_REGISTERED))
    assert not run.registered
    assert run.not_registered_status == "kLiteRtStatusErrorInvalidArgument"
    assert "did not register (kLiteRtStatusErrorInvalidArgument)" in (run.failure() or "")


def test_a_registered_npu_and_its_dispatch_library_are_read() -> None:
    started = parse_npu_log(fixture_text(STARTED))
    assert started.registered and started.failure() is None
    loaded = parse_npu_log(fixture_text(DISPATCH))
    assert loaded.registered
    assert loaded.dispatch_library == "/data/local/tmp/gemma/libLiteRtDispatch_Qualcomm.so"


def test_xnnpack_taking_the_graph_is_a_cpu_fallback_not_an_npu_figure() -> None:
    run = parse_npu_log(fixture_text(FALLBACK))
    assert (run.cpu_nodes, run.total_nodes) == (470, 476)
    assert run.failure() == "XNNPACK ran 470 of 476 nodes: the model ran on the CPU, not the NPU"


def test_the_npu_run_gets_litert_flags_and_the_vendor_library_folder(edgeops_pm, adbd, tmp_path):
    stand_in = stand_in_benchmark_model(tmp_path / "tool", NOT_REGISTERED)
    device = phone(adbd, tmp_path, benchmark_model=str(stand_in), npu_libraries="/vendor/npu")
    m = measure(edgeops_pm, device, compute_unit="npu")
    assert m.status == "error"
    assert m.error.startswith("the NPU accelerator did not register (kLiteRtStatusErrorInvalidArgument)")  # fmt: skip
    argv = received_argv(tmp_path / "tool")
    assert argv[1:] == [
        f"--graph={next(Path(device.labels['remote_dir']).glob('coral__mobilenet*.tflite'))}",
        f"--num_runs={FAST.min_runs}", "--use_npu=true", "--use_cpu=false",
        "--require_full_delegation=true", "--dispatch_library_path=/vendor/npu",
        "--compiler_plugin_library_path=/vendor/npu",
    ]  # fmt: skip
    assert "LD_LIBRARY_PATH=/vendor/npu ADSP_LIBRARY_PATH=/vendor/npu" in m.environment["argv"]


def test_an_npu_run_that_printed_no_results_is_a_recorded_failure(edgeops_pm, adbd, tmp_path):
    stand_in = stand_in_benchmark_model(tmp_path / "tool", STARTED)
    m = measure(edgeops_pm, phone(adbd, tmp_path, benchmark_model=str(stand_in)), compute_unit="npu")  # fmt: skip
    assert m.status == "error" and "no benchmark_model" in m.error


def test_an_npu_fallback_to_the_cpu_is_not_measured_as_npu(edgeops_pm, adbd, tmp_path):
    stand_in = stand_in_benchmark_model(tmp_path / "tool", FALLBACK)
    m = measure(edgeops_pm, phone(adbd, tmp_path, benchmark_model=str(stand_in)), compute_unit="npu")  # fmt: skip
    assert m.status == "error" and m.p50_ms is None and "ran on the CPU" in m.error


def test_the_results_block_of_an_npu_run_is_read_as_compiledmodel_timings(
    edgeops_pm, adbd, tmp_path
):
    # The GPU run's log (see the module docstring): the block LiteRT prints for the NPU too.
    stand_in = stand_in_benchmark_model(tmp_path / "tool", RESULTS)
    m = measure(edgeops_pm, phone(adbd, tmp_path, benchmark_model=str(stand_in)), compute_unit="npu")  # fmt: skip
    assert m.status == "ok", m.error
    assert m.compute_unit == "npu" and m.p50_ms == 7430.20
    assert m.environment["tool"] == "litert-compiledmodel-benchmark_model"
