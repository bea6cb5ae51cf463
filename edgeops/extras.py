"""Which pip extra installs which module: a missing backend names its fix.

Without this a user who installed only the core sees "ModuleNotFoundError: No
module named 'onnx'" and must guess the package; with it the message says
``pip install 'edgeops[onnx]'``. The extras are those of pyproject.toml.
"""

from __future__ import annotations

import importlib.util

# Top-level module -> the extra that installs it (pyproject.toml [project.optional-dependencies]).
EXTRA_OF_MODULE: dict[str, str] = {
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "torch": "torch",
    "onnxscript": "torch",
    "ai_edge_litert": "tflite",
    "tensorflow": "tflite-convert",
    "tf_keras": "tflite-convert",
    "keras": "tflite-convert",
    "onnx2tf": "tflite-convert",
    "onnxsim": "tflite-convert",
    "onnx_graphsurgeon": "tflite-convert",
    "tf2onnx": "tflite-onnx",
    "coremltools": "coreml",
    "sklearn": "coreml",
    "onnx2torch": "coreml",
    "adb_shell": "adb",
    "paramiko": "ssh",
    "executorch": "executorch",
}


def install_hint(module: str) -> str:
    """What to run so ``module`` imports."""
    top = module.split(".", 1)[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return f"install the package that provides {top!r}"
    if top == "onnx2torch":
        # onnx2torch declares torchvision, whose wheel pulls CUDA packages (install.sh).
        return "run ./install.sh, or pip install --no-deps onnx2torch==1.5.15"
    return f"install it with: pip install 'edgeops[{extra}]'"


def missing_module_message(exc: ModuleNotFoundError) -> str:
    """One line for a missing backend module, naming the extra that installs it."""
    name = exc.name or str(exc)
    return f"the Python module {name!r} is not installed; {install_hint(name)}"


def importable(module: str) -> bool:
    """True if ``module`` can be imported, without importing it (a heavy SDK stays unloaded)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
