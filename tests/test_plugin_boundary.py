"""The plugin boundary: the core never imports a plugin, plugins import only the declared
API (``edgeops``, ``edgeops.plugin``, ``edgeops.hookspecs``), and no plugin imports another.
What several built-ins share lives in helper packages beside them, which any plugin may
import: they hold no hooks, have no entry point, and obey the same boundary."""

import ast
import tomllib
from pathlib import Path

import edgeops.plugin

from paths import REPO

ALLOWED = {"edgeops", "edgeops.plugin", "edgeops.hookspecs"}
PLUGIN_PACKAGES = sorted(p.name for p in (REPO / "plugins").iterdir() if p.is_dir())
# Shared code of several built-ins: sources as torch modules and build records (Core ML,
# Core AI, ExecuTorch); the roofline predictions (Core ML, Core AI).
HELPERS = {"edgeops_torch_route", "edgeops_apple"}
EXAMPLE_PLUGINS = [
    REPO / "examples" / "edgeops-recipe-example",
    REPO / "examples" / "edgeops-backend-example",
]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every imported module name in ``path`` (``from x import y`` gives x and x.y)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _sources(folder: Path, tests: bool) -> list[Path]:
    return [p for p in folder.rglob("*.py") if tests or "tests" not in p.relative_to(folder).parts]


def test_the_plugin_folders_are_found():
    assert {
        "edgeops_onnx",
        "edgeops_tflite",
        "edgeops_coreml",
        "edgeops_ssh",
        "edgeops_executorch",
    } <= set(PLUGIN_PACKAGES)


def test_the_core_imports_no_plugin():
    bad = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in _sources(REPO / "edgeops", tests=True)
        for line, name in _imports(path)
        if name.split(".")[0] in PLUGIN_PACKAGES
    ]
    assert not bad, "\n".join(bad)


def test_plugins_import_only_the_declared_api_and_never_each_other():
    bad = []
    for package in PLUGIN_PACKAGES:
        for path in _sources(REPO / "plugins" / package, tests=False):
            for line, name in _imports(path):
                top = name.split(".")[0]
                other_plugin = top in PLUGIN_PACKAGES and top not in HELPERS | {package}
                private_core = top == "edgeops" and name not in ALLOWED
                if other_plugin or private_core:
                    bad.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    for folder in EXAMPLE_PLUGINS:
        for path in _sources(folder, tests=False):
            for line, name in _imports(path):
                if name.split(".")[0] == "edgeops" and name not in ALLOWED:
                    bad.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_helper_packages_are_no_plugins_and_the_core_holds_no_apple_code():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    registered = set(project["entry-points"]["edgeops"].values())
    assert set(PLUGIN_PACKAGES) >= HELPERS
    assert not HELPERS & registered, "a helper package registers no hooks"
    for helper in HELPERS:
        assert "hookimpl" not in "".join(
            p.read_text() for p in _sources(REPO / "plugins" / helper, tests=False)
        )
    for moved in ("torch_sources", "roofline", "build_info"):
        assert not (REPO / "edgeops" / f"{moved}.py").exists(), moved


def test_the_declared_api_is_exact_and_documented():
    assert len(edgeops.plugin.__all__) == len(set(edgeops.plugin.__all__))
    for name in edgeops.plugin.__all__:
        assert getattr(edgeops.plugin, name) is not None, name
    public = {n for n in vars(edgeops.plugin) if not n.startswith(("_", "@"))}
    # Nothing public that is not declared, besides the module's own imports.
    own = {"annotations", "Any", "Path", "TYPE_CHECKING", "importlib"}
    assert public - set(edgeops.plugin.__all__) <= own
    assert len(edgeops.plugin.__doc__ or "") > 200
