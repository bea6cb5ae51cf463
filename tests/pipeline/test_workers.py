"""Variants made in worker processes: a crash, a hang or a runaway allocation in one
worker is that variant's recorded error, and the sweep goes on."""

import json

import pytest

from factories import run_cli, tiny_onnx

pytestmark = pytest.mark.slow

# A third-party plugin, loaded by every worker through EDGEOPS_PLUGINS: three recipes
# that fail the way a real conversion can, beside the ONNX backend's own.
FAULTY_PLUGIN = """
import ctypes, os, time
from edgeops import Recipe, hookimpl

NAMES = ("segfault", "hang", "balloon")


@hookimpl
def edgeops_recipes(artifact):
    if artifact.format != "onnx":
        return []
    return [Recipe.of(name=n, format="onnx") for n in NAMES]


@hookimpl
def edgeops_recipe_catalog():
    return [f"onnx:{n}" for n in NAMES]


@hookimpl
def edgeops_optimize(artifact, recipe, workdir):
    if recipe.name == "segfault":
        ctypes.string_at(0)  # a native crash, as a converter's C++ can
    if recipe.name == "hang":
        time.sleep(3600)
    if recipe.name == "balloon":
        hog = []
        while True:
            hog.append(bytearray(256 * 2**20))
            hog[-1][::4096] = b"x" * len(hog[-1][::4096])
    return None
"""


def test_a_crash_a_hang_and_a_runaway_worker_are_recorded_and_the_run_goes_on(tmp_path):
    (tmp_path / "faulty_recipes.py").write_text(FAULTY_PLUGIN)
    model = tiny_onnx(tmp_path / "m.onnx")
    env = {
        "PYTHONPATH": str(tmp_path),
        "EDGEOPS_PLUGINS": "faulty_recipes",
        "EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch",
    }
    result = run_cli(
        "ship", str(model), "--profile", "host", "--jobs", "2", "--rounds", "1",
        "--min-runs", "3", "--min-duration-s", "0", "--json",
        # Small enough that "balloon" passes it in seconds and "hang" ends soon.
        "--worker-memory-mb", "1500", "--task-timeout-s", "20",
        cwd=tmp_path, env=env, timeout_s=600,
    )  # fmt: skip
    summary = json.loads(result.stdout)
    variants = {v["recipe"]["name"]: v for v in summary["variants"]}
    assert "died" in variants["segfault"]["error"]
    assert "longer than 20 s" in variants["hang"]["error"]
    assert "memory budget" in variants["balloon"]["error"] or "died" in variants["balloon"]["error"]
    # The backend's own recipes were made and measured all the same.
    for name in ("fp32", "fp16", "int8-dynamic", "int8-static"):
        assert variants[name]["status"] == "ok", variants[name]
    assert any(m["status"] == "ok" for m in summary["measurements"])
