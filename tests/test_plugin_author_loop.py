"""The plugin author's loop: edits are never served stale, failures keep their tracebacks."""

import json
import os
import time
from typing import ClassVar

import numpy as np
import pytest

from edgeops import hookimpl
from edgeops.devices.profiles import resolve_profiles
from edgeops.models import MeasureSettings, Recipe
from edgeops.pipeline import Pipeline, Workspace
from edgeops.pipeline.cache import Cache, prune
from edgeops.pipeline.config import load_spec
from edgeops.plugin import StepConfig
from edgeops.plugin_manager import tool_versions

from factories import run_cli, tiny_onnx

FAST = MeasureSettings(rounds=1, min_runs=3, min_duration_s=0.0, warmup_runs=1)


class Explode(StepConfig):
    op: ClassVar[str] = "explode"


class Exploder:
    """Proposes onnx:explode and fails deep inside making it."""

    calls: ClassVar[int] = 0

    @hookimpl
    def edgeops_recipe_catalog(self):
        return ["onnx:explode"]

    @hookimpl
    def edgeops_recipes(self, artifact):
        return (
            [Recipe.of(name="explode", format="onnx", steps=[Explode()])]
            if artifact.format == "onnx"
            else []
        )

    @hookimpl
    def edgeops_optimize(self, artifact, recipe, workdir):
        Exploder.calls += 1
        return self._inner()

    def _inner(self):
        raise ValueError("deep inside the plugin")


@pytest.fixture
def converted(tmp_path, edgeops_pm, edgeops_workspace):
    spec, _ = load_spec(tiny_onnx(tmp_path / "m.onnx"))
    host = resolve_profiles(["host"], edgeops_pm)[0].model_copy(update={"formats": ("onnx",)})
    spec = spec.model_copy(update={"recipes": ("fp32", "explode")})
    return spec, host


def test_a_failed_recipe_keeps_its_full_traceback_in_the_run_folder(
    converted, edgeops_pm, edgeops_workspace, register_plugin
):
    spec, host = converted
    register_plugin(Exploder(), name="exploder")
    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    results = pipeline.optimize(pipeline.convert(spec, [host], FAST, run_id="run1"))
    failed = next(v for v in results.variants if v.name == "onnx:explode")
    assert failed.status == "error" and "deep inside the plugin" in (failed.error or "")
    saved = edgeops_workspace.root / "runs" / "run1" / "tracebacks" / "optimize-onnx-explode.txt"
    text = saved.read_text()
    assert "Traceback (most recent call last)" in text and "in _inner" in text

    # The failure is cached; a second run reuses it and still gets the traceback.
    again = Pipeline(edgeops_pm, edgeops_workspace)
    calls = Exploder.calls
    again.optimize(again.convert(spec, [host], FAST, run_id="run2"))
    assert Exploder.calls == calls
    assert (
        "in _inner" in (saved.parent.parent.parent / "run2" / "tracebacks" / saved.name).read_text()
    )

    # --no-cache makes it again.
    fresh = Pipeline(edgeops_pm, Workspace(edgeops_workspace.root, refresh_cache=True))
    fresh.optimize(fresh.convert(spec, [host], FAST, run_id="run3"))
    assert Exploder.calls == calls + 1
    assert fresh.stats["conversions_made"] == 1 and fresh.stats["optimizations_reused"] == 0


def test_refreshing_cache_replaces_an_entry_and_reads_its_own(tmp_path):
    from edgeops.models import Quality

    quality = Quality(
        metrics={"snr_db": 40.0}, higher_is_better={"snr_db": True}, where="host", sample_count=1
    )
    Cache(tmp_path).put_value("quality", "k", quality)
    newer = quality.model_copy(update={"sample_count": 2})
    fresh = Cache(tmp_path, refresh=True)
    assert fresh.get_value("quality", "k", Quality) is None
    assert fresh.put_value("quality", "k", newer).sample_count == 2
    assert fresh.get_value("quality", "k", Quality).sample_count == 2
    assert Cache(tmp_path).get_value("quality", "k", Quality).sample_count == 2
    assert [p.name for p in (tmp_path / "quality").iterdir()] == ["k"]


def test_cache_prune_removes_entries_not_used_lately(tmp_path):
    from edgeops.models import Quality

    cache = Cache(tmp_path / "ws" / "cache")
    quality = Quality(metrics={}, higher_is_better={}, where="host", sample_count=1)
    for key in ("old", "new"):
        cache.put_value("quality", key, quality)
    month_ago = time.time() - 40 * 86400
    os.utime(cache.entry_dir("quality", "old") / "entry.json", (month_ago, month_ago))
    report = prune(cache, older_than_s=30 * 86400)
    assert (report.entries_removed, report.entries_kept) == (1, 1) and report.bytes_freed > 0
    assert cache.get_value("quality", "old", Quality) is None
    assert cache.get_value("quality", "new", Quality) is not None

    result = run_cli(
        "cache", "prune", "--all", "--workspace", str(tmp_path / "ws"), "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["entries_removed"] == 1
    assert cache.get_value("quality", "new", Quality) is None


def test_an_edited_plugin_changes_every_cache_key(tmp_path, edgeops_pm, register_plugin):
    # A plugin object registered in code, declaring no EDGEOPS_TOOLS: its module is hashed.
    module = tmp_path / "myplugin.py"
    module.write_text("class P:\n    def edgeops_recipes(self, artifact):\n        return []\n")
    import importlib.util

    def load():
        spec = importlib.util.spec_from_file_location("myplugin", module)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.P()

    register_plugin(load(), name="mine")
    before = tool_versions(edgeops_pm)["plugin:mine"]
    edgeops_pm.unregister(name="mine")
    module.write_text(
        "class P:\n    def edgeops_recipes(self, artifact):\n        return []  # edited\n"
    )
    register_plugin(load(), name="mine")
    assert before != "?" and tool_versions(edgeops_pm)["plugin:mine"] != before


def _gemm_with_row_bias(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(size=(1, 4)).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        [w, b],
        value_info=[helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4])],
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path
    )


def test_gemm_row_biases_become_one_dimensional_with_the_same_outputs(tmp_path):
    import onnx
    import onnxruntime as ort

    from edgeops_onnx.recipes import _flatten_gemm_biases

    path = tmp_path / "g.onnx"
    _gemm_with_row_bias(str(path))
    x = np.random.default_rng(1).normal(size=(2, 8)).astype(np.float32)
    before = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    _flatten_gemm_biases(path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [list(i.dims) for i in model.graph.initializer if i.name == "b"] == [[4]]
    np.testing.assert_array_equal(ort.InferenceSession(str(path)).run(None, {"x": x})[0], before)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["int8-static", "int8-dynamic"])
def test_mnist_quantizes(tmp_path, recipe, edgeops_pm, edgeops_workspace):
    """MNIST from onnxruntime's examples: int8-static failed with numpy's "truth value of an
    array is ambiguous" on the [1, 10] Gemm bias ORT's pre-processing made."""
    from paths import DATA

    spec, _ = load_spec(DATA / "models/onnx/ortexamples__mnist.onnx", task="classification")
    spec = spec.model_copy(update={"recipes": (recipe,)})
    host = resolve_profiles(["host"], edgeops_pm)[0].model_copy(update={"formats": ("onnx",)})
    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    results = pipeline.optimize(pipeline.convert(spec, [host], FAST))
    (variant,) = results.variants
    assert variant.status == "ok", variant.error
    assert variant.quality is not None and variant.quality.metrics["top1_agreement"] >= 0.8


def test_every_testing_fixture_is_documented():
    import inspect

    import edgeops.testing as testing

    fixtures = [
        name
        for name, value in vars(testing).items()
        if hasattr(value, "_fixture_function_marker")
        or type(value).__name__ == "FixtureFunctionDefinition"
    ]
    assert {
        "edgeops_pm",
        "register_plugin",
        "local_device",
        "edgeops_workspace",
        "tiny_onnx_artifact",
    } <= set(fixtures)
    for name in fixtures:
        fixture = getattr(testing, name)
        unwrap = getattr(fixture, "_get_wrapped_function", None)
        assert inspect.getdoc(unwrap() if unwrap else fixture), f"{name} has no docstring"
        assert name in testing.__doc__


def test_tiny_onnx_artifact_runs_through_a_real_backend(tiny_onnx_artifact, edgeops_pm, tmp_path):
    from edgeops.devices.profiles import resolve_profiles

    onnx_plugin = edgeops_pm.get_plugin("onnx")
    host = resolve_profiles(["host"], edgeops_pm)
    proposed = onnx_plugin.edgeops_recipes(artifact=tiny_onnx_artifact, profiles=host)
    (fp16,) = [r for r in proposed if r.name == "fp16"]
    from edgeops.plugin import BuildContext
    from edgeops.testing import file_spec

    variant = onnx_plugin.edgeops_optimize(
        artifact=tiny_onnx_artifact,
        recipe=fp16.model_copy(update={"owner": "onnx"}),
        workdir=tmp_path,
        samples=None,
        context=BuildContext(spec=file_spec(tiny_onnx_artifact.path)),
    )
    assert variant.path.is_file() and variant.path.stat().st_size < tiny_onnx_artifact.size_bytes


FAILING_EVALUATE_PLUGIN = """
from edgeops import hookimpl


@hookimpl(tryfirst=True)
def edgeops_evaluate(variant, reference, samples, spec, outputs_dir, context):
    if variant.recipe is not None and variant.recipe.name == "fp16":
        return _deep_in_scoring()
    return None


def _deep_in_scoring():
    raise RuntimeError("scoring fp16 broke")
"""


def test_a_quality_failure_in_a_worker_process_keeps_its_traceback(
    tmp_path, monkeypatch, edgeops_workspace
):
    # README: "A failure keeps its full traceback ... also for a failure made in a
    # worker process". A variant whose scoring failed in a worker had none: the
    # traceback stayed in the worker's memory.
    from edgeops.plugin_manager import make_plugin_manager

    (tmp_path / "failing_evaluate.py").write_text(FAILING_EVALUATE_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("EDGEOPS_PLUGINS", "failing_evaluate")
    monkeypatch.setenv("EDGEOPS_DISABLE_PLUGINS", "tflite,coreml,executorch")
    pm = make_plugin_manager()
    spec, _ = load_spec(tiny_onnx(tmp_path / "m.onnx"))
    spec = spec.model_copy(update={"recipes": ("fp32", "fp16")})
    host = resolve_profiles(["host"], pm)[0].model_copy(update={"formats": ("onnx",)})
    pipeline = Pipeline(pm, edgeops_workspace, jobs=2)  # worker processes, as `ship` runs
    results = pipeline.optimize(pipeline.convert(spec, [host], FAST, run_id="run1"))
    failed = next(v for v in results.variants if v.name == "onnx:fp16")
    assert failed.status == "error" and "scoring fp16 broke" in (failed.error or "")
    saved = list((edgeops_workspace.root / "runs" / "run1" / "tracebacks").glob("evaluate-*"))
    assert len(saved) == 1, saved
    text = saved[0].read_text()
    assert "Traceback (most recent call last)" in text and "in _deep_in_scoring" in text
