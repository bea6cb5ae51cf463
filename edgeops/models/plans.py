"""Selection's policy and what it decides per profile: a plan of choices."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgeops.models.base import Frozen, Method, PlanStatus
from edgeops.models.measurements import Interval
from edgeops.models.spec import QualitySpec

Objective = Literal["fastest", "smallest", "best-quality"]


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
    memory_safety_factor: float = Field(
        0.5, gt=0.0, le=1.0, description="Share of the app memory limit a model may use"
    )
    latency_budget_ms: float | None = Field(None, description="Drop candidates whose p90 is above")
    quality: QualitySpec
    objective: Objective = Field(
        "fastest",
        description="fastest; smallest file within the latency budget; best quality within it",
    )
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
