"""Artifacts and variants: a whole model in one format, with its quality and the
layers its recipe quantized or kept in float."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edgeops.models.base import Frozen
from edgeops.models.recipes import Recipe
from edgeops.models.spec import InputSpec


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
    source: Literal["variant", "estimate"] = Field(
        "variant",
        description="Where value came from: a variant made and scored (variant), or the "
        "backend's quick estimate without making it (estimate; ranks layers only, "
        "and recovered is then against the estimate of full int8)",
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
    conversion_route: str | None = Field(
        None,
        description="The converter that made it from the source where a backend has several "
        "(e.g. 'litert-torch', or 'onnx2tf' with why the first route was not taken)",
    )
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
