"""Size limits of the core: a module of at most 600 lines, a function of at most 80 lines
and 10 parameters (``self`` not counted). What is over today is pinned below with its
size; the list only shrinks and the pinned sizes only fall, so nothing new grows past
the limits while the big pieces are split (issue 22, "The house, second step"). ruff checks
the same in statements and branches (C901, PLR0913, PLR0915 in pyproject.toml)."""

import ast

from paths import REPO

MODULE_LINES = 600
FUNCTION_LINES = 80
PARAMETERS = 10

# name -> the size it has now; lower it when you split it, remove it when it fits.
# Empty since issue 22: the probe and the first migration were the last ones over.
PINNED: dict[str, int] = {}


def sizes() -> dict[str, int]:
    """Everything over a limit in the core, with its size."""
    over: dict[str, int] = {}
    for path in sorted((REPO / "edgeops").rglob("*.py")):
        name = str(path.relative_to(REPO))
        text = path.read_text()
        if text.count("\n") > MODULE_LINES:
            over[name] = text.count("\n")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > FUNCTION_LINES:
                over[f"{name}::{node.name}"] = lines
            if _parameters(node) > PARAMETERS:
                over[f"{name}::{node.name}(params)"] = _parameters(node)
    return over


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = node.args
    count = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
    count += (a.vararg is not None) + (a.kwarg is not None)
    first = (a.posonlyargs + a.args)[:1]
    return count - bool(first and first[0].arg in ("self", "cls"))


def test_nothing_new_is_over_the_limits():
    new = {k: v for k, v in sizes().items() if k not in PINNED}
    assert not new, f"over the limits (split them): {new}"


def test_what_is_pinned_does_not_grow_and_leaves_once_it_fits():
    now = sizes()
    grown = {k: (now[k], v) for k, v in PINNED.items() if k in now and now[k] > v}
    assert not grown, f"pinned and grown (now, pinned): {grown}"
    fitted = sorted(k for k in PINNED if k not in now)
    assert not fitted, f"within the limits now: remove from PINNED: {fitted}"


def test_the_measure_counts_what_it_says():
    tree = ast.parse("class A:\n    def f(self, a, b, *c, d, **e):\n        pass\n")
    method = tree.body[0].body[0]  # type: ignore[attr-defined]
    assert _parameters(method) == 5
