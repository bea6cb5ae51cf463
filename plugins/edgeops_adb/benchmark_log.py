"""Logs of TFLite/LiteRT ``benchmark_model`` and ``onnxruntime_perf_test``, as Measurements.

Formats read (one real example of each in tests/data/fixtures):

- TFLite ``benchmark_model``, every age: 2018 builds' ``Initialized session in
  ..ms`` and ``Average inference timings in us: Warmup: .., Init: .., no stats:
  ..``; 2020 builds' ``Peak memory footprint
  (MB): init=.. overall=..``; later ``Memory footprint delta from the start of
  the tool (MB)``; ``INFO:`` and logcat prefixes; ``avg=2.95034e+06``;
  ``curr=X(all same)``;
- LiteRT CompiledModel ``benchmark_model``: the ``BENCHMARK RESULTS`` block, in ms;
- ``onnxruntime_perf_test``: averages and latency percentiles, in seconds; 1.x
  builds' ``Session creation time cost``, ``Average inference time cost``,
  ``Avg CPU usage`` and ``Peak working set size`` lines, with or without a
  space after the colon.

Every memory figure carries its definition: the TFLite footprints are growth of
the process's peak resident memory (``ru_maxrss``) since the tool started, not
current RSS, and not the model's own size (fixtures/README.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from edgeops.plugin import CpuShare, Measurement, PeakMemory

from .tool_lines import clean_lines

Tool = Literal[
    "tflite-benchmark_model", "litert-compiledmodel-benchmark_model", "onnxruntime_perf_test"
]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_STAT = re.compile(rf"(\w+)=({_NUMBER})")
_TIMINGS = re.compile(
    rf"Inference timings in us: Init: ({_NUMBER}), First inference: ({_NUMBER}), "
    rf"Warmup \(avg\): ({_NUMBER}), Inference \(avg\): ({_NUMBER})"
)
# 2018 builds: "Initialized session in 9.933ms" and a one-line summary of averages.
_INITIALIZED = re.compile(rf"^Initialized session in ({_NUMBER})\s*ms")
_AVERAGE_TIMINGS_2018 = re.compile(
    rf"Average inference timings in us: Warmup: ({_NUMBER}), Init: ({_NUMBER}), "
    rf"no stats: ({_NUMBER})"
)
_FOOTPRINT_OLD = re.compile(rf"Peak memory footprint \(MB\): init=({_NUMBER}) overall=({_NUMBER})")
_FOOTPRINT_DELTA = re.compile(
    rf"Memory footprint delta from the start of the tool \(MB\): init=({_NUMBER}) overall=({_NUMBER})"
)
_FOOTPRINT_MONITOR = re.compile(
    rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUMBER})"
)
_LITERT = re.compile(rf"^(Model initialization|Warmup \(first\)|Warmup \(avg\)|Inference \(avg\)|"
                     rf"Inference \(min\)|Inference \(max\)|Inference \(std\)|Init footprint|"
                     rf"Overall footprint):\s+({_NUMBER})\s*(ms|MB)?(?:\s+\((\d+) runs\))?")  # fmt: skip
_ORT_PERCENTILE = re.compile(rf"^P(\d+) Latency is ({_NUMBER}) sec")
_ORT_MINMAX = re.compile(rf"^(Min|Max) Latency is ({_NUMBER}) sec")
_ORT_AVERAGE = re.compile(rf"^Average time cost: ({_NUMBER}) ms")
_ORT_ITERATIONS = re.compile(r"^Total (?:iterations|inference requests):\s*(\d+)")
# onnxruntime_perf_test 1.x (onnxruntime#2798, #4647): the older names of the same figures.
_ORT_SESSION = re.compile(rf"^Session creation time cost:\s*({_NUMBER}) s")
_ORT_AVERAGE_1X = re.compile(rf"^Average inference time cost:\s*({_NUMBER}) ms")
_ORT_CPU = re.compile(rf"^Avg CPU usage:\s*({_NUMBER}) %")
_ORT_PEAK_WORKING_SET = re.compile(r"^Peak working set size:\s*(\d+) bytes")

MEMORY_DEFINITIONS = {
    "tflite-peak-footprint": (
        "benchmark_model 'Peak memory footprint' (2020 builds): growth of the process's peak "
        "resident memory (ru_maxrss) since the tool started; init = after loading, overall = end"
    ),
    "tflite-footprint-delta": (
        "benchmark_model 'Memory footprint delta from the start of the tool': growth of the "
        "process's peak resident memory (ru_maxrss) since the tool started; init = after "
        "loading, overall = end"
    ),
    "tflite-periodic-peak": (
        "benchmark_model 'Overall peak memory footprint via periodic monitoring': the highest "
        "resident memory sampled while it ran"
    ),
    "ort-peak-working-set": (
        "onnxruntime_perf_test 'Peak working set size': the process's peak resident memory "
        "(ru_maxrss on Linux and Android, PeakWorkingSetSize on Windows), runtime and tool "
        "included (onnxruntime/test/perftest/posix/utils.cc)"
    ),
    "litert-footprint": (
        "LiteRT CompiledModel benchmark_model 'Overall footprint': growth of the process's peak "
        "resident memory since the tool started"
    ),
}


@dataclass(frozen=True)
class RunStats:
    """One ``count=.. first=.. curr=.. min=.. max=.. avg=.. std=..`` line, in microseconds."""

    count: int
    values_us: dict[str, float]
    all_same: bool = False


@dataclass(frozen=True)
class MemoryFigure:
    init_mb: float | None
    overall_mb: float
    definition: str


@dataclass(frozen=True)
class BenchmarkLog:
    tool: Tool
    init_ms: float | None = None
    first_ms: float | None = None
    warmup_avg_ms: float | None = None
    inference_avg_ms: float | None = None
    inference_min_ms: float | None = None
    inference_max_ms: float | None = None
    inference_std_ms: float | None = None
    runs: int | None = None
    percentiles_ms: dict[int, float] = field(default_factory=dict)
    memory: tuple[MemoryFigure, ...] = ()
    threads: int | None = None
    graph: str | None = None
    delegates: tuple[str, ...] = ()
    warmup: RunStats | None = None
    inference: RunStats | None = None
    cpu_percent_of_all_cores: float | None = None


def parse_benchmark_log(text: str) -> BenchmarkLog:
    """Parse any of the supported logs; ValueError when ``text`` holds none of them."""
    lines = clean_lines(text)
    if any(line.startswith("Model initialization:") for line in lines):
        return _parse_litert(lines)
    if any(
        _ORT_PERCENTILE.match(line) or _ORT_AVERAGE.match(line) or _ORT_AVERAGE_1X.match(line)
        for line in lines
    ):
        return _parse_ort(lines)
    if any(line.startswith("count=") or _TIMINGS.search(line) for line in lines):
        return _parse_tflite(lines)
    raise ValueError(
        "no benchmark_model or onnxruntime_perf_test results in this log; capture the tool's "
        "whole output (stdout, or logcat with tag tflite)"
    )


def _parse_tflite(lines: list[str]) -> BenchmarkLog:
    values: dict[str, Any] = {"tool": "tflite-benchmark_model"}
    stats = [_run_stats(line) for line in lines if line.startswith("count=")]
    memory: list[MemoryFigure] = []
    delegates: list[str] = []
    for line in lines:
        if match := _TIMINGS.search(line):
            init_us, first_us, warmup_us, avg_us = (float(g) for g in match.groups())
            values.update(
                init_ms=_ms(init_us), first_ms=_ms(first_us),
                warmup_avg_ms=_ms(warmup_us), inference_avg_ms=_ms(avg_us),
            )  # fmt: skip
        elif match := _AVERAGE_TIMINGS_2018.search(line):
            warmup_us, init_us, avg_us = (float(g) for g in match.groups())
            values.update(
                init_ms=_ms(init_us), warmup_avg_ms=_ms(warmup_us), inference_avg_ms=_ms(avg_us)
            )
        elif (match := _INITIALIZED.match(line)) and "init_ms" not in values:
            values["init_ms"] = float(match.group(1))
        elif match := _FOOTPRINT_OLD.search(line):
            memory.append(_figure(match, "tflite-peak-footprint"))
        elif match := _FOOTPRINT_DELTA.search(line):
            memory.append(_figure(match, "tflite-footprint-delta"))
        elif match := _FOOTPRINT_MONITOR.search(line):
            memory.append(
                MemoryFigure(
                    None, float(match.group(1)), MEMORY_DEFINITIONS["tflite-periodic-peak"]
                )
            )
        elif match := re.match(r"^Num threads: \[(\d+)\]", line):
            values["threads"] = int(match.group(1))
        elif match := re.match(r"^Graph: \[(.*)\]", line):
            values["graph"] = match.group(1)
        elif (match := re.search(r"Created TensorFlow Lite (\S+) delegate", line)) or (
            match := re.search(r"Explicitly applied (\S+) delegate", line)
        ):
            delegates.append(match.group(1))
    if stats:
        # The warm-up line comes first and the timed runs' line last.
        values["warmup"] = stats[0] if len(stats) > 1 else None
        timed = stats[-1]
        values["inference"] = timed
        values["runs"] = timed.count
        us = timed.values_us
        values.setdefault("inference_avg_ms", _ms(us.get("avg", 0.0)))
        if "first" in us and "first_ms" not in values:
            values["first_ms"] = _ms(stats[0].values_us["first"])
        for key in ("min", "max", "std"):
            if key in us:
                values[f"inference_{key}_ms"] = _ms(us[key])
    values["memory"] = tuple(memory)
    values["delegates"] = tuple(dict.fromkeys(delegates))
    return BenchmarkLog(**values)


def _ms(microseconds: float) -> float:
    # Rounded to the tools' own precision, so 57758.2 us is 57.7582 ms, not 57.758199999.
    return round(microseconds / 1000.0, 6)


def _run_stats(line: str) -> RunStats:
    # "curr=12(all same)": every run took the same time, so min, max, avg equal curr.
    all_same = "(all same)" in line
    pairs = {k: float(v) for k, v in _STAT.findall(line.replace("(all same)", " "))}
    count = int(pairs.pop("count", 0))
    if all_same and "curr" in pairs:
        for key in ("first", "min", "max", "avg"):
            pairs.setdefault(key, pairs["curr"])
        pairs.setdefault("std", 0.0)
    return RunStats(count=count, values_us=pairs, all_same=all_same)


def _figure(match: re.Match[str], kind: str) -> MemoryFigure:
    return MemoryFigure(float(match.group(1)), float(match.group(2)), MEMORY_DEFINITIONS[kind])


def _parse_litert(lines: list[str]) -> BenchmarkLog:
    found: dict[str, tuple[float, int | None]] = {}
    for line in lines:
        if match := _LITERT.match(line):
            runs = int(match.group(4)) if match.group(4) else None
            found[match.group(1)] = (float(match.group(2)), runs)
    memory: tuple[MemoryFigure, ...] = ()
    if "Overall footprint" in found:
        init = found.get("Init footprint", (None, None))[0]
        memory = (
            MemoryFigure(
                init, found["Overall footprint"][0], MEMORY_DEFINITIONS["litert-footprint"]
            ),
        )

    def ms(key: str) -> float | None:
        return found[key][0] if key in found else None

    return BenchmarkLog(
        tool="litert-compiledmodel-benchmark_model",
        init_ms=ms("Model initialization"),
        first_ms=ms("Warmup (first)"),
        warmup_avg_ms=ms("Warmup (avg)"),
        inference_avg_ms=ms("Inference (avg)"),
        inference_min_ms=ms("Inference (min)"),
        inference_max_ms=ms("Inference (max)"),
        inference_std_ms=ms("Inference (std)"),
        runs=found.get("Inference (avg)", (0.0, None))[1],
        memory=memory,
    )


_ORT_COMMAND = re.compile(r"onnxruntime_perf_test(?:\.exe)?\s+-")
_ORT_PROVIDER = re.compile(r"\s-e\s+(\S+)")
# Lines each run prints once: two of any of them are two runs.
_ORT_ONCE_PER_RUN = (_ORT_SESSION, _ORT_AVERAGE, _ORT_AVERAGE_1X, _ORT_ITERATIONS)


def _ort_providers(lines: list[str]) -> list[str]:
    """The execution provider of each command line in the log (``-e``; none is the CPU)."""
    return [
        match.group(1) if (match := _ORT_PROVIDER.search(line)) else "cpu"
        for line in lines
        if _ORT_COMMAND.search(line) and not line.startswith(("Session", "Total", "Average"))
    ]


def _parse_ort(lines: list[str]) -> BenchmarkLog:
    # One log holding two runs (onnxruntime#4647: `-e acl`, then the CPU) read as one
    # gave a chimera, one run's figures with the other's. Each run is imported alone.
    runs = max(sum(1 for line in lines if pattern.match(line)) for pattern in _ORT_ONCE_PER_RUN)
    providers = _ort_providers(lines)
    if runs > 1 or len(providers) > 1:
        count = max(runs, len(providers))
        named = f" (execution providers: {', '.join(providers)})" if providers else ""
        raise ValueError(
            f"this log holds {count} onnxruntime_perf_test runs{named}; save each run's output "
            "to its own file and import each with its own --compute-unit"
        )
    values: dict[str, Any] = {"tool": "onnxruntime_perf_test"}
    if providers:
        values["delegates"] = tuple(providers)
    percentiles: dict[int, float] = {}
    for line in lines:
        if match := _ORT_PERCENTILE.match(line):
            percentiles[int(match.group(1))] = _ms(float(match.group(2)) * 1e6)
        elif match := _ORT_MINMAX.match(line):
            values[f"inference_{match.group(1).lower()}_ms"] = _ms(float(match.group(2)) * 1e6)
        elif (match := _ORT_AVERAGE.match(line)) or (match := _ORT_AVERAGE_1X.match(line)):
            values["inference_avg_ms"] = float(match.group(1))
        elif match := _ORT_ITERATIONS.match(line):
            values["runs"] = int(match.group(1))
        elif match := _ORT_SESSION.match(line):
            values["init_ms"] = _ms(float(match.group(1)) * 1e6)
        elif match := _ORT_CPU.match(line):
            values["cpu_percent_of_all_cores"] = float(match.group(1))
        elif match := _ORT_PEAK_WORKING_SET.match(line):
            overall_mb = round(int(match.group(1)) / (1024.0 * 1024.0), 4)
            values["memory"] = (
                MemoryFigure(None, overall_mb, MEMORY_DEFINITIONS["ort-peak-working-set"]),
            )
    return BenchmarkLog(**values, percentiles_ms=percentiles)


# --------------------------------------------------------------------------- → Measurement


def to_measurement(
    log: BenchmarkLog,
    variant_id: str,
    device_id: str,
    profile_id: str,
    compute_unit: str,
    environment: dict[str, Any] | None = None,
) -> Measurement:
    """A Measurement from a parsed log: the figures the tool printed, each labelled.

    These tools print aggregates, not raw samples, so ``samples_ms`` stays empty.
    Where the tool prints no median (benchmark_model), p50 is its average and
    ``environment['p50_ms_statistic']`` says so.
    """
    env: dict[str, Any] = {"tool": log.tool, **(environment or {})}
    if log.threads is not None:
        env["threads"] = log.threads
    if log.delegates:
        env["delegates"] = list(log.delegates)
    if log.runs is not None:
        env["runs"] = log.runs
    if log.inference_avg_ms is not None:
        env["mean_ms"] = log.inference_avg_ms
    p50, p90, p99 = (log.percentiles_ms.get(q) for q in (50, 90, 99))
    if p50 is None and log.inference_avg_ms is not None:
        p50 = log.inference_avg_ms
        env["p50_ms_statistic"] = f"mean of {log.runs or '?'} runs ({log.tool} prints no median)"
    else:
        env["p50_ms_statistic"] = "median reported by the tool"
    peak = None
    whole_process = (
        MEMORY_DEFINITIONS["tflite-periodic-peak"],
        MEMORY_DEFINITIONS["ort-peak-working-set"],
    )
    if log.memory:
        # The periodic-monitor figure is a real peak; prefer it over the growth figures.
        figure = next((m for m in log.memory if m.definition in whole_process), log.memory[0])
        growth = figure.definition not in whole_process
        peak = PeakMemory(
            raw_mb=figure.overall_mb,
            baseline_mb=None,
            over_baseline_mb=figure.overall_mb if growth else None,
            definition=figure.definition,
        )
    return Measurement(
        variant_id=variant_id,
        device_id=device_id,
        profile_id=profile_id,
        compute_unit=compute_unit,
        status="ok" if p50 is not None else "error",
        error=None if p50 is not None else "the log holds no inference timings",
        load_ms=log.init_ms,
        first_ms=log.first_ms,
        rounds=1,
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        peak_mem=peak,
        cpu=_cpu_share(log),
        environment=env,
    )


def _cpu_share(log: BenchmarkLog) -> CpuShare | None:
    # The tool divides by a core count it does not print, so the share of one core stays empty.
    if log.cpu_percent_of_all_cores is None:
        return None
    return CpuShare(
        percent_of_all_cores=log.cpu_percent_of_all_cores,
        definition=(
            "onnxruntime_perf_test 'Avg CPU usage': process user+system CPU time over wall time, "
            "divided by the core count, from the tool's counter reset to its summary "
            "(onnxruntime/test/perftest/posix/utils.cc)"
        ),
    )
