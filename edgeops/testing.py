"""pytest fixtures for edgeops and its plugin authors, opt-in.

A plugin's test suite opts in from its root ``conftest.py`` (as tox's pytest plugin)::

    pytest_plugins = ["edgeops.testing"]

Installing edgeops no longer loads them into every pytest run of the environment.
The fixtures:

- ``edgeops_pm``: a fresh plugin manager with every installed plugin;
- ``register_plugin``: register a plugin object for one test, unregistered after;
- ``local_device``: this machine as a Device;
- ``edgeops_workspace``: an empty ``.edgeops`` in a temporary folder;
- ``tiny_onnx_artifact``: a converted ONNX Artifact of a 2-layer conv net, to feed a
  plugin's ``edgeops_recipes`` and ``edgeops_optimize`` in milliseconds;
- ``tiny_torch_spec``, ``tiny_torch_samples``, ``tiny_torch_reference`` (once per
  session): a small conv net as a PyTorch factory, its samples and its fp32 reference
  outputs, for a backend that converts from torch (the Apple backends' tests).

Helpers for a backend's own tests: ``write_tiny_onnx`` and ``write_matmul_onnx``
(small real ONNX files), ``file_spec`` (a model file's spec), ``converted`` (a convert hook's Artifact, asserted to be
there), ``convert_with`` (one plugin's conversion, given the artifacts made before it),
``hooks_of`` (a plugin's hooks as installed: a ``Backend`` routed by format) and
``assert_converts_only`` (a convert hook leaves other targets and sources to other
plugins).

A plugin's whole loop, in one test::

    def test_my_recipe(tiny_onnx_artifact, register_plugin, tmp_path):
        plugin = register_plugin(MyPlugin(), name="mine")
        (recipe,) = plugin.edgeops_recipes(artifact=tiny_onnx_artifact)
        variant = plugin.edgeops_optimize(
            artifact=tiny_onnx_artifact, recipe=recipe, workdir=tmp_path
        )
        assert variant.path.is_file()
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeops.models import (
    Artifact,
    Device,
    InputSpec,
    ModelSpec,
    QualitySpec,
    ReferenceOutputs,
    SampleSet,
)
from edgeops.pipeline import Workspace
from edgeops.plugin_manager import PluginManager, make_plugin_manager

TEST_DATA_ENV = "EDGEOPS_TEST_DATA"


def test_data_dir() -> Path:
    """The real models and device logs the suite runs on: ``$EDGEOPS_TEST_DATA``, else
    the repository's own ``tests/data`` (committed, with sources and licences)."""
    import os

    default = Path(__file__).resolve().parents[1] / "tests" / "data"
    return Path(os.environ.get(TEST_DATA_ENV, default))


# A helper, not a test: pytest collects test_* names wherever a test module imports them.
test_data_dir.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def edgeops_pm() -> PluginManager:
    """A new plugin manager with every installed plugin (``EDGEOPS_DISABLE_PLUGINS`` holds)."""
    return make_plugin_manager()


@pytest.fixture
def register_plugin(edgeops_pm: PluginManager) -> Iterator[Callable[..., Any]]:
    """``register(plugin, name=None)``: add a plugin object to ``edgeops_pm`` for this test.

    A ``Backend`` (class or instance) is registered as the plugin manager registers an
    installed one: routed by its format. It returns what was registered; every plugin
    registered so is unregistered after the test, so tests never see each other's plugins."""
    from edgeops.routing import routed

    registered: list[Any] = []

    def register(plugin: Any, name: str | None = None) -> Any:
        plugin = routed(plugin)
        edgeops_pm.register(plugin, name=name)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        if edgeops_pm.is_registered(plugin):
            edgeops_pm.unregister(plugin)


@pytest.fixture
def local_device(edgeops_pm: PluginManager) -> Device:
    """This machine as the ``local`` transport's Device, as ``edgeops devices`` lists it."""
    from edgeops.devices.discovery import discover_devices

    return next(d for d in discover_devices(edgeops_pm) if d.transport == "local")


@pytest.fixture
def edgeops_workspace(tmp_path: Path) -> Workspace:
    """An empty workspace (cache, history, run folders) under ``tmp_path``: pass it to
    ``Pipeline(edgeops_pm, edgeops_workspace)``."""
    return Workspace(tmp_path / ".edgeops")


def write_tiny_onnx(path: Path, size: int = 16, seed: int = 0) -> Path:
    """A two-layer conv net, ``x`` 1x3xSxS -> ``y`` 1x2xSxS, written with onnx.helper (opset 17)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (2, 4, 3, 3)).astype(np.float32), "w2")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w1"], ["h"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("Conv", ["r", "w2"], ["y"], pads=[1, 1, 1, 1]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, size, size])],
        [w1, w2],
    )
    # IR 8: what onnxruntime 1.2x loads; onnx 1.2x would write a newer one by default.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def tiny_onnx_artifact(tmp_path: Path) -> Any:
    """A converted ONNX :class:`~edgeops.Artifact` as the pipeline hands it to plugins: path,
    sha256, size, inputs and output names filled in. Skips the test without ``onnx``."""
    pytest.importorskip("onnx", reason="tiny_onnx_artifact needs edgeops[onnx]")
    from edgeops.files import sha256_tree, size_bytes
    from edgeops.models import Artifact, InputSpec

    path = write_tiny_onnx(tmp_path / "tiny.onnx")
    return Artifact(
        id=f"tiny-{sha256_tree(path)[:12]}",
        format="onnx",
        path=path,
        sha256=sha256_tree(path),
        size_bytes=size_bytes(path),
        inputs=(InputSpec(name="x", shape=(1, 3, 16, 16), layout="NCHW"),),
        output_names=("y",),
    )


def write_matmul_onnx(path: Path, in_features: int, out_features: int) -> Path:
    """``y = relu(x @ w)``, ``x`` 1xIN -> ``y`` 1xOUT (opset 17, IR 8): a model a device
    probe runs in milliseconds."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((in_features, out_features)).astype(np.float32),
        "w",
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, in_features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_features])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


# --------------------------------------------------------------------------- torch sources

# Both Apple backends' compressors are tested on this net. One 64->128 3x3 convolution
# holds 73,728 weights: past fp16's 65,504, where coremltools' own magnitude pruner
# under-prunes (conversion-notes.md). Output channels are multiples of 16 except the
# head's 4, so Core AI's grouped palettization covers the two large convolutions and
# skips the head, as on the U-Net.
TINY_TORCH_NET = textwrap.dedent(
    """
    import torch
    from torch import nn

    def build():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(128, 4, 1),
        ).eval()
    """
)


@pytest.fixture(scope="session")
def tiny_torch_spec(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    """A :class:`~edgeops.ModelSpec` of ``TINY_TORCH_NET`` as a PyTorch factory: ``image``
    1x3x16x16 -> 4 channels, a segmentation task with an SNR floor of 20 dB, 4 samples."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "tiny_net.py").write_text(TINY_TORCH_NET)
    return ModelSpec(
        name="tiny",
        source=f"{folder / 'tiny_net.py'}:build",
        source_sha256="tiny",
        task="segmentation",
        inputs=(InputSpec(name="image", shape=(1, 3, 16, 16)),),
        sample_count=4,
        quality=QualitySpec(metric="snr_db", floor=20.0),
    )


@pytest.fixture(scope="session")
def tiny_torch_samples(
    tiny_torch_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory
) -> SampleSet:
    """The samples the pipeline builds for ``tiny_torch_spec``, once per session."""
    from edgeops.pipeline.samples import build_samples

    return build_samples(
        tiny_torch_spec, tiny_torch_spec.inputs, tmp_path_factory.mktemp("samples")
    )


@pytest.fixture(scope="session")
def tiny_torch_reference(
    tiny_torch_spec: ModelSpec,
    tiny_torch_samples: SampleSet,
    tmp_path_factory: pytest.TempPathFactory,
) -> ReferenceOutputs:
    """The fp32 reference outputs of ``tiny_torch_spec`` on its samples, from the installed
    plugin that runs a PyTorch factory (the ONNX backend). Skips the test without one."""
    from edgeops.plugin_manager import make_plugin_manager

    reference = make_plugin_manager().hook.edgeops_reference(
        spec=tiny_torch_spec,
        samples=tiny_torch_samples,
        workdir=tmp_path_factory.mktemp("reference"),
    )
    if reference is None:
        pytest.skip("tiny_torch_reference needs edgeops[onnx] to run the torch factory")
    return reference


# --------------------------------------------------------------------------- convert hooks


def file_spec(path: Path, metric: str = "snr_db", floor: float = 30.0) -> ModelSpec:
    """A :class:`~edgeops.ModelSpec` of the model file ``path``, named after it, with one
    quality floor: what a backend's conversion tests convert."""
    return ModelSpec(
        name=path.stem,
        source=str(path),
        source_sha256="test",
        quality=QualitySpec(metric=metric, floor=floor),
    )


def hooks_of(plugin: Any) -> Any:
    """The hook functions ``plugin`` answers once installed: for a Backend, its methods
    routed by format (``edgeops.routing``), so a test sees what the pipeline sees."""
    from edgeops.routing import routed

    return routed(plugin)


def convert_with(
    plugin: Any, spec: ModelSpec, target: str, workdir: Path, artifacts: tuple[Artifact, ...] = ()
) -> Artifact | None:
    """``plugin``'s ``edgeops_convert`` alone (a Backend routed by format, as installed),
    given ``artifacts`` as the conversions made before it."""
    from edgeops.backend import BuildContext

    return hooks_of(plugin).edgeops_convert(
        spec=spec,
        target=target,
        workdir=workdir,
        artifacts=list(artifacts),
        context=BuildContext(spec=spec, artifacts=artifacts),
    )


def converted(
    plugin: Any, spec: ModelSpec, target: str, workdir: Path, artifact_id: str
) -> Artifact:
    """``plugin.edgeops_convert`` of ``spec`` to ``target`` with no upstream artifacts,
    asserted to answer, with the id the pipeline would have given it."""
    artifact = convert_with(plugin, spec, target, workdir)
    assert artifact is not None, f"{plugin.__name__} did not convert {spec.source} to {target}"
    return artifact.model_copy(update={"id": artifact_id})


def assert_converts_only(
    plugin: Any, spec: ModelSpec, target: str, other_target: str, workdir: Path
) -> None:
    """``plugin.edgeops_convert`` answers None, leaving the work to other plugins, for
    ``spec`` to ``other_target`` and for a Keras source to its own ``target``."""

    def convert(spec: ModelSpec, target: str) -> Any:
        return convert_with(plugin, spec, target, workdir)

    assert convert(spec, other_target) is None
    assert convert(spec.model_copy(update={"source": str(workdir / "m.keras")}), target) is None
