"""edgeops_torch_route.torch_sources: what both Apple backends do with a source before their converters."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edgeops.errors import ModelError
from edgeops.models import InputSpec, ModelSpec, QualitySpec
from edgeops.testing import write_tiny_onnx
from edgeops_torch_route.torch_sources import (
    ONNX2TORCH_OPSET,
    absolute_source,
    at_onnx2torch_opset,
    count_work,
    identifier,
    onnx2torch_module,
    short_error,
    torch_source,
)

NET = textwrap.dedent(
    """
    from torch import nn

    def build():
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(8 * 4 * 4, 5))

    def not_a_module():
        return 42
    """
)


def _spec(source: str, **kw: object) -> ModelSpec:
    fields: dict[str, object] = {
        "name": "m",
        "source": source,
        "source_sha256": "0" * 64,
        "quality": QualitySpec(metric="iou", floor=0.9),
        "inputs": (InputSpec(name="x", shape=(1, 3, 4, 4)),),
    }
    return ModelSpec(**(fields | kw))  # type: ignore[arg-type]


def _no_onnx(path: Path, inputs: tuple) -> tuple:
    raise AssertionError("a factory must not take the ONNX route")


def test_a_factory_becomes_an_eval_module_and_its_work_is_counted(tmp_path):
    (tmp_path / "net.py").write_text(NET)
    net, inputs = torch_source(_spec(f"{tmp_path / 'net.py'}:build"), "Test", _no_onnx)
    assert not net.training and inputs[0].shape == (1, 3, 4, 4)
    macs, largest = count_work(net, inputs)
    # conv: 3*3*3 per output element x 8*4*4 outputs; linear: 128 x 5.
    assert macs == 27 * 128 + 128 * 5
    # The largest leaf layer's input plus output: the conv's 48 + 128 (ReLU: 128 + 128 = 256).
    assert largest == 256


def test_bad_sources_are_one_line_model_errors_naming_the_fix(tmp_path):
    (tmp_path / "net.py").write_text(NET)
    with pytest.raises(ModelError, match="not a torch.nn.Module"):
        torch_source(_spec(f"{tmp_path / 'net.py'}:not_a_module"), "Test", _no_onnx)
    with pytest.raises(ModelError, match=r"add \[\[model.inputs\]\]"):
        torch_source(_spec(f"{tmp_path / 'net.py'}:build", inputs=()), "Test", _no_onnx)
    with pytest.raises(ModelError, match="the Test backend cannot read m.keras"):
        torch_source(_spec(str(tmp_path / "m.keras")), "Test", _no_onnx)


def test_an_onnx_source_takes_the_backends_route(tmp_path):
    seen = []

    def route(path: Path, inputs: tuple) -> tuple:
        seen.append(path)
        return "net", inputs

    path = tmp_path / "m.onnx"
    assert torch_source(_spec(str(path)), "Test", route)[0] == "net" and seen == [path]


def test_an_old_opset_graph_is_converted_and_onnx2torch_runs_it(tmp_path):
    import onnx
    import torch

    path = write_tiny_onnx(tmp_path / "old.onnx", size=8)
    # The same Conv and Relu at opset 13, older than onnx2torch's.
    old = onnx.load(str(path))
    old.opset_import[0].version = 13
    onnx.save(old, str(path))
    model = at_onnx2torch_opset(onnx.load(str(path)), path)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [
        ONNX2TORCH_OPSET
    ]
    net = onnx2torch_module(model, path)
    assert tuple(net(torch.zeros(1, 3, 8, 8)).shape) == (1, 2, 8, 8)


def test_names_and_errors_are_made_safe():
    assert identifier("x.1") == "x_1" and identifier("1273") == "input_1273"
    assert identifier("_ok") == "_ok"
    text = short_error(RuntimeError("a\n  b " + "c" * 400))
    assert text.startswith("a b c") and len(text) == 301 and text.endswith("…")


def test_a_relative_source_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_source(_spec("net.py:build")).source == f"{tmp_path / 'net.py'}:build"
    assert absolute_source(_spec("m.onnx")).source == str(tmp_path / "m.onnx")


def test_an_onnx_source_without_inputs_takes_the_onnx_backends(tmp_path, monkeypatch):
    from edgeops.models import Artifact
    from edgeops_torch_route.torch_sources import convertible_spec

    monkeypatch.chdir(tmp_path)
    read = (InputSpec(name="input.1", shape=(1, 3, 8, 8)),)
    onnx_artifact = Artifact(id="a", format="onnx", inputs=read)
    spec = convertible_spec(_spec("m.onnx", inputs=()), [onnx_artifact])
    assert spec is not None and spec.inputs == read and spec.source == str(tmp_path / "m.onnx")
    # Without the ONNX backend's artifact the spec stays without inputs: the backend decides.
    alone = convertible_spec(_spec("m.onnx", inputs=()), [])
    assert alone is not None and alone.inputs == ()
    # A factory keeps its own inputs; another plugin's source is not this route's.
    factory = convertible_spec(_spec("net.py:build"), [onnx_artifact])
    assert factory is not None and factory.inputs[0].name == "x"
    assert convertible_spec(_spec("m.keras"), [onnx_artifact]) is None
