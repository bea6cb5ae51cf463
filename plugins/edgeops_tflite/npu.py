"""NPU variants: a full-integer .tflite compiled ahead of time for one SoC by LiteRT's AOT tooling.

``ai_edge_litert.aot.aot_compile`` runs the wheel's ``tools/apply_plugin_main``, which
dlopens the vendor's compiler plugin (``vendors/<vendor>/compiler/*.so``, in the wheel)
and that plugin dlopens the vendor SDK's own libraries. Those libraries come only from
``ai-edge-litert-sdk-<vendor>``, an sdist whose setup.py downloads the SDK at build
time (Qualcomm QAIRT, MediaTek NeuroPilot, Google Tensor compiler). Without them the
compile fails at that dlopen; the tool's log names the missing library, and that line
is the variant's error. The SoC a variant was compiled for is a step of its recipe.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from edgeops.plugin import DeviceProfile, Recipe, StageError, StepConfig, Variant, quiet


@dataclass(frozen=True)
class Vendor:
    name: str  # ai_edge_litert.aot.vendors.<name>
    short: str  # in recipe names
    sdk_package: str  # the pip distribution with the vendor's SDK libraries
    sdk_module: str
    sdk_source: str  # where that package's setup.py downloads the SDK from (read in its sdist)


VENDORS = {
    v.name: v
    for v in (
        Vendor(
            "qualcomm", "qnn", "ai-edge-litert-sdk-qualcomm", "ai_edge_litert_sdk_qualcomm",
            "the QAIRT 2.50 zip from Qualcomm's software center",
        ),
        Vendor(
            "mediatek", "mtk", "ai-edge-litert-sdk-mediatek", "ai_edge_litert_sdk_mediatek",
            "MediaTek's NeuroPilot archive from an S3 bucket",
        ),
        Vendor(
            "google_tensor", "tensor", "ai-edge-litert-sdk-google-tensor",
            "ai_edge_litert_sdk_google_tensor", "the Tensor compiler from Google's edge download host",
        ),
    )
}  # fmt: skip

# SoC ids exactly as ai_edge_litert 2.3.0's aot/vendors/<vendor>/target.py SocModel spells
# them; only SoCs a profile names (and one MediaTek flagship) get recipes.
SOCS = {
    "SM8550": "qualcomm",  # Snapdragon 8 Gen 2 (Galaxy S23)
    "SM8650": "qualcomm",  # Snapdragon 8 Gen 3 (Galaxy S24)
    "MT6989": "mediatek",  # Dimensity 9300
    "Tensor_G3": "google_tensor",  # Pixel 8
    "Tensor_G4": "google_tensor",  # Pixel 9
}

# apply_plugin_main's own line when its plugin partitioned the graph (the regex is
# ai_edge_litert/aot/core/apply_plugin.py's _RE_PARTITION_STATS).
_MISSING_LIBRARY = re.compile(r"([\w.+-]+\.so[\w.]*): cannot open shared object file")
_NEURON = re.compile(r"Failed to load (NeuronAdapter) shared library")
_LOG_PATH = re.compile(r"See (\S+\.error) for details")
_LOG_BOUND_CHARS = 1_000_000


class NpuCompile(StepConfig):
    """LiteRT AOT compilation of the integer model for one SoC's NPU."""

    op: ClassVar[str] = "npu_compile"
    vendor: str = Field(description="ai_edge_litert.aot vendor: qualcomm, mediatek, google_tensor")
    soc: str = Field(description="SoC id as LiteRT's SocModel names it, e.g. 'SM8650'")


def recipe_name(soc: str) -> str:
    return f"npu-{VENDORS[SOCS[soc]].short}-{soc.lower().replace('_', '-')}-int8"


RECIPE_NAMES = tuple(recipe_name(s) for s in SOCS)


def recipe_for(soc: str, integer_steps: tuple[StepConfig, ...]) -> Recipe:
    vendor = SOCS[soc]
    return Recipe.of(
        name=recipe_name(soc),
        format="tflite",
        steps=[*integer_steps, NpuCompile(vendor=vendor, soc=soc)],
        description=f"int8-full, then compiled ahead of time for the {soc} NPU by LiteRT "
        f"({vendor}); runs only on that SoC",
    )


def npu_soc(profile: DeviceProfile) -> str | None:
    """The SoC id of the profile's NPU, when it has one LiteRT can compile for."""
    soc = profile.soc
    return soc if soc in SOCS and "npu" in profile.compute_units else None


def unfit(variant: Variant, profile: DeviceProfile) -> str | None:
    step = variant.recipe.step_of(NpuCompile) if variant.recipe else None
    if step is None:
        return None
    if profile.soc != step.soc:
        return (
            f"compiled for the {step.soc} NPU; {profile.id} has "
            f"{profile.soc or 'no SoC id in its profile'}"
        )
    return None


def sdk_status() -> dict[str, str]:
    """One line per vendor: can its AOT compilation run on this machine, and if not why."""
    import importlib

    lines = {}
    for vendor in VENDORS.values():
        try:
            module = importlib.import_module(vendor.sdk_module)
        except ImportError:
            lines[vendor.name] = (
                f"{vendor.name}: cannot compile here: {vendor.sdk_package} is not installed "
                f"(its setup.py downloads {vendor.sdk_source} at install time)"
            )
            continue
        libs = getattr(module, "path_to_sdk_libs", lambda: None)()
        if libs is None or not Path(str(libs)).is_dir():
            lines[vendor.name] = (
                f"{vendor.name}: cannot compile here: {vendor.sdk_package} is installed without "
                f"its SDK libraries (its setup.py could not download {vendor.sdk_source})"
            )
        else:
            lines[vendor.name] = f"{vendor.name}: SDK libraries at {libs}"
    return lines


def compile_for_soc(model: Path, out: Path, step: NpuCompile) -> dict[str, object]:
    """Compile ``model`` for ``step.soc`` into ``out``; returns the compiler's placement.

    The placement is apply_plugin_main's own report: per subgraph, the ops it gave the
    NPU out of the total, and in how many partitions; what is left runs on the CPU.
    """
    if step.soc not in SOCS or SOCS[step.soc] != step.vendor:
        raise StageError(f"LiteRT AOT has no {step.vendor} SoC {step.soc!r}; known: {sorted(SOCS)}")
    with quiet("tensorflow", "absl") as _log:
        import importlib

        from ai_edge_litert.aot import aot_compile

        target_lib = importlib.import_module(f"ai_edge_litert.aot.vendors.{step.vendor}.target")
        target = target_lib.Target(target_lib.SocModel(step.soc))
        workdir = out.parent / f"{out.stem}.aot"
        try:
            result = aot_compile.aot_compile(
                str(model), output_dir=workdir, target=target, keep_going=True
            )
        except (OSError, ValueError, RuntimeError) as exc:
            # e.g. FileNotFoundError: the wheel has no apply_plugin_main for this platform.
            text = " ".join(str(exc).split())[:300]
            raise StageError(
                f"{step.vendor} AOT compile for {step.soc} failed: {type(exc).__name__}: {text}"
            ) from exc
    if result.failed_backends or not result.models:
        error = result.failed_backends[0][1] if result.failed_backends else "no model made"
        reason = failure_reason(error, VENDORS[step.vendor])
        raise StageError(f"{step.vendor} AOT compile for {step.soc} failed: {reason}")
    compiled = result.models[0]
    assert compiled.path is not None
    out.write_bytes(Path(compiled.path).read_bytes())
    stats = compiled.partition_stats
    placement: dict[str, object] = {
        "vendor": step.vendor,
        "soc": step.soc,
        "subgraphs": [
            {
                "subgraph": s.subgraph_index,
                "ops_on_npu": s.num_ops_offloaded,
                "ops_total": s.num_total_ops,
                "ops_on_cpu": s.num_total_ops - s.num_ops_offloaded,
                "npu_partitions": s.num_partitions_offloaded,
            }
            for s in (stats.subgraph_stats if stats else [])
        ],
    }
    placement_path(out).write_text(json.dumps(placement, indent=1))
    return placement


def placement_path(variant_path: Path) -> Path:
    return variant_path.with_suffix(".npu.json")


def failure_reason(error: str, vendor: Vendor) -> str:
    """The one line that says why: the SDK library the vendor plugin could not load.

    aot_compile's error names a log file apply_plugin_main wrote (in the system temp
    folder); it is read for the missing library and then removed.
    """
    match = _LOG_PATH.search(error)
    if match is None:
        return error
    log = Path(match.group(1))
    # Only the SDK's own log in the temp folder is read (and removed), never another path.
    if log.parent != Path(tempfile.gettempdir()) or log.is_symlink() or not log.is_file():
        return error
    try:
        with log.open(errors="replace") as f:
            text = f.read(_LOG_BOUND_CHARS)
    finally:
        log.unlink(missing_ok=True)
    return reason_from_log(text, vendor) or error


def reason_from_log(text: str, vendor: Vendor) -> str | None:
    missing = _MISSING_LIBRARY.search(text) or _NEURON.search(text)
    if missing is None:
        return None
    return (
        f"its compiler plugin cannot load the SDK library {missing.group(1)}: install "
        f"{vendor.sdk_package} where its setup.py can download {vendor.sdk_source}"
    )
