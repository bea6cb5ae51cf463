"""examples/edgeops-recipe-example: a separate distribution, installed, discovered and used."""

import json
import os
import subprocess
import sys
import venv

import pytest

from paths import DATA, REPO

pytestmark = pytest.mark.slow


def test_installed_plugin_is_discovered_and_used_by_ship(tmp_path):
    env_dir = tmp_path / "venv"
    # System site packages: edgeops and onnxruntime come from the install command;
    # the venv adds only the plugin, so nothing is downloaded.
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(REPO / "examples" / "edgeops-recipe-example"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    plugins = subprocess.run(
        [python, "-m", "edgeops", "plugins", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    rows = {r["name"]: r for r in json.loads(plugins.stdout)["plugins"]}
    assert rows["ort-optimized"]["distribution"] == "edgeops-recipe-example"
    assert rows["ort-optimized"]["version"] == "0.1.0"

    ship = subprocess.run(
        [
            python,
            "-m",
            "edgeops",
            "ship",
            str(DATA / "models/onnx/ultraface__version-slim-320.onnx"),
            "--rounds",
            "1",
            "--min-runs",
            "5",
            "--min-duration-s",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        # The ONNX backend alone: the recipe plugin adds an ONNX recipe.
        env={**os.environ, "EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"},
    )
    assert ship.returncode == 0, ship.stderr[-2000:]
    summary = json.loads(ship.stdout)
    variant = next(v for v in summary["variants"] if v["recipe"]["name"] == "ort-optimized")
    assert variant["status"] == "ok" and variant["quality"]["metrics"]["snr_db"] > 60
    # Made by its owner, not answered by the built-in ONNX backend with a copy of fp32:
    # a different file, whose graph has ORT's fused nodes.
    assert variant["recipe"]["owner"] == "ort-optimized"
    fp32 = next(v for v in summary["variants"] if v["recipe"]["name"] == "fp32")
    assert variant["sha256"] != fp32["sha256"]
    import onnx

    # Paths in results are as the run saw them: relative to the folder ship ran in.
    ops = {n.op_type for n in onnx.load(str(tmp_path / variant["path"])).graph.node}
    fp32_ops = {n.op_type for n in onnx.load(str(tmp_path / fp32["path"])).graph.node}
    assert ops - fp32_ops, f"no fused node in {sorted(ops)}"
    assert any(
        m["variant_id"] == variant["id"] and m["status"] == "ok" for m in summary["measurements"]
    )

    # The main environment does not have it: the plugin really came from the install.
    main_plugins = subprocess.run(
        [sys.executable, "-m", "edgeops", "plugins", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert "ort-optimized" not in {r["name"] for r in json.loads(main_plugins.stdout)["plugins"]}
