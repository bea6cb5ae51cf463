"""A measurement of one variant on one device and compute unit, and its parts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from edgeops.models.artifacts import Quality
from edgeops.models.base import Frozen, MeasurementStatus, Method, utc_now


class PeakMemory(Frozen):
    raw_mb: float
    baseline_mb: float | None
    over_baseline_mb: float | None
    definition: str


class CpuShare(Frozen):
    """Process CPU time (user + system) over wall time during a timed loop.

    100 % of one core is one core kept busy; ``percent_of_all_cores`` divides by
    the core count, as onnxruntime_perf_test's "Avg CPU usage" does
    (onnxruntime/test/perftest/posix/utils.cc). A figure a source does not give
    stays None, never derived from a guessed core count.
    """

    cpu_s: float | None = None
    wall_s: float | None = None
    cores: int | None = None
    percent_of_one_core: float | None = None
    percent_of_all_cores: float | None = None
    definition: str


class PacedRun(Frozen):
    """Inputs fed at a camera's rate for a while: what an app running at that rate sees.

    A frame is due every 1/target_fps seconds; a frame that arrives while an
    inference is still running is dropped, as a camera pipeline that keeps only
    the latest frame does.
    """

    target_fps: float
    duration_s: float
    frames: int = Field(description="Inferences completed")
    dropped_frames: int = Field(description="Frames that came due while an inference ran")
    over_budget_frames: int = Field(description="Inferences that took longer than 1/target_fps")
    achieved_fps: float
    samples_ms: tuple[float, ...] = ()
    p50_ms: float | None = None
    p90_ms: float | None = None
    cpu: CpuShare | None = None


class Interval(Frozen):
    """Where a predicted p50 lies with a stated probability (a prediction's uncertainty)."""

    low_ms: float
    high_ms: float
    coverage: float | None = Field(
        description="Share of held-out published figures such intervals are built to cover "
        "(0.9 for a 90% split-conformal interval); None where no calibration backs it"
    )
    method: str = Field(description="How the interval was made, in words")


class UnitShare(Frozen):
    """How much of a graph one compute unit or delegate ran."""

    unit: str = Field(description="As the runtime names it: 'XNNPACK', 'GPU', 'CPU', an EP")
    nodes: int = Field(ge=0, description="Graph nodes (ops) it ran")
    time_ms: float | None = Field(None, description="Time it took per inference, where known")


class Placement(Frozen):
    """Where a measurement's graph ran: nodes (and time, where known) per unit, and partitions.

    Read from what the runtime itself reported (a delegate's log line, a profile, the
    executed graph), never assumed from the compute unit that was asked for.
    """

    units: tuple[UnitShare, ...]
    graph_nodes: int | None = Field(
        None, description="Nodes in the whole graph, where reported; None: only delegated known"
    )
    accelerator: str | None = Field(
        None, description="The unit the measurement asked for, as the runtime names it"
    )
    partitions: int | None = Field(None, description="Delegated partitions, where reported")
    source: str = Field(description="What it was read from: a log line, a profile, the graph")
    where: Literal["host", "device"] = Field(description="Read on this host or on the device")

    @property
    def total_nodes(self) -> int | None:
        return self.graph_nodes

    def share(self, unit: str | None = None) -> float | None:
        """Share of the work on ``unit`` (the accelerator by default): by time where every
        unit has a time, by nodes of the whole graph otherwise; None when not known."""
        name = unit or self.accelerator
        if name is None or not self.units:
            return None
        if any(u.unit == name for u in self.units) and all(
            u.nodes == 0 for u in self.units if u.unit == name
        ):
            return 0.0  # nothing ran there, whatever the graph's size
        if all(u.time_ms is not None for u in self.units):
            total_ms = sum(u.time_ms or 0.0 for u in self.units)
            part_ms = sum(u.time_ms or 0.0 for u in self.units if u.unit == name)
            return part_ms / total_ms if total_ms > 0 else None
        if not self.graph_nodes:
            return None
        return sum(u.nodes for u in self.units if u.unit == name) / self.graph_nodes

    def summary(self) -> str:
        """'TfLiteXNNPackDelegate 246 of 246 nodes, 1 partition'."""
        total = "?" if self.graph_nodes is None else str(self.graph_nodes)
        parts = [f"{u.unit} {u.nodes} of {total} nodes" for u in self.units]
        if self.partitions is not None:
            parts.append(f"{self.partitions} partition{'s' if self.partitions != 1 else ''}")
        return ", ".join(parts)


class Measurement(Frozen):
    variant_id: str
    device_id: str
    profile_id: str
    compute_unit: str
    status: MeasurementStatus
    error: str | None = None
    method: Method = "measured"
    load_ms: float | None = None
    first_ms: float | None = None
    samples_ms: tuple[float, ...] = ()
    rounds: int = 0
    round_sizes: tuple[int, ...] = Field(
        (), description="Samples per round, in order: each round is a fresh process"
    )
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = Field(
        None,
        description="Mean of the timed runs, for an imported log that holds a mean and no "
        "median (benchmark_model): kept under its own name, never as p50_ms",
    )
    p50_interval: Interval | None = Field(
        None,
        description="Where the true p50 is expected to lie: a prediction's interval, or a "
        "measurement's 95% t interval over its rounds (None with one round)",
    )
    peak_mem: PeakMemory | None = None
    cpu: CpuShare | None = Field(None, description="CPU share during the unpaced timed loop")
    throughput_fps: float | None = Field(
        None, description="Unpaced: timed runs over the timed loop's wall time"
    )
    paced: tuple[PacedRun, ...] = ()
    warm_load_ms: float | None = Field(
        None, description="A second load in the same process, with the file cache warm"
    )
    cold_load: str | None = Field(
        None, description="What made load_ms a cold load, or why it could not be made one"
    )
    placement: Placement | None = Field(
        None, description="Where the graph ran, as the runtime reported it (None: not reported)"
    )
    device_quality: Quality | None = Field(
        None,
        description="Quality of the outputs the device returned for the first samples "
        "(where: device), once per variant, device and unit; None: not asked or not got",
    )
    device_outputs: Path | None = Field(
        None, description="Those outputs (outputs.npz), kept for the report's gallery"
    )
    environment: dict[str, Any] = {}
    measured_at: datetime = Field(default_factory=utc_now)
    round_ids: tuple[int, ...] | None = Field(
        None, description="Each round's place in the session's interleaving (gate/pairing.py)"
    )
    remeasured_from: str | None = Field(
        None, description="A baseline's primary measured again here: its run (gate/pairing.py)"
    )

    @property
    def peak_mem_mb(self) -> float | None:
        """The figure selection compares with an app's memory limit: the model's own cost."""
        if self.peak_mem is None:
            return None
        if self.peak_mem.over_baseline_mb is not None:
            return self.peak_mem.over_baseline_mb
        return self.peak_mem.raw_mb
