"""A missing backend names the extra to install; `edgeops plugins` says what imports."""

import json
import subprocess
import sys
import tomllib

from edgeops.extras import EXTRA_OF_MODULE, install_hint

from factories import run_cli, tiny_onnx
from paths import REPO

# Runs edgeops with these modules made unimportable (None in sys.modules makes
# `import onnxruntime` raise ModuleNotFoundError), as on a machine without the extra.
WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from edgeops.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_without(modules, *args, cwd):
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, ",".join(modules), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_extra_named_exists_in_pyproject():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(EXTRA_OF_MODULE.values()) <= set(extras)
    assert "tensorflow" not in " ".join(extras["tflite"]), "measuring .tflite needs LiteRT only"
    assert any(d.startswith("tensorflow") for d in extras["tflite-convert"])


def test_core_pins_nothing_exactly_and_the_numpy_cap_lives_with_coreml():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if "==" in d]
    assert "numpy<2.4" in [
        d.split("#")[0].strip() for d in project["optional-dependencies"]["coreml"]
    ]
    constraints = (REPO / "constraints.txt").read_text()
    assert "numpy==2.3.5" in constraints and "torch==2.13.0" in constraints
    assert "-c constraints.txt" in (REPO / "install.sh").read_text()


def test_install_hint_names_the_extra():
    assert (
        install_hint("onnxruntime.quantization") == "install it with: pip install 'edgeops[onnx]'"
    )
    assert "edgeops[tflite-convert]" in install_hint("tensorflow")


def test_a_missing_runtime_is_named_with_its_extra_in_ship(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx")
    result = run_without(
        ["onnx", "onnxruntime"],
        "ship",
        str(model),
        "--workspace",
        str(tmp_path / "ws"),
        cwd=tmp_path,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert "pip install 'edgeops[onnx]'" in last, result.stderr[-1500:]


def test_plugins_says_whether_each_runtime_imports(tmp_path):
    result = run_without(["onnxruntime"], "plugins", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)["plugins"]}
    assert rows["onnx"]["runtime"] == "onnxruntime"
    assert rows["onnx"]["runtime_importable"] is False
    assert "edgeops[onnx]" in rows["onnx"]["install_hint"]
    assert rows["ssh"]["runtime_importable"] is True
    shown = run_cli("plugins", cwd=tmp_path).stdout
    assert "onnxruntime: importable" in shown
