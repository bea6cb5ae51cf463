"""[[sweep]] tables expanded with the backends' real recipe families, and run by the pipeline."""

import json

import pytest

from edgeops.errors import UsageError
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec
from edgeops.pipeline.sweep import expand

from factories import run_cli, tiny_onnx

PALETTIZE = {
    "recipe": "coreml:palettize",
    "nbits": [2, 3, 4, 6, 8],
    "mode": ["kmeans", "uniform"],
    "granularity": ["per_tensor", "per_grouped_channel"],
    "group_size": [0, 8, 16, 32],
}


@pytest.fixture
def families(edgeops_pm, edgeops_workspace):
    return Pipeline(edgeops_pm, edgeops_workspace).recipe_families()


def test_the_cross_product_minus_what_the_step_refuses(families):
    out = expand([PALETTIZE], families)
    # 5 x 2 x 2 x 4 = 80 combinations; per_tensor takes only group_size 0 and
    # per_grouped_channel every other: 5 x 2 x (1 + 3) = 40.
    assert len(out.recipes) == 40 and len(out.dropped) == 40
    assert all(r.owner == "coreml" and r.format == "coreml" for r in out.recipes)
    reasons = {d.reason for d in out.dropped}
    assert any("group_size applies to granularity per_grouped_channel only" in r for r in reasons)
    names = [r.name for r in out.recipes]
    assert len(set(names)) == len(names)
    assert "palettize-nbits4-kmeans-per_grouped_channel-gs16" in names
    step = out.recipes[0].steps[0]
    assert step.op == "palettize" and set(step.params) >= {"nbits", "mode", "group_size"}


def test_joint_compression_is_an_axis_too(families):
    table = {"recipe": "coreml:prune-palettize", "target_sparsity": [0.5, 0.75], "nbits": [4, 8]}
    out = expand([table], families)
    assert len(out.recipes) == 4
    assert [s.op for s in out.recipes[0].steps] == ["prune", "palettize"]


def test_a_duplicate_file_is_dropped_not_made_twice(families):
    # mode kmeans is the default: the second table makes the same recipe again.
    tables = [
        {"recipe": "onnx:quantize_static", "per_channel": [True, False]},
        {"recipe": "onnx:quantize_static", "name": "again", "per_channel": True, "format": "QDQ"},
    ]
    out = expand(tables, families)
    assert len(out.recipes) == 2
    assert out.dropped[0].reason == "the same recipe as onnx:quantize_static-pc"


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"recipe": "coreml:palettise", "nbits": 4}, "did you mean 'coreml:palettize'"),
        ({"recipe": "coreml:palettize", "nbit": 4}, "did you mean 'nbits'"),
        ({"nbits": 4}, "needs recipe ="),
    ],
)
def test_a_typo_is_an_error_before_any_work(families, table, says):
    with pytest.raises(UsageError, match=says):
        expand([table], families)


def test_ship_makes_the_swept_variants_and_keeps_the_plain_conversion(tmp_path):
    tiny_onnx(tmp_path / "m.onnx")
    (tmp_path / "edgeops.toml").write_text(
        '[model]\nsource = "m.onnx"\n\n'
        '[[sweep]]\nrecipe = "onnx:quantize_dynamic"\nweight_type = ["QUInt8", "QInt8"]\n'
        '[[sweep]]\nrecipe = "onnx:float16"\nkeep_io_types = [true, false]\n'
    )
    dry = run_cli("sweep", str(tmp_path), "--dry-run", "--json", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert len(json.loads(dry.stdout)["variants"]) == 4
    assert not (tmp_path / ".edgeops").exists()

    spec, _ = load_spec(tmp_path)
    ship = run_cli(
        "ship", str(tmp_path), "--profile", "host", "--rounds", "1", "--min-runs", "3",
        "--min-duration-s", "0", "--json", cwd=tmp_path,
        env={"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"},
    )  # fmt: skip
    assert ship.returncode == 0, ship.stderr[-2000:]
    variants = {v["recipe"]["name"]: v for v in json.loads(ship.stdout)["variants"]}
    # The sweep replaces the ONNX proposals that have steps; fp32 stays as the reference.
    assert set(variants) == {
        "fp32", "quantize_dynamic-QUInt8", "quantize_dynamic-QInt8",
        "float16-kit", "float16-nokit",
    }  # fmt: skip
    # float16 inputs are fed the samples in half precision, as an app would feed them.
    assert all(v["status"] == "ok" and v["quality"] for v in variants.values()), variants
    assert spec.sweep[0]["recipe"] == "onnx:quantize_dynamic"
    assert hash(spec) == hash(spec.model_copy())  # backends cache conversions per spec


def test_onnx_static_quantization_drops_the_pair_onnxruntime_refuses(families):
    table = {
        "recipe": "onnx:quantize_static",
        "activation_type": ["QUInt8", "QInt8"],
        "weight_type": ["QUInt8", "QInt8"],
    }
    out = expand([table], families)
    assert len(out.recipes) == 3
    (dropped,) = out.dropped
    assert "QInt8 activations with QUInt8 weights" in dropped.reason


def test_a_sweep_of_too_many_combinations_is_refused_before_expansion(tmp_path):
    import time

    tiny_onnx(tmp_path / "m.onnx")
    # 100^4 = 10^8 combinations: expanding them took 3.8 GB; counting them takes nothing.
    values = ", ".join(str(v) for v in range(100))
    (tmp_path / "edgeops.toml").write_text(
        '[model]\nsource = "m.onnx"\n[[sweep]]\nrecipe = "coreml:palettize"\n'
        f"nbits = [{values}]\nmode = [{values}]\ngranularity = [{values}]\n"
        f"group_size = [{values}]\n"
    )
    for command in (("sweep", "--dry-run", "."), ("ship", ".")):
        started = time.monotonic()
        done = run_cli(*command, cwd=tmp_path, timeout_s=120)
        assert done.returncode == 2, done.stderr
        assert "100,000,000 combinations" in done.stderr and "10,000 bound" in done.stderr
        assert "Traceback" not in done.stderr and time.monotonic() - started < 60
