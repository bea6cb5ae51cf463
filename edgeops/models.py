"""The data that moves between stages (DESIGN §3).

Every model is frozen and serialisable, so any stage can run alone from the
JSON the stage before it wrote. Units are in the field names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeops.options.declare import declared
from edgeops.options.measure import MeasureOptions
from edgeops.options.selection import Objective, SelectionOptions

RESULTS_SCHEMA_VERSION = "1.0"
# 1.1 added inputs, outputs, profiles' platform and match keys, choices' runtime and min_os,
# variants' delegates. Readers ignore keys they do not know: 1.x only adds, 2.0 would change.
MANIFEST_SCHEMA_VERSION = "1.1"

Task = Literal["classification", "segmentation", "image-to-image", "generic"]
Platform = Literal["ios", "android", "linux", "macos"]
# "labgrid": a profile's places on a labgrid farm; the place is chosen when it is reserved.
Transport = Literal["local", "ssh", "adb", "mac-host", "labgrid"]
# "device_failed": the device or its transport failed (retried, then quarantined), not the
# model; a profile with one is "device_failed", never "unsupported" (issue 10).
MeasurementStatus = Literal[
    "ok", "unsupported", "oom", "load_failed", "timeout", "error", "device_failed"
]
PlanStatus = Literal["supported", "unsupported", "not_measured", "device_failed", "not_converted"]
Method = Literal["measured", "predicted"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- model spec


class InputSpec(Frozen):
    name: str
    shape: tuple[int, ...] = Field(description="Concrete shape; symbolic dimensions become 1.")
    dtype: str = "float32"
    layout: str | None = Field(
        None, description="e.g. NCHW or NHWC; informs metrics and converters"
    )
    value_range: tuple[float, float] = (0.0, 1.0)


class QualityFloor(Frozen):
    metric: str
    floor: float
    higher_is_better: bool = True


class QualitySpec(Frozen):
    metric: str = Field(
        description="Metric name the floor applies to, e.g. iou, top1_agreement, snr_db"
    )
    floor: float = Field(description="Lowest acceptable value of the metric")
    higher_is_better: bool = True
    floors: tuple[QualityFloor, ...] = Field(
        (), description="More floors a variant must meet as well: no one metric decides alone"
    )
    user_metric: str | None = Field(
        None,
        description="'file.py:function' called with (outputs, reference, labels); its value is "
        "the metric named after the function",
    )
    user_metric_sha256: str | None = Field(None, description="The user metric's code, for caches")

    def all_floors(self) -> tuple[QualityFloor, ...]:
        return (
            QualityFloor(
                metric=self.metric, floor=self.floor, higher_is_better=self.higher_is_better
            ),
            *self.floors,
        )


class ModelSpec(Frozen):
    """What to ship: from edgeops.toml or CLI flags."""

    name: str
    version: str = "0.0.0"
    source: str = Field(description="A model file, or a PyTorch factory 'file.py:function'")
    source_sha256: str = Field(description="Hash of the source (the .py files for a factory)")
    task: Task = "generic"
    inputs: tuple[InputSpec, ...] = ()
    samples: str | None = Field(None, description="Folder of .npy/.npz, or 'file.py:function'")
    sample_count: int = 16
    labels: str | None = Field(
        None,
        description="Ground truth per sample, in the samples' order: a folder of .npy or "
        "'file.py:function'; the report ranks samples against it too",
    )
    quality: QualitySpec
    recipes: tuple[str, ...] | None = Field(
        None, description="Restrict the sweep to these recipe names"
    )
    latency_budget_ms: float | None = None
    fallback_max_slowdown: float | None = Field(
        None, description="See SelectionPolicy.fallback_max_slowdown; None: its default"
    )
    placement_min_share: float | None = Field(
        None, description="See SelectionPolicy.placement_min_share; None: its default"
    )
    resolution: tuple[int, int] | None = Field(
        None,
        description="Set on the spec of one size of a resolution sweep: samples of another "
        "size are resized to it (otherwise a size mismatch is an error)",
    )
    resolutions: tuple[tuple[int, int], ...] = Field(
        (),
        description="(height, width) sizes for the first input: `edgeops resolutions` runs "
        "the model at each",
    )
    sweep: tuple[dict[str, Any], ...] = Field(
        (),
        description="[[sweep]] tables: a recipe family and its typed parameters, lists as axes",
    )

    def __hash__(self) -> int:
        # pydantic's frozen hash fails on the [[sweep]] dicts, and backends cache
        # conversions per spec (functools.lru_cache): a config with a sweep made
        # every Core ML conversion fail with "unhashable type: 'dict'".
        return hash(self.model_dump_json())

    @property
    def source_path(self) -> Path:
        return Path(self.source.split(":", 1)[0]) if self.is_factory else Path(self.source)

    @property
    def is_factory(self) -> bool:
        from edgeops.pipeline.factories import is_factory

        return is_factory(self.source)


class SampleSet(Frozen):
    """Inputs for quality and calibration, materialised as one .npz (keys: '<input>/<index>')."""

    path: Path
    sha256: str
    count: int
    synthetic: bool = Field(
        description="True when no samples were given and random inputs stand in"
    )
    origin: str


class ReferenceOutputs(Frozen):
    """Outputs of the source model, in its own framework, on every sample."""

    path: Path = Field(description=".npz with keys '<output>/<index>'")
    sha256: str
    framework: str
    output_names: tuple[str, ...]
    label_metrics: dict[str, float] = Field(
        {},
        description="The reference's own accuracy against the labels (and the user metric), "
        "so the loss a variant causes shows beside it",
    )


# --------------------------------------------------------------------------- artifacts


class StepConfig(Frozen):
    """A typed recipe step, declared by the plugin that owns it (in the manner of Olive's
    pass configs): one described field per parameter, so a typo is an error at once.

    A subclass sets ``op`` and its fields::

        class Palettize(StepConfig):
            op: ClassVar[str] = "palettize"
            nbits: Literal[1, 2, 3, 4, 6, 8] = Field(description="bits per weight index")
    """

    op: ClassVar[str] = ""
    # The fields that change which kernels run (int8-full against int8-dynamic, fp16
    # against int8): pruning compares two variants only when these agree. None (the
    # default) means every field: a plugin that says nothing is never compared across
    # settings it did not describe. A field left out is an amount (bits, sparsity,
    # group size), over which a smaller, better variant dominates.
    kind_fields: ClassVar[tuple[str, ...] | None] = None

    def to_step(self) -> RecipeStep:
        return RecipeStep(
            op=self.op, params=self.model_dump(mode="json"), kind_fields=self.kind_fields
        )


class KeepFloatStep(StepConfig):
    """A quantizing step that can keep some layers in float (mixed precision, issue 25).

    A backend's quantizing step subclasses it and passes ``float_layers`` to its
    tool's own mechanism (ONNX Runtime's ``nodes_to_exclude``, ...). With
    ``keep_float = "auto"`` the pipeline searches for the fewest such layers
    (``edgeops.pipeline.keep_float``) and hands the step explicit ``float_layers``;
    the backend never sees ``"auto"``.
    """

    keep_float: Literal["none", "auto"] = Field(
        "none",
        description="'auto': keep in float the fewest layers that bring the floor metric "
        "within max_drop of the float model's, found by a sensitivity search on the samples",
    )
    max_drop: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="keep_float='auto': largest relative drop of the floor metric from float",
    )
    float_layers: tuple[str, ...] = Field(
        (), description="Layers (names in the converted graph) left in float; the rest quantized"
    )

    @model_validator(mode="after")
    def _auto_or_explicit(self) -> KeepFloatStep:
        if self.keep_float == "auto" and self.float_layers:
            raise ValueError("give float_layers or keep_float = 'auto', not both")
        return self


class RecipeStep(Frozen):
    """A step as stored in results.json: its op and the validated fields of its StepConfig."""

    op: str
    params: dict[str, Any] = {}
    kind_fields: tuple[str, ...] | None = Field(
        None,
        description="The params that define the step's kind (the kernels it runs); "
        "None: all of them. Pruning compares only variants of one kind.",
    )

    def kind(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The op and its kind-defining params: what two steps must share to be compared."""
        names = sorted(self.params) if self.kind_fields is None else self.kind_fields
        return self.op, tuple((n, repr(self.params.get(n))) for n in names)


StepT = TypeVar("StepT", bound=StepConfig)


class Recipe(Frozen):
    """One point of the sweep for one format, proposed by ``edgeops_recipes``.

    Its owner, the plugin that proposed it, alone answers ``edgeops_optimize`` for it.
    """

    name: str = Field(description="Short, unique within a format, e.g. 'int8-static'")
    format: str
    owner: str = Field(
        "", description="Name of the plugin that proposed it; set by the pipeline on collection"
    )
    steps: tuple[RecipeStep, ...] = ()
    deployment_target: str | None = Field(
        None, description="Oldest OS the variant must load on, e.g. 'iOS16'"
    )
    compute_precision: Literal["float32", "float16"] | None = Field(
        None, description="Precision the runtime computes in, where the format fixes it"
    )
    description: str = Field("", description="Prose for people; not part of any cache key")

    @property
    def id(self) -> str:
        """The stable name a config and the reports use: ``format:name``."""
        return f"{self.format}:{self.name}"

    @classmethod
    def of(
        cls,
        *,
        name: str,
        format: str,
        steps: Sequence[StepConfig] = (),
        owner: str = "",
        deployment_target: str | None = None,
        compute_precision: Literal["float32", "float16"] | None = None,
        description: str = "",
    ) -> Recipe:
        """Build a recipe from typed steps (validated now, stored in their wire form)."""
        return cls(
            name=name,
            format=format,
            owner=owner,
            steps=tuple(s.to_step() for s in steps),
            deployment_target=deployment_target,
            compute_precision=compute_precision,
            description=description,
        )

    def typed_steps(self, *classes: type[StepConfig]) -> list[StepConfig]:
        """The steps parsed back into the owner's classes; an unknown op or field raises."""
        by_op = {c.op: c for c in classes}
        out = []
        for step in self.steps:
            if step.op not in by_op:
                known = ", ".join(sorted(by_op)) or "none"
                raise ValueError(f"{self.id}: unknown step {step.op!r} (known: {known})")
            out.append(by_op[step.op].model_validate(step.params))
        return out

    def step_of(self, cls: type[StepT]) -> StepT | None:
        """The first step of type ``cls``, parsed, or None."""
        for step in self.steps:
            if step.op == cls.op:
                return cls.model_validate(step.params)
        return None

    @property
    def keeps_float(self) -> bool:
        """A mixed-precision recipe: a step keeps layers in float, given or searched.

        Such a variant runs float kernels beside int8 ones, so it is a kind of its
        own, never compared with the full-int8 recipe it came from as the same kind.
        """
        return any(
            s.params.get("keep_float") == "auto" or s.params.get("float_layers") for s in self.steps
        )

    def cache_identity(self) -> dict[str, Any]:
        """What makes two recipes the same file: everything but the prose."""
        # kind_fields is a pruning hint, not part of the file: old caches stay valid.
        return self.model_dump(
            mode="json", exclude={"description": True, "steps": {"__all__": {"kind_fields"}}}
        )


class QuantizedLayer(Frozen):
    """A layer a quantizing recipe quantized, as its backend names it."""

    name: str = Field(description="Node or op name in the converted graph")
    op: str = Field(description="Op type, e.g. Conv, Concat")


class LayerSensitivity(Frozen):
    """What keeping one layer in float, the rest quantized, does to the floor metric."""

    name: str
    op: str
    value: float = Field(description="Floor metric with this layer alone in float")
    recovered: float = Field(
        description="How much of the full-int8 loss this layer alone gives back, in the "
        "metric's units (positive: better than full int8)"
    )


class KeptFloat(Frozen):
    """The outcome of a ``keep_float = "auto"`` search: which layers stayed in float, and why."""

    metric: str
    max_drop: float = Field(description="Largest relative drop from float allowed")
    float_value: float = Field(description="The floor metric of the unquantized model")
    quantized_value: float = Field(description="The floor metric with every layer quantized")
    value: float = Field(description="The floor metric of this mixed variant, measured")
    drop: float = Field(description="Relative drop of this variant from float")
    layers: tuple[QuantizedLayer, ...] = Field(
        description="Layers the file keeps in float: those the search asked for, most "
        "sensitive first, then any the backend kept in float with them"
    )
    asked: tuple[str, ...] = Field((), description="The layers the search asked to keep")
    total_layers: int = Field(description="Layers the recipe quantizes when none is kept in float")
    sensitivity: tuple[LayerSensitivity, ...] = Field(
        (), description="Every quantized layer, most sensitive first"
    )
    tried: tuple[tuple[int, float], ...] = Field(
        (), description="(layers kept in float, floor metric) of every count the search made"
    )


class Quality(Frozen):
    metrics: dict[str, float]
    higher_is_better: dict[str, bool]
    where: Literal["host", "host-estimate", "device"] = "host"
    sample_count: int


class Artifact(Frozen):
    """A whole model in one format: the conversion of the source, or a variant of it."""

    id: str = Field(
        "",
        description="Stable hash of source sha256, recipe and tool versions; set by the pipeline",
    )
    format: str
    recipe: Recipe | None = None
    path: Path | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    parent: str | None = Field(None, description="Id of the artifact this was made from")
    inputs: tuple[InputSpec, ...] = Field((), description="The model's own input signature")
    output_names: tuple[str, ...] = ()
    params: int | None = None
    macs: int | None = None
    tools: dict[str, str] = {}
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    quality: Quality | None = None
    duration_s: float | None = None
    quantized_layers: tuple[QuantizedLayer, ...] = Field(
        (), description="Layers its recipe quantized, where the backend tells them"
    )
    kept_float: KeptFloat | None = Field(
        None, description="A mixed-precision variant: the layers kept in float and the search"
    )
    delegates: tuple[str, ...] = Field((), description="Runtime backends an app must link")
    pruned: dict[str, str] = Field(
        {},
        description="Profile ids ('*' for every profile) this variant was ruled out for "
        "before any device time, each with the reason",
    )
    # ship --baseline (edgeops/pipeline/incumbents.py): the baseline run whose primary file
    # this is; profile id -> compute unit where it was; True: measured for the gate only.
    remeasured_from: str | None = None
    remeasured_for: dict[str, str] = {}
    remeasured_only: bool = False

    def pruned_for(self, profile_id: str) -> str | None:
        return self.pruned.get(profile_id) or self.pruned.get("*")

    @property
    def name(self) -> str:
        return f"{self.format}:{self.recipe.name}" if self.recipe else self.format


# A Variant is an Artifact made by a recipe; one type keeps stages and files simple.
Variant = Artifact


# --------------------------------------------------------------------------- devices


class DeviceProfile(Frozen):
    id: str
    name: str
    platform: Platform
    chip: str | None = None
    soc: str | None = Field(
        None,
        description="System-on-chip id an NPU compiler targets, as LiteRT's AOT names it "
        "(e.g. 'SM8650', 'Tensor_G3'); NPU variants are compiled per SoC",
    )
    cpu_cores: int | None = None
    ram_mb: int | None = None
    app_memory_limit_mb: int | None = Field(
        None, description="Memory an app may use before the OS kills it (jetsam on iOS)"
    )
    compute_units: tuple[str, ...] = ("cpu",)
    formats: tuple[str, ...] = Field(description="Model formats the device can run, best first")
    os_major: int | None = Field(
        None,
        description="Major OS release the profile assumes (iOS/macOS 27); it decides the formats: "
        "Core AI from 27, Core ML before",
    )
    tier: str | None = None
    match: dict[str, tuple[str, ...]] = Field(
        {},
        description="What an app reads from its own device to find this profile: iOS "
        "'hw.machine' (e.g. iPhone13,2), Android 'ro.product.device' or 'ro.product.model'; "
        "a value ending in '*' matches as a prefix (model numbers carry a region suffix)",
    )
    detect: bool = Field(False, description="Facts are read from this machine at run time")
    sources: dict[str, str] = Field({}, description="Where each fact came from")


class Device(Frozen):
    id: str
    name: str
    transport: Transport
    profile_id: str
    address: str | None = None
    user: str | None = None
    key_path: Path | None = None
    labels: dict[str, str] = {}


# What a probe process may take besides its timed phases (start-up, model load,
# warm-up and min_runs of a slow model): the fixed timeout it had before.
PROBE_START_BOUND_S = 300.0
PROBE_TIMEOUT_MARGIN = 1.5


class DeviceOutputSettings(Frozen):
    """How outputs returned by the device are scored (edgeops.devices.device_quality)."""

    samples: int = Field(4, ge=1, description="First samples whose outputs the device returns")
    max_drop_pct: float = Field(
        10.0,
        ge=0.0,
        description="A device score this much worse than the host's (share of the host's, "
        "for the floor's metric) fails the variant, even above the floor",
    )
    timeout_s: float = Field(300.0, gt=0, description="Seconds the device may take for them")


class MeasureSettings(Frozen):
    # What a user sets is declared once, in edgeops/options/measure.py.
    warmup_runs: int = 5
    min_runs: int = declared(MeasureOptions, "min_runs")
    min_duration_s: float = declared(MeasureOptions, "min_duration_s")
    max_runs: int = 500
    rounds: int = declared(MeasureOptions, "rounds")
    threads: int | None = declared(MeasureOptions, "threads")
    timeout_override_s: float | None = Field(
        None, gt=0, description="Seconds a probe process may run; None: derived from the settings"
    )
    paced_fps: tuple[float, ...] = declared(MeasureOptions, "paced_fps")
    paced_duration_s: float | None = declared(MeasureOptions, "paced_duration_s")
    full_rounds: int = Field(
        2, ge=0, description="Rounds per variant and device with paced runs, loads and memory"
    )
    timed_only: bool = Field(False, description="This round times the loop only (scheduling.py)")

    @property
    def paced_seconds(self) -> float:
        if self.paced_duration_s is not None:
            return self.paced_duration_s
        return 2.0 * self.min_duration_s

    @model_validator(mode="before")
    @classmethod
    def _earlier_timeout(cls, data: Any) -> Any:
        # Results written before the timeout was derived hold a fixed ``timeout_s``.
        if isinstance(data, dict) and "timeout_s" in data:
            data = {**data, "timeout_override_s": data["timeout_s"]}
            del data["timeout_s"]
        return data

    @property
    def timeout_s(self) -> float:
        """How long one probe process may run before it is a ``timeout``.

        The fixed 300 s of before still covers start-up, warm-up and ``min_runs`` of
        a slow model; the timed phases the settings ask for (the measuring loop of
        ``min_duration_s`` and each paced rate) come on top with a 1.5x margin, so
        ``--min-duration-s 90`` is not cut at 300 s.
        """
        if self.timeout_override_s is not None:
            return self.timeout_override_s
        timed_s = self.min_duration_s + self.paced_seconds * len(self.paced_fps)
        return PROBE_START_BOUND_S + PROBE_TIMEOUT_MARGIN * timed_s


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


# --------------------------------------------------------------------------- plans


class ComputeUnit(Frozen):
    """A compute unit a backend runs on, as its plugin declares it (``edgeops_compute_units``)."""

    name: str = Field(description="As profiles and measurements name it, e.g. 'cpu_and_ne'")
    requires: tuple[str, ...] = Field(
        (), description="Accelerators an app's device must have to use it, e.g. ('ane',)"
    )
    rarity: int = Field(
        0,
        description="How rare the hardware it needs is, for ordering fallbacks: 0 runs "
        "anywhere; a device with a rarer accelerator has the commoner ones",
    )


class SelectionPolicy(Frozen):
    # What a user sets is declared once, in edgeops/options/selection.py.
    memory_safety_factor: float = declared(SelectionOptions, "memory_safety_factor")
    latency_budget_ms: float | None = Field(None, description="Drop candidates whose p90 is above")
    quality: QualitySpec
    objective: Objective = declared(SelectionOptions, "objective")
    equivalence_pct: float = Field(
        5.0,
        description="A variant not shown to be this much slower than the fastest is tied with it",
    )
    quality_margin_pct: float = Field(
        0.5, description="Quality figures closer than this share of the better one are equal"
    )
    fallback_memory_margin_pct: float = Field(
        10.0, description="A fallback on the same accelerators must need this much less memory"
    )
    fallback_max_slowdown: float = Field(
        4.0,
        gt=1.0,
        description="Without a latency budget, a fallback on the same accelerators may be at "
        "most this many times the primary's p50: a 45x slower variant is no fallback an app "
        "can use. With a budget, the budget bounds it instead",
    )
    placement_min_share: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="Share of the work (time where the runtime reports it, nodes otherwise) a "
        "measurement must have run on its accelerator to keep that unit's `requires`; below it "
        "the variant 'fell back' and is chosen as the CPU variant it mostly is",
    )
    baseline_primary: str | None = Field(
        None, description="The baseline's primary (format:recipe): preferred among ties"
    )
    compute_units: dict[str, ComputeUnit] = Field(
        {}, description="What each compute unit requires, from the backends that run it"
    )


class Choice(Frozen):
    variant_id: str
    variant_name: str
    compute_unit: str
    method: Method
    expected_p50_ms: float | None
    p50_interval: Interval | None = Field(
        None, description="For a predicted choice: the interval around expected_p50_ms"
    )
    peak_mem_mb: float | None
    size_bytes: int | None
    quality: dict[str, float]
    reason: str
    requires: tuple[str, ...] = Field((), description="Accelerators the app must have to use it")
    min_free_memory_mb: float | None = Field(
        None, description="Fall back past this choice when less memory than this is free"
    )
    runtime: str | None = Field(
        None, description="The runtime an app loads it with: its format, e.g. 'coreai', 'coreml'"
    )
    min_os: str | None = Field(
        None, description="Oldest OS that runtime loads it on (its recipe's target), e.g. 'iOS27'"
    )
    rounds: int = Field(0, description="Rounds (fresh processes) its p50 rests on")


class FrontierPoint(Frozen):
    """A candidate no other beats on latency, size and quality at once."""

    variant_id: str
    variant_name: str
    compute_unit: str
    p50_ms: float | None
    p50_low_ms: float | None
    p50_high_ms: float | None
    size_bytes: int | None
    quality: float | None
    chosen: bool = False


class Rejection(Frozen):
    variant_id: str
    variant_name: str
    compute_unit: str | None
    reasons: tuple[str, ...]


class Plan(Frozen):
    profile_id: str
    status: PlanStatus
    method: Method | None = None
    choices: tuple[Choice, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    nearest_miss: Rejection | None = None
    note: str | None = None
    decision: Literal["clear", "tie", "undecided"] | None = Field(
        None,
        description="clear: the primary is measurably best; tie: others are within the "
        "equivalence margin and a tie-break chose; undecided: more rounds could change it",
    )
    decision_note: str | None = None
    baseline_note: str | None = Field(
        None,
        description="Set by `ship --until-decided` when it reached its bound before the "
        "primary was precise enough for gates against this run to decide: what it needs",
    )
    frontier: tuple[FrontierPoint, ...] = Field(
        (), description="Pareto frontier of p50 x size x quality, chosen point marked"
    )
    device_time_s: float | None = Field(None, description="Every round's probe process, summed")


# --------------------------------------------------------------------------- results


class CacheStats(Frozen):
    conversions_made: int = 0
    conversions_reused: int = 0
    optimizations_made: int = 0
    optimizations_reused: int = 0
    evaluations_reused: int = 0
    measurements_reused: int = 0


class VariantOutputs(Frozen):
    """A variant's outputs on some samples, kept in the cache next to the reference's.

    The report and ``edgeops studio`` show them beside the reference's; the
    per-sample scores say which samples a variant gets most wrong.
    """

    variant_id: str
    path: Path = Field(
        description=".npz with keys '<output index>/<sample index>', as the reference's"
    )
    sha256: str
    kept: tuple[int, ...] = Field(description="Sample indices whose outputs the .npz holds")
    metric: str = Field(description="The metric the samples are ranked by (the spec's)")
    higher_is_better: bool = True
    per_sample: tuple[float, ...] = Field(
        description="The metric against the reference, per sample, for every sample"
    )
    worst: tuple[int, ...] = Field(description="Sample indices, worst against the reference first")
    label_metric: str | None = Field(None, description="Metric against the labels, if any")
    per_sample_labels: tuple[float, ...] = ()
    worst_labels: tuple[int, ...] = Field((), description="Worst against the labels first")


class Results(Frozen):
    """Everything a run produced: enough to re-run selection or a gate without re-measuring."""

    schema_version: str = RESULTS_SCHEMA_VERSION
    edgeops_version: str
    run_id: str
    created_at: datetime = Field(default_factory=utc_now)
    spec: ModelSpec
    profiles: tuple[DeviceProfile, ...] = ()
    devices: tuple[Device, ...] = ()
    samples: SampleSet | None = None
    reference: ReferenceOutputs | None = None
    artifacts: tuple[Artifact, ...] = ()
    variants: tuple[Variant, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    settings: MeasureSettings = MeasureSettings()
    policy: SelectionPolicy | None = None
    plans: tuple[Plan, ...] = ()
    cache: CacheStats = CacheStats()
    outputs: tuple[VariantOutputs, ...] = Field(
        (), description="Kept variant outputs and per-sample scores (report gallery)"
    )

    def variant(self, variant_id: str) -> Variant:
        for v in self.variants:
            if v.id == variant_id:
                return v
        raise KeyError(variant_id)


# The manifest's models live in edgeops/manifest.py (this module's size limit); they are
# re-exported here, where readers have always imported them.
from edgeops.manifest import (  # noqa: E402
    Manifest,
    ManifestChoice,
    ManifestProfile,
    ManifestTensor,
    ManifestVariant,
)

__all__ = ["Manifest", "ManifestChoice", "ManifestProfile", "ManifestTensor", "ManifestVariant"]
