"""TFLite's ``benchmark_model`` on a phone: the command for one variant and compute unit.

Phones have no Python, so the probe cannot run there; benchmark_model is
TFLite's own measuring tool. Its path is set per device in the inventory
(label ``benchmark_model``) and pushed from the host when the label names a
local file. Its output is parsed by ``benchmark_log``.
"""

from __future__ import annotations

from edgeops.plugin import MeasureSettings

# One delegate flag set per compute unit; "cpu" turns XNNPACK off so that the two
# CPU paths are measured apart, as the probe does on boards.
COMPUTE_UNIT_FLAGS = {
    "cpu": ["--use_xnnpack=false"],
    "xnnpack": ["--use_xnnpack=true"],
    "gpu": ["--use_gpu=true", "--use_xnnpack=false"],
    "nnapi": ["--use_nnapi=true", "--use_xnnpack=false"],
}


# LiteRT 2.x's benchmark_model (CompiledModel) on the NPU: the flags of LiteRT#6059's run
# and mlcommons/mobile_app_open#1134's. Full delegation is required so a model the NPU
# refuses fails instead of running on the CPU unnoticed (LiteRT#7891).
NPU_UNIT = "npu"


def npu_argv(binary: str, model: str, settings: MeasureSettings, libraries: str) -> list[str]:
    """argv for LiteRT's benchmark_model on the NPU; ``libraries`` is the device folder with
    the vendor's runtime (QAIRT's libQnn*.so, ...) and libLiteRtDispatch_<vendor>.so."""
    return [
        "env",
        # The dispatch library dlopens the vendor runtime; the Hexagon DSP loads its skel
        # libraries through ADSP_LIBRARY_PATH (LiteRT-LM#1979's command line).
        f"LD_LIBRARY_PATH={libraries}",
        f"ADSP_LIBRARY_PATH={libraries}",
        binary,
        f"--graph={model}",
        f"--num_runs={settings.min_runs}",
        "--use_npu=true",
        "--use_cpu=false",
        "--require_full_delegation=true",
        f"--dispatch_library_path={libraries}",
        f"--compiler_plugin_library_path={libraries}",
    ]


def benchmark_argv(
    binary: str,
    model: str,
    compute_unit: str,
    settings: MeasureSettings,
    big_cores: str | None = None,
) -> list[str]:
    """argv for one run; ``big_cores`` (a taskset mask such as "f0") pins it to those cores.

    Pinning keeps the OS from moving the run between big and little cores,
    which on phones changes latency several-fold.
    """
    flags = COMPUTE_UNIT_FLAGS.get(compute_unit)
    if flags is None:
        raise ValueError(
            f"benchmark_model has no compute unit {compute_unit!r}; use one of "
            f"{sorted([*COMPUTE_UNIT_FLAGS, NPU_UNIT])}"
        )
    argv = [
        binary,
        f"--graph={model}",
        f"--warmup_runs={settings.warmup_runs}",
        f"--num_runs={settings.min_runs}",
        f"--min_secs={settings.min_duration_s:g}",
        # The timed runs stop at half the time limit, so loading and warm-up fit in the
        # other half and the tool prints its results before the device's timeout kills it.
        f"--max_secs={settings.timeout_s / 2:g}",
        # Prints "Overall peak memory footprint (MB) via periodic monitoring", a real peak.
        "--report_peak_memory_footprint=true",
        *flags,
    ]
    if settings.threads:
        argv.append(f"--num_threads={settings.threads}")
    if big_cores:
        argv = ["taskset", big_cores, *argv]
    return argv
