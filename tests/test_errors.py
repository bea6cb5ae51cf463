"""Every exception edgeops raises on purpose is in edgeops/errors.py, drawn in its tree."""

import ast
import inspect

import edgeops.errors

from paths import REPO

# Exceptions outside errors.py, with why they are not a user's error. The list only shrinks.
KNOWN = {
    ("edgeops/devices/probe_runners.py", "UnsupportedComputeUnit"): (
        "the probe runs alone on a device and cannot import edgeops; it reports the unit "
        "as unsupported in its JSON"
    ),
    ("edgeops/studio/team/uploads.py", "UploadError"): (
        "an upload the team studio answers with an HTTP 4xx, never raised to the CLI"
    ),
}


def _raises_kind(node: ast.ClassDef) -> bool:
    names = [getattr(b, "id", getattr(b, "attr", "")) for b in node.bases]
    return any(n.endswith(("Error", "Exception", "Interrupt")) for n in names)


def test_public_exceptions_live_in_errors_py():
    found = []
    for path in sorted((REPO / "edgeops").rglob("*.py")):
        where = str(path.relative_to(REPO))
        if where == "edgeops/errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and _raises_kind(node):
                private = node.name.startswith("_")  # a signal inside one module
                if not private and (where, node.name) not in KNOWN:
                    found.append(f"{where}: {node.name}")
    assert not found, f"move these to edgeops/errors.py and its tree: {found}"


def test_the_tree_draws_every_exception_in_errors_py():
    tree = edgeops.errors.__doc__ or ""
    classes = [
        name
        for name, value in vars(edgeops.errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == "edgeops.errors"
    ]
    assert classes and all(f"── {name} " in tree or f"    {name} " in tree for name in classes)
