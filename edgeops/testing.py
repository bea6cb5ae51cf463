"""pytest fixtures for edgeops and its plugin authors (loaded through the pytest11 entry point).

Installing edgeops makes them available in any pytest run; no conftest is needed:

- ``edgeops_pm``: a fresh plugin manager with every installed plugin;
- ``register_plugin``: register a plugin object for one test, unregistered after;
- ``local_device``: this machine as a Device;
- ``edgeops_workspace``: an empty ``.edgeops`` in a temporary folder;
- ``tiny_onnx_artifact``: a converted ONNX Artifact of a 2-layer conv net, to feed a
  plugin's ``edgeops_recipes`` and ``edgeops_optimize`` in milliseconds.

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

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeops.models import Device
from edgeops.pipeline import Workspace
from edgeops.plugin_manager import PluginManager, make_plugin_manager

TEST_DATA_ENV = "EDGEOPS_TEST_DATA"


def test_data_dir() -> Path:
    """The real models and device logs the suite runs on: ``$EDGEOPS_TEST_DATA``, else
    the repository's own ``tests/data`` (committed, with sources and licences)."""
    import os

    default = Path(__file__).resolve().parents[1] / "tests" / "data"
    return Path(os.environ.get(TEST_DATA_ENV, default))


@pytest.fixture
def edgeops_pm() -> PluginManager:
    """A new plugin manager with every installed plugin (``EDGEOPS_DISABLE_PLUGINS`` holds)."""
    return make_plugin_manager()


@pytest.fixture
def register_plugin(edgeops_pm: PluginManager) -> Iterator[Callable[..., Any]]:
    """``register(plugin, name=None)``: add a plugin object to ``edgeops_pm`` for this test.

    It returns the plugin; every plugin registered so is unregistered after the test,
    so tests never see each other's plugins."""
    registered: list[Any] = []

    def register(plugin: Any, name: str | None = None) -> Any:
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
