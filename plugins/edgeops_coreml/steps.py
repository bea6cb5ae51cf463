"""The Core ML recipe steps, typed: one field per coremltools option, described.

Parameters follow coremltools 9's ``OpMagnitudePrunerConfig``/``OpThresholdPrunerConfig``,
``OpPalettizerConfig``, ``OpLinearQuantizerConfig`` (coremltools.optimize.coreml) and,
for W8A8, ``coremltools.optimize.torch``'s LinearQuantizer. A combination coremltools
would reject is an error here, before any conversion.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from edgeops import KeepFloatStep
from edgeops.plugin import StepConfig


class Prune(StepConfig):
    """Magnitude pruning of every large weight tensor (see compress.prune)."""

    op: ClassVar[str] = "prune"
    # Sparsity is an amount: a sparser, no worse variant dominates.
    kind_fields: ClassVar[tuple[str, ...] | None] = ()
    target_sparsity: float = Field(gt=0.0, lt=1.0, description="share of weights set to zero")


class Palettize(StepConfig):
    """A look-up table of ``2**nbits`` values per tensor or per group of output channels."""

    op: ClassVar[str] = "palettize"
    # Bits, table mode and group size are amounts of one look-up-table kernel.
    kind_fields: ClassVar[tuple[str, ...] | None] = ("granularity",)
    nbits: Literal[1, 2, 3, 4, 6, 8] = Field(description="bits per weight index")
    mode: Literal["kmeans", "uniform"] = Field("kmeans", description="how the table is found")
    granularity: Literal["per_tensor", "per_grouped_channel"] = Field(
        "per_tensor", description="one table per tensor, or per group of output channels"
    )
    group_size: int = Field(
        0, ge=0, description="output channels sharing a table (per_grouped_channel only)"
    )

    @model_validator(mode="after")
    def _group_size_only_with_groups(self) -> Palettize:
        if self.granularity == "per_tensor" and self.group_size:
            raise ValueError("group_size applies to granularity per_grouped_channel only")
        if self.granularity == "per_grouped_channel" and not self.group_size:
            raise ValueError("granularity per_grouped_channel needs a group_size")
        return self


class LinearQuantize(KeepFloatStep):
    """Symmetric integer weights with a scale per channel, per block or per tensor.

    ``float_layers`` are weight const names (as ``get_weights_metadata`` and
    ``quantized_layers`` name them); each goes to ``OptimizationConfig`` as
    ``op_name_configs={name: None}``, which leaves that weight uncompressed.
    """

    op: ClassVar[str] = "linear_quantize"
    kind_fields: ClassVar[tuple[str, ...] | None] = ("dtype", "granularity")
    dtype: Literal["int8", "int4"] = Field(description="weight integer type")
    granularity: Literal["per_tensor", "per_channel", "per_block"] = Field(
        "per_channel", description="what shares one scale"
    )
    block_size: int | None = Field(
        None, gt=0, description="input channels per scale (per_block only)"
    )

    @model_validator(mode="after")
    def _block_size_only_with_blocks(self) -> LinearQuantize:
        if (self.granularity == "per_block") != (self.block_size is not None):
            raise ValueError("block_size goes with granularity per_block, and only with it")
        return self

    @model_validator(mode="after")
    def _float_layers_in_int8(self) -> LinearQuantize:
        # The search is about int8 (what the Neural Engine runs fast); int4 has palettize.
        if (self.keep_float == "auto" or self.float_layers) and self.dtype != "int8":
            raise ValueError("keep_float and float_layers need dtype = 'int8'")
        return self


class W8A8(KeepFloatStep):
    """int8 weights and activations, calibrated on the samples, on the torch side.

    ``float_layers`` are torch module names (``head.1``), as ``quantized_layers``
    names them; each goes to ``LinearQuantizerConfig(module_name_configs={name:
    None})``, which leaves that module's weights and output activations in float.
    """

    op: ClassVar[str] = "w8a8"
    weight_dtype: Literal["int8"] = Field("int8", description="weight type")
    activation_dtype: Literal["int8"] = Field("int8", description="activation type")
    calibration: Literal["samples"] = Field(
        "samples", description="what activation ranges are calibrated on"
    )


STEPS = (Prune, Palettize, LinearQuantize, W8A8)
COMPRESSION = (Prune, Palettize, LinearQuantize)
