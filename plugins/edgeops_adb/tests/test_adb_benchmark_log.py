"""Every benchmark log in tests/data/fixtures, parsed; and the variants the README names."""

import pytest

from edgeops_adb.benchmark_log import MEMORY_DEFINITIONS, parse_benchmark_log, to_measurement

from adb_testing import FIXTURES, fixture_text

RPI = "tflite_benchmark_rpi_xnnpack_google-XNNPACK-999.txt"
DESKTOP = "tflite_benchmark_desktop_INFOprefix_tensorflow-73862.txt"
OLD_ANDROID = "tflite_benchmark_android_oldpeakformat_tensorflow-42507.txt"
LOGCAT = "tflite_benchmark_apk_logcat_nnapi_tensorflow-56301.txt"
LITERT = "litert_compiledmodel_benchmark_mlcommons-mobile_app_open-1134.txt"
ORT = "onnxruntime_perf_test_percentiles_onnxruntime-17313.txt"
TFLITE_2018 = "tflite_benchmark_2018_averagetimings_yuenshome-77.txt"
ORT_1X = "onnxruntime_perf_test_1x_cpu_peakws_onnxruntime-4647.txt"
ORT_2020 = "onnxruntime_perf_test_2020_nospace_onnxruntime-2798.txt"
ORT_TWO_RUNS = "onnxruntime_perf_test_two_runs_acl_then_cpu_onnxruntime-4647.txt"


def test_every_benchmark_fixture_is_covered_here():
    logs = {
        p.name
        for p in FIXTURES.glob("*.txt")
        if not p.name.startswith(("android_", "tflite_delegate_lines_", "litert_npu_"))
    }
    assert logs == {
        RPI, DESKTOP, OLD_ANDROID, LOGCAT, LITERT, ORT, TFLITE_2018, ORT_1X, ORT_2020, ORT_TWO_RUNS
    }  # fmt: skip


def test_modern_tflite_log_with_footprint_delta():
    log = parse_benchmark_log(fixture_text(RPI))
    assert log.tool == "tflite-benchmark_model"
    assert (log.init_ms, log.first_ms, log.warmup_avg_ms, log.inference_avg_ms) == (
        18.777,
        64.791,
        57.7582,
        55.0432,
    )
    assert (log.runs, log.inference_min_ms, log.inference_max_ms, log.inference_std_ms) == (
        50,
        53.077,
        60.727,
        1.562,
    )
    assert log.warmup.count == 9 and log.threads == 4 and log.delegates == ("XNNPACK",)
    assert log.graph == "yolo_best_recall_int8_static.tflite"
    (memory,) = log.memory
    assert (memory.init_mb, memory.overall_mb) == (8.97656, 18.7227)
    assert "ru_maxrss" in memory.definition and "since the tool started" in memory.definition


def test_info_prefixed_desktop_log():
    log = parse_benchmark_log(fixture_text(DESKTOP))
    assert (log.init_ms, log.first_ms, log.inference_avg_ms, log.runs) == (
        12.75,
        14.744,
        13.5202,
        74,
    )
    assert log.delegates == ("XNNPACK",)
    assert log.memory == ()  # the excerpt ends before the footprint line


def test_2020_android_log_with_the_old_peak_footprint_line():
    log = parse_benchmark_log(fixture_text(OLD_ANDROID))
    assert (log.init_ms, log.first_ms, log.inference_avg_ms, log.runs) == (
        0.855,
        49.06,
        33.2094,
        50,
    )
    (memory,) = log.memory
    assert (memory.init_mb, memory.overall_mb) == (0.0, 12.8672)
    assert memory.definition == MEMORY_DEFINITIONS["tflite-peak-footprint"]


def test_logcat_prefixed_apk_log_with_nnapi():
    log = parse_benchmark_log(fixture_text(LOGCAT))
    assert (log.init_ms, log.first_ms, log.inference_avg_ms, log.runs) == (
        126.059,
        32.942,
        12.1676,
        75,
    )
    assert log.inference_min_ms == 11.787 and log.warmup.count == 40
    assert log.delegates == ("NNAPI",)


def test_litert_compiled_model_block_in_ms():
    log = parse_benchmark_log(fixture_text(LITERT))
    assert log.tool == "litert-compiledmodel-benchmark_model"
    assert (log.init_ms, log.first_ms, log.inference_avg_ms, log.runs) == (
        23744.73,
        7441.04,
        7430.20,
        10,
    )
    assert (log.inference_min_ms, log.inference_max_ms, log.inference_std_ms) == (
        7416.40,
        7448.86,
        9.92,
    )
    (memory,) = log.memory
    assert (memory.init_mb, memory.overall_mb) == (6391.74, 6391.74)


def test_onnxruntime_perf_test_percentiles_in_seconds():
    log = parse_benchmark_log(fixture_text(ORT))
    assert log.tool == "onnxruntime_perf_test"
    assert log.percentiles_ms[50] == pytest.approx(58.7108)
    assert log.percentiles_ms[99] == pytest.approx(61.9517)
    assert log.inference_min_ms == pytest.approx(55.9777) and log.inference_avg_ms == 58.8053
    assert log.runs == 1000


def test_scientific_notation_and_all_same_lines():
    # Real fixture lines with the two forms the tool's source can print (fixtures/README.md).
    text = (
        fixture_text(RPI)
        .replace(
            "count=50 first=58154 curr=53809 min=53077 max=60727 avg=55043.2 std=1562",
            "count=50 first=2.95e+06 curr=2.9e+06 min=2.8e+06 max=3.1e+06 avg=2.95034e+06 std=1562",
        )
        .replace(
            "count=9 first=64791 curr=56295 min=54873 max=65831 avg=57758.2 std=4065",
            "count=1 curr=64791(all same)",
        )
    )
    text = text.replace(
        "Warmup (avg): 57758.2, Inference (avg): 55043.2",
        "Warmup (avg): 64791, Inference (avg): 2.95034e+06",
    )
    log = parse_benchmark_log(text)
    assert log.inference_avg_ms == pytest.approx(2950.34)
    assert log.inference_min_ms == pytest.approx(2800.0)
    assert (
        log.warmup.all_same
        and log.warmup.values_us["avg"] == 64791.0
        and log.warmup.values_us["std"] == 0.0
    )


def test_a_log_without_results_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="capture the tool's whole output"):
        parse_benchmark_log(fixture_text("android_getprop_nexus5_flutter-4009.txt"))


def test_tflite_log_becomes_a_measurement_that_labels_its_statistics():
    m = to_measurement(parse_benchmark_log(fixture_text(RPI)), "v", "pi", "rpi4", "xnnpack")
    assert m.status == "ok" and m.p50_ms == 55.0432 and m.samples_ms == ()
    assert m.environment["p50_ms_statistic"].startswith("mean of 50 runs")
    assert m.load_ms == 18.777 and m.first_ms == 64.791
    assert m.peak_mem.raw_mb == 18.7227 and m.peak_mem.over_baseline_mb == 18.7227
    assert "ru_maxrss" in m.peak_mem.definition


def test_perf_test_log_becomes_a_measurement_with_its_own_percentiles():
    m = to_measurement(parse_benchmark_log(fixture_text(ORT)), "v", "d", "p", "cpu")
    assert (m.p50_ms, m.p90_ms, m.p99_ms) == pytest.approx((58.7108, 59.9845, 61.9517))
    assert m.environment["p50_ms_statistic"] == "median reported by the tool"
    assert m.peak_mem is None


def test_2018_tflite_log_with_initialized_session_and_average_timings():
    log = parse_benchmark_log(fixture_text(TFLITE_2018))
    assert log.tool == "tflite-benchmark_model"
    # "Average inference timings in us: Warmup: 76605.9, Init: 9933, no stats: 66767.6"
    assert (log.init_ms, log.warmup_avg_ms, log.inference_avg_ms) == (9.933, 76.6059, 66.7676)
    # The first run is the warm-up line's "first=127425"; the timed line has 15 runs.
    assert (log.first_ms, log.runs, log.inference_min_ms, log.inference_std_ms) == (
        127.425,
        15,
        66.699,
        0.039,
    )
    m = to_measurement(log, "v", "phone", "p", "cpu")
    assert (m.status, m.load_ms, m.p50_ms) == ("ok", 9.933, 66.7676)
    assert m.cpu is None and m.peak_mem is None  # the 2018 tool printed neither


def test_2018_log_without_the_summary_line_takes_init_from_initialized_session():
    text = "\n".join(
        line for line in fixture_text(TFLITE_2018).splitlines() if "Average inference" not in line
    )
    log = parse_benchmark_log(text)
    assert (log.init_ms, log.inference_avg_ms) == (9.933, 66.7676)


def test_onnxruntime_perf_test_1x_with_cpu_usage_and_peak_working_set():
    log = parse_benchmark_log(fixture_text(ORT_1X))
    assert log.tool == "onnxruntime_perf_test"
    assert (log.init_ms, log.inference_avg_ms, log.runs) == (127.918, 144.871, 10)
    assert log.cpu_percent_of_all_cores == 68.0
    m = to_measurement(log, "v", "d", "p", "acl")
    assert (m.load_ms, m.p50_ms) == (127.918, 144.871)
    assert m.environment["p50_ms_statistic"].startswith("mean of 10 runs")
    # 158171136 bytes is 150.8438 MiB of the whole process, so no over-baseline figure.
    assert m.peak_mem.raw_mb == pytest.approx(150.8438) and m.peak_mem.over_baseline_mb is None
    assert "Peak working set size" in m.peak_mem.definition
    assert m.cpu.percent_of_all_cores == 68.0
    # The tool divides by a core count it does not print: the share of one core stays empty.
    assert m.cpu.cores is None and m.cpu.percent_of_one_core is None


def test_onnxruntime_perf_test_2020_without_a_space_after_the_colon():
    log = parse_benchmark_log(fixture_text(ORT_2020))
    assert (log.init_ms, log.inference_avg_ms, log.runs) == (1841.49, 734.606, 1)
    m = to_measurement(log, "v", "d", "p", "tensorrt")
    assert m.cpu is None and m.peak_mem is None


def test_a_perf_test_log_of_two_runs_is_refused_not_merged():
    # onnxruntime#4647 posted `-e acl` and then the CPU in one block: read as one run,
    # it became the ACL mean with the CPU's session time, on compute unit `cpu`.
    with pytest.raises(
        ValueError, match=r"2 onnxruntime_perf_test runs \(execution providers: acl, cpu\)"
    ):
        parse_benchmark_log(fixture_text(ORT_TWO_RUNS))
    # One run alone keeps its execution provider.
    first = fixture_text(ORT_TWO_RUNS).split("\n\n")[0]
    log = parse_benchmark_log(first)
    assert (log.init_ms, log.inference_avg_ms, log.delegates) == (127.918, 144.871, ("acl",))
    assert to_measurement(log, "v", "d", "p", "acl").environment["delegates"] == ["acl"]
