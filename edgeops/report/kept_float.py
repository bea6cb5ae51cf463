"""The report's part on mixed-precision variants: which layers stayed in float, and why.

One section per ``keep_float = "auto"`` variant: the search's outcome (layers kept
of those quantized, the floor metric of float, full int8 and the mix) and the
sensitivity table, every quantized layer ranked by how much keeping it alone in
float gives back (keep_float.py), and where each value came from: a made and
scored variant, or the backend's estimate (which only ranks).
"""

from __future__ import annotations

from edgeops.models import Results, Variant

# Rows of a sensitivity table shown in report.md; results.json has them all.
TOP_LAYERS = 15


def mixed_variants(results: Results) -> list[Variant]:
    return [v for v in results.variants if v.status == "ok" and v.kept_float is not None]


def kept_summary(variant: Variant) -> str:
    """One line: ``2 of 18 layers in float: a, b``."""
    kept = variant.kept_float
    assert kept is not None
    names = ", ".join(layer.name for layer in kept.layers) or "none"
    return f"{len(kept.layers)} of {kept.total_layers} layers in float: {names}"


def kept_float_lines(results: Results) -> list[str]:
    """report.md's section; empty without a mixed variant."""
    lines: list[str] = []
    for variant in mixed_variants(results):
        kept = variant.kept_float
        assert kept is not None
        lines += [
            f"## {variant.name}: layers kept in float",
            "",
            f"{kept_summary(variant)}. {kept.metric}: float {kept.float_value:.4g}, "
            f"full int8 {kept.quantized_value:.4g}, this mix {kept.value:.4g} "
            f"(drop {kept.drop:.2%}, budget {kept.max_drop:.2%}). Counts tried: "
            + ", ".join(f"{count} → {value:.4g}" for count, value in kept.tried)
            + ".",
            "",
            f"Sensitivity: {kept.metric} with each layer alone kept in float, the rest "
            "quantized; `recovered` is what that gives back over full int8. `from`: "
            "`variant`, a variant made and scored; `estimate`, the backend's quick estimate "
            "without making the file, which only ranks the layers (the counts tried above "
            "are made and scored).",
            "",
            "| rank | layer | op | " + kept.metric + " | recovered | from | kept |",
            "|---|---|---|---|---|---|---|",
        ]
        kept_names = {layer.name for layer in kept.layers}
        for rank, layer in enumerate(kept.sensitivity[:TOP_LAYERS], 1):
            name = layer.name.replace("|", "/")
            lines.append(
                f"| {rank} | {name} | {layer.op} | {layer.value:.4g} | "
                f"{layer.recovered:+.4g} | {layer.source} | "
                f"{'yes' if layer.name in kept_names else ''} |"
            )
        if len(kept.sensitivity) > TOP_LAYERS:
            lines.append(f"\n{len(kept.sensitivity) - TOP_LAYERS} more in results.json.")
        lines.append("")
    return lines
