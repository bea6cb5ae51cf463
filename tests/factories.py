"""Builders of small, valid data models for tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from edgeops.models import (
    Artifact,
    DeviceProfile,
    Measurement,
    ModelSpec,
    PeakMemory,
    Quality,
    QualitySpec,
    Recipe,
    Results,
    SelectionPolicy,
)


def spec(**kw: object) -> ModelSpec:
    base: dict[str, object] = {
        "name": "m",
        "source": "m.onnx",
        "source_sha256": "0" * 64,
        "task": "segmentation",
        "quality": QualitySpec(metric="iou", floor=0.9),
    }
    base.update(kw)
    return ModelSpec(**base)  # type: ignore[arg-type]


def profile(**kw: object) -> DeviceProfile:
    base: dict[str, object] = {
        "id": "phone",
        "name": "Phone",
        "platform": "android",
        "ram_mb": 4096,
        "app_memory_limit_mb": 1000,
        "compute_units": ("cpu", "gpu"),
        "formats": ("onnx",),
    }
    base.update(kw)
    return DeviceProfile(**base)  # type: ignore[arg-type]


def variant(name: str, iou: float = 0.99, size_bytes: int = 1000, status: str = "ok") -> Artifact:
    return Artifact(
        id=f"id-{name}",
        format="onnx",
        recipe=Recipe(name=name, format="onnx"),
        path=Path(f"/tmp/{name}.onnx"),
        # Each name its own file: variants with one sha256 are pruned as the same file.
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        size_bytes=size_bytes,
        status=status,  # type: ignore[arg-type]
        error=None if status == "ok" else "boom",
        quality=Quality(metrics={"iou": iou}, higher_is_better={"iou": True}, sample_count=4),
    )


def measurement(
    name: str,
    p50_ms: float,
    mem_mb: float = 100.0,
    unit: str = "cpu",
    status: str = "ok",
    p90_ms: float | None = None,
    profile_id: str = "phone",
) -> Measurement:
    return Measurement(
        variant_id=f"id-{name}",
        device_id="d1",
        profile_id=profile_id,
        compute_unit=unit,
        status=status,  # type: ignore[arg-type]
        error=None if status == "ok" else "it broke",
        samples_ms=(p50_ms,) * 3,
        p50_ms=p50_ms if status == "ok" else None,
        p90_ms=(p90_ms or p50_ms) if status == "ok" else None,
        peak_mem=PeakMemory(
            raw_mb=mem_mb + 50, baseline_mb=50, over_baseline_mb=mem_mb, definition="test"
        ),
    )


def policy(**kw: object) -> SelectionPolicy:
    from edgeops.plugin_manager import declared_compute_units, make_plugin_manager

    base: dict[str, object] = {
        "quality": QualitySpec(metric="iou", floor=0.9),
        # As the installed backends declare them, so tests follow the real plugins.
        "compute_units": declared_compute_units(make_plugin_manager()),
    }
    base.update(kw)
    return SelectionPolicy(**base)  # type: ignore[arg-type]


def tiny_onnx(path: Path, size: int = 32, opset: int = 17, seed: int = 0) -> Path:
    """A two-layer conv net (1×3×size×size → 1×2×size×size) written with onnx.helper."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (2, 8, 3, 3)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["h"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Conv", ["r", "w2"], ["y"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, size, size])],
        [w1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def onnx_variants(folder: Path) -> list[Artifact]:
    """Eight real ONNX variants of ``tiny_onnx`` (sizes 48 to 72, two of each) in ``folder``:
    the work the parallel-measurement benchmarks spread over boards."""
    from edgeops.files import sha256_file, size_bytes

    out = []
    for i, size in enumerate((48, 56, 64, 72, 48, 56, 64, 72)):
        path = tiny_onnx(folder / f"v{i}.onnx", size=size, seed=i)
        out.append(Artifact(
            id=f"v{i}", format="onnx", recipe=Recipe(name=f"size{size}-{i}", format="onnx"),
            path=path, sha256=sha256_file(path), size_bytes=size_bytes(path),
        ))  # fmt: skip
    return out


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout_s: float = 600):
    """Run the real ``edgeops`` command in a subprocess, as a user would."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "edgeops", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
    )


FAST = ("--rounds", "2", "--min-runs", "5", "--min-duration-s", "0.1")


BROKEN_ERROR = "broken: the converter refused this graph"
# A third-party plugin (written to a file, loaded with EDGEOPS_PLUGINS) whose one
# ONNX recipe always fails: the run must record it and go on.
BROKEN_RECIPE_PLUGIN = f"""
from edgeops import Recipe, StageError, hookimpl


@hookimpl
def edgeops_recipes(artifact):
    return [Recipe.of(name="broken", format="onnx")] if artifact.format == "onnx" else []


@hookimpl
def edgeops_recipe_catalog():
    return ["onnx:broken"]


@hookimpl
def edgeops_optimize(artifact, recipe, workdir):
    raise StageError({BROKEN_ERROR!r})
"""


def unfit_on_iphonex(pm: object) -> Results:
    """A Core ML W8A8 variant targeting iOS 17, for the iPhone X (iOS 16) and 15 Pro."""
    from edgeops.devices.profiles import resolve_profiles

    iphonex, iphone15pro = resolve_profiles(["iphonex", "iphone15pro"], pm)  # type: ignore[arg-type]
    w8a8 = variant("w8a8").model_copy(
        update={
            "format": "coreml",
            "recipe": Recipe(name="w8a8", format="coreml", deployment_target="iOS17"),
        }
    )
    return Results(
        edgeops_version="0", run_id="r", spec=spec(), profiles=(iphonex, iphone15pro),
        variants=(w8a8,),
    )  # fmt: skip
