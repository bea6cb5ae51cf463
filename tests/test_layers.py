"""The core's layers: a module imports only its own layer and the layers below it.

From the bottom: the data and its helpers (quality scoring and the sample files among
them); devices, selection and the plugin machinery; the pipeline, the report and the gate; the Python API; the CLI, the studio and
the pytest fixtures on top. An import inside a function counts as much as one at the
top (it runs all the same); one under ``if TYPE_CHECKING:`` does not.
"""

import ast
from pathlib import Path

from paths import REPO

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "data",
        (
            "edgeops.errors", "edgeops.models", "edgeops.files", "edgeops.quiet",
            "edgeops.extras", "edgeops.hookspecs", "edgeops.backend",
            "edgeops.placement",
            "edgeops.round_stats",
            "edgeops.devices.sessions", "edgeops.pipeline.factories", "edgeops.pipeline.names",
            "edgeops.sample_files", "edgeops.quality", "edgeops.options",
        ),
    ),
    (
        "devices and plugins",
        (
            "edgeops.devices", "edgeops.routing",
            "edgeops.plugin_manager", "edgeops.plugin",
        ),
    ),
    (
        "pipeline",
        (
            "edgeops.pipeline", "edgeops.selection", "edgeops.report",
            "edgeops.gate",
        ),
    ),
    ("api", ("edgeops.api",)),
    (
        "commands",
        (
            "edgeops.cli", "edgeops.studio", "edgeops.gate.command", "edgeops.testing",
            "edgeops.__main__",
        ),
    ),
]  # fmt: skip

# Imports that go up today, each with what it waits for. The list only shrinks: a new
# upward import fails the test.
KNOWN = {
    ("edgeops.api", "edgeops.cli.progress"): "the progress and output helpers move below the API",
    ("edgeops.gate", "edgeops.api"): "edgeops.gate(...) is the API's gate, called as a module",
    ("edgeops.backend", "edgeops.devices.device_quality"): (
        "Backend.evaluate_on_device's default scoring moves below the backend class"
    ),
}


def layer_of(module: str) -> int | None:
    """The layer of ``module``: its longest matching prefix decides."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (index, len(prefix))
    return best[0] if best else None


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Every ``edgeops`` import in ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [(line, name) for line, name in found if name.split(".")[0] == "edgeops"]


def upward_imports() -> list[tuple[str, str, int]]:
    out = []
    for path in sorted((REPO / "edgeops").rglob("*.py")):
        module = _module_name(path)
        mine = layer_of(module)
        if mine is None:
            continue
        for line, name in _imports(ast.parse(path.read_text(), str(path))):
            theirs = layer_of(name)
            if theirs is not None and theirs > mine:
                out.append((module, name, line))
    return out


def test_every_core_module_has_a_layer():
    modules = [_module_name(p) for p in (REPO / "edgeops").rglob("*.py")]
    assert [m for m in modules if m != "edgeops" and layer_of(m) is None] == []


def test_no_lower_layer_imports_an_upper_one():
    new = [
        f"{module}:{line} imports {name} ({LAYERS[layer_of(name)][0]} is above "  # type: ignore[index]
        f"{LAYERS[layer_of(module)][0]})"  # type: ignore[index]
        for module, name, line in upward_imports()
        if (module, name) not in KNOWN
    ]
    assert not new, "\n".join(new)


def test_the_known_exceptions_are_still_real():
    # A fixed one must leave the list, so it cannot come back unnoticed.
    still = {(module, name) for module, name, _ in upward_imports()}
    assert set(KNOWN) <= still, sorted(set(KNOWN) - still)


def test_the_layer_test_catches_an_upward_import(tmp_path):
    tree = ast.parse("def f():\n    from edgeops.cli import main\n")
    ((line, name),) = _imports(tree)
    assert layer_of(name) > layer_of("edgeops.models")  # type: ignore[operator]
    skipped = ast.parse("if TYPE_CHECKING:\n    from edgeops.cli import main\n")
    assert _imports(skipped) == []
