"""Export with real torch.export, lowering with ExecuTorch's real partitioners, and every
program run by ExecuTorch's own runtime on this host."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgeops_executorch
from edgeops.plugin import BuildContext
from edgeops_executorch import recipes

pytestmark = pytest.mark.slow


def test_the_factory_is_exported_once_as_the_base_program(tiny_exported):
    assert tiny_exported.format == "executorch"
    assert tiny_exported.path.name == "model.pt2" and tiny_exported.path.stat().st_size > 0
    assert [i.name for i in tiny_exported.inputs] == ["image"]
    assert tiny_exported.output_names == ("output_0",)
    # 3*64*9 + 64*128*9 + 128*4 weights (+ batch norm's 128 and biases 132): the tiny net's.
    assert tiny_exported.params == 3 * 64 * 9 + 64 * 2 + 64 * 128 * 9 + 128 + 128 * 4 + 4
    assert tiny_exported.macs > 0


@pytest.mark.parametrize(
    ("name", "delegates"),
    [
        ("portable-fp32", ()),
        ("xnnpack-fp32", ("XnnpackBackend",)),
        ("xnnpack-int8", ("XnnpackBackend",)),
    ],
)
def test_each_cpu_recipe_makes_a_program_executorch_runs_near_the_reference(
    backend,
    make_program,
    tiny_torch_spec,
    tiny_torch_samples,
    tiny_torch_reference,
    tmp_path,
    name,
    delegates,
):
    variant = make_program(name)
    assert variant.path.suffix == ".pte"
    assert variant.path.read_bytes()[4:8] == b"ET12"  # the .pte flatbuffer's file identifier
    assert variant.delegates == delegates
    info = edgeops_executorch.BUILD_INFO.read(variant.path)
    assert info["recipe"] == name and info["delegates"] == list(delegates)

    quality = backend.evaluate(
        variant,
        BuildContext(
            spec=tiny_torch_spec, samples=tiny_torch_samples, reference=tiny_torch_reference
        ),
        tmp_path,
    )
    assert quality is not None and quality.where == "host"
    assert quality.sample_count == tiny_torch_samples.count
    assert (tmp_path / "outputs.npz").is_file(), "the gallery gets the runtime's outputs"
    # fp32 programs match torch to rounding; int8 is further off but still the same net.
    floor = 25.0 if name.endswith("int8") else 60.0
    assert quality.metrics["snr_db"] > floor, quality.metrics


def test_int8_is_calibrated_on_the_samples_and_holds_int8_weights(make_program):
    fp32, int8 = make_program("xnnpack-fp32"), make_program("xnnpack-int8")
    # 74k weights: int8 storage is about a quarter of fp32's.
    assert int8.size_bytes < 0.4 * fp32.size_bytes


def test_core_ml_partitions_are_lowered_here_but_not_run(
    backend, make_program, tiny_torch_spec, tiny_torch_samples, tiny_torch_reference, tmp_path
):
    """coremltools converts on Linux, so the program is made; the runtime here has no
    CoreMLBackend, so its quality is not scored rather than estimated."""
    from edgeops_executorch import runtime

    for name in ("coreml-fp16", "coreml-int8-weights"):
        variant = make_program(name)
        assert variant.delegates == ("CoreMLBackend",)
        assert "CoreMLBackend" not in runtime.registered_backends()
        assert (
            backend.evaluate(
                variant,
                BuildContext(
                    spec=tiny_torch_spec, samples=tiny_torch_samples, reference=tiny_torch_reference
                ),
                tmp_path,
            )
            is None
        )
    assert make_program("coreml-int8-weights").size_bytes < make_program("coreml-fp16").size_bytes


def test_the_runtime_outputs_are_the_programs_not_the_reference(make_program, tiny_torch_samples):
    from edgeops_executorch import runtime

    fp32 = runtime.run_program(
        make_program("xnnpack-fp32").path, make_program("xnnpack-fp32").inputs, tiny_torch_samples
    )
    int8 = runtime.run_program(
        make_program("xnnpack-int8").path, make_program("xnnpack-int8").inputs, tiny_torch_samples
    )
    assert len(fp32) == tiny_torch_samples.count and fp32[0][0].shape == (1, 4, 16, 16)
    assert not np.array_equal(fp32[0][0], int8[0][0])


def _runner_class():
    """The probe loads the runner file by path, as a module of its own; so does this test."""
    import importlib.util

    path = Path(edgeops_executorch.__file__).parent / "probe_runner.py"
    spec = importlib.util.spec_from_file_location("executorch_probe_runner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Runner


def test_the_probe_runner_runs_each_program_on_its_own_unit_only(make_program):
    runner = _runner_class()(threads=1)
    assert runner.version == "1.5.1"
    xnnpack = str(make_program("xnnpack-int8").path)
    with pytest.raises(NotImplementedError, match=r"\(XnnpackBackend\) run on xnnpack, not cpu"):
        runner.load(xnnpack, "cpu")
    runner.load(xnnpack, "xnnpack")
    feed = runner.make_feed({"image": np.ones((1, 3, 16, 16), np.float32)})
    assert list(feed) == ["0"] and float(feed["0"].sum()) == 3 * 16 * 16
    runner.run(feed)
    runner.release()
    runner.load(str(make_program("portable-fp32").path), "cpu")
    runner.run(runner.make_feed(None))  # random inputs of the program's own shape
    with pytest.raises(NotImplementedError, match="this ExecuTorch runtime has no CoreMLBackend"):
        runner.load(str(make_program("coreml-fp16").path), "all")


def test_the_probe_measures_a_program_through_its_runner_on_this_host(
    make_program, edgeops_pm, register_plugin, local_device
):
    from edgeops.plugin import MeasureSettings

    if not edgeops_pm.has_plugin("executorch"):
        register_plugin(edgeops_executorch.ExecuTorchBackend, name="executorch")
    session = edgeops_pm.hook.edgeops_connect(device=local_device)
    settings = MeasureSettings(warmup_runs=1, min_runs=5, min_duration_s=0.1, paced_fps=())
    variant = make_program("xnnpack-fp32")
    measured = edgeops_pm.hook.edgeops_measure(
        session=session, variant=variant, compute_unit="xnnpack", settings=settings
    )
    assert measured.status == "ok", measured.error
    assert measured.environment["runtime"] == "executorch"
    assert measured.environment["runtime_version"] == "1.5.1"
    assert len(measured.samples_ms) >= 5 and measured.p50_ms > 0
    assert measured.load_ms > 0 and measured.peak_mem.raw_mb > measured.peak_mem.baseline_mb > 0
    assert measured.cpu is not None


def test_a_real_onnx_model_takes_the_onnx2torch_route_and_runs_in_executorch(backend, tmp_path):
    """UltraFace slim-320 (opset 9, 1.2 MB; tests/data/models): folded, onnx2torch'd,
    exported, lowered to XNNPACK; its program's outputs are ONNX Runtime's on one sample."""
    import onnxruntime as ort

    from edgeops import testing
    from edgeops.pipeline.samples import build_samples, load_arrays
    from edgeops_executorch import runtime

    model = testing.test_data_dir() / "models" / "onnx" / "ultraface__version-slim-320.onnx"
    spec = testing.file_spec(model)
    exported = backend.convert(BuildContext(spec=spec), tmp_path)
    assert exported is not None and exported.inputs[0].shape == (1, 3, 240, 320)
    assert exported.output_names == ("output_0", "output_1")  # scores, boxes
    samples = build_samples(spec.model_copy(update={"sample_count": 1}), exported.inputs, tmp_path)
    step = recipes.Lower(delegate="xnnpack", precision="fp32")
    variant = backend.optimize(
        exported, recipes.recipe(step), BuildContext(spec=spec, samples=samples), tmp_path / "v"
    )
    ((scores, boxes),) = runtime.run_program(variant.path, variant.inputs, samples)
    image = load_arrays(samples.path)[f"{exported.inputs[0].name}/0"]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    want_scores, want_boxes = session.run(None, {session.get_inputs()[0].name: image})
    assert scores.shape == (1, 4420, 2) and boxes.shape == (1, 4420, 4)
    assert float(np.max(np.abs(scores - want_scores))) < 1e-3
    assert float(np.max(np.abs(boxes - want_boxes))) < 1e-3


def test_the_plan_picks_an_executorch_program_from_real_results(
    make_program,
    edgeops_pm,
    register_plugin,
    local_device,
    tiny_torch_spec,
    tiny_torch_samples,
    tiny_torch_reference,
    tmp_path,
):
    """Selection over what this host really made, scored and measured: ONNX Runtime's fp32
    model beside ExecuTorch's programs, each scored by its own runtime and timed by the
    probe. With ``objective = "smallest"`` the choice rests on file sizes and the quality
    floor, not on this machine's timing noise: the int8 XNNPACK program is the smallest
    that holds the floor, so the plan names it, its runtime and the delegate an app links."""
    from edgeops.devices.profiles import load_profiles
    from edgeops.models import Plan, Results, SelectionPolicy
    from edgeops.pipeline.bundle import build_manifest
    from edgeops.plugin import MeasureSettings, sha256_file
    from edgeops.plugin_manager import declared_compute_units

    if not edgeops_pm.has_plugin("executorch"):
        register_plugin(edgeops_executorch.ExecuTorchBackend, name="executorch")
    hook = edgeops_pm.hook
    context = BuildContext(
        spec=tiny_torch_spec, samples=tiny_torch_samples, reference=tiny_torch_reference
    )
    for folder in ("onnx", "onnx-fp32"):
        (tmp_path / folder).mkdir()
    onnx = hook.edgeops_convert(
        spec=tiny_torch_spec, target="onnx", workdir=tmp_path / "onnx", artifacts=[],
        context=BuildContext(spec=tiny_torch_spec),
    )  # fmt: skip
    host = load_profiles(edgeops_pm)["host"]
    proposed = [r for rs in hook.edgeops_recipes(artifact=onnx, profiles=[host]) for r in rs]
    fp32 = next(r for r in proposed if r.format == "onnx" and r.name == "fp32")
    made = hook.edgeops_optimize(
        artifact=onnx.model_copy(update={"id": "tiny-onnx"}), recipe=fp32,
        workdir=tmp_path / "onnx-fp32", samples=tiny_torch_samples, context=context,
    )  # fmt: skip
    onnx_fp32 = made.model_copy(
        update={"id": "tiny-onnx-fp32", "sha256": sha256_file(made.path),
                "size_bytes": made.path.stat().st_size},
    )  # fmt: skip
    programs = [make_program("xnnpack-fp32"), make_program("xnnpack-int8")]
    session = hook.edgeops_connect(device=local_device)
    settings = MeasureSettings(warmup_runs=1, min_runs=5, min_duration_s=0.1, paced_fps=())
    variants, measurements = [], []
    for variant, unit in [(onnx_fp32, "cpu"), *((p, "xnnpack") for p in programs)]:
        quality = hook.edgeops_evaluate(
            variant=variant, reference=tiny_torch_reference, samples=tiny_torch_samples,
            spec=tiny_torch_spec, outputs_dir=tmp_path / variant.id, context=context,
        )  # fmt: skip
        assert quality is not None and quality.where == "host", variant.id
        variants.append(variant.model_copy(update={"quality": quality}))
        measured = hook.edgeops_measure(
            session=session, variant=variant, compute_unit=unit, settings=settings
        )
        assert measured.status == "ok", (variant.id, measured.error)
        measurements.append(measured)
    assert {m.environment["runtime"] for m in measurements} == {"onnxruntime", "executorch"}

    policy = SelectionPolicy(
        quality=tiny_torch_spec.quality, objective="smallest",
        compute_units=declared_compute_units(edgeops_pm),
    )  # fmt: skip
    plan: Plan = hook.edgeops_select(
        profile=host, variants=variants, measurements=measurements, policy=policy
    )
    assert plan.status == "supported", plan.note
    primary = plan.choices[0]
    assert primary.variant_id == "tiny-xnnpack-int8", plan.choices
    assert primary.runtime == "executorch" and primary.compute_unit == "xnnpack"
    assert primary.size_bytes < onnx_fp32.size_bytes
    results = Results(
        edgeops_version="0", run_id="r", spec=tiny_torch_spec, variants=tuple(variants),
        plans=(plan,),
    )  # fmt: skip
    manifest = build_manifest(results).model_dump(mode="json")
    assert manifest["profiles"]["host"]["choices"][0]["runtime"] == "executorch"
    assert manifest["variants"][primary.variant_id]["delegates"] == ["XnnpackBackend"]
