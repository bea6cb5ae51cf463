"""Every setting is declared once, in edgeops/options: a copy of a default anywhere in
the core fails here (that the flags are made from the models: test_options_flags.py).

A second declaration is what let the copies drift apart before (issue 22): the
memory safety factor's range was checked in five places and the task timeout of
1800 s written four times. The scan reads the core's source for a parameter, a class
field, a ``getattr``/``.get`` fallback or an ``add_argument`` flag named after a
declared setting whose literal default is that setting's declared default.
"""

import ast

import pytest

from edgeops.options.gate import GateOptions
from edgeops.options.ship import ShipCommandOptions, ShipOptions

from paths import REPO

MODELS = (ShipOptions, ShipCommandOptions, GateOptions)
OPTIONS = REPO / "edgeops" / "options"

# The same name and number for another quantity, with what it is. The list only shrinks.
_PROBE = (
    "the probe runs alone on a device and cannot import edgeops; probe_measure.py passes it "
    "the run's settings every time, so these defaults serve a run by hand only"
)
KNOWN = {
    ("edgeops/devices/probe.py", "min_runs"): _PROBE,
    ("edgeops/devices/probe.py", "min_duration_s"): _PROBE,
    ("edgeops/devices/probe.py", "paced_fps"): _PROBE,
    ("edgeops/round_stats.py", "confidence"): (
        "the level of a p50 interval in selection and the tables, not the gate's"
    ),
    ("edgeops/gate/stats.py", "confidence"): (
        "the one-sided bound of a spread, and the report's error bars, not the gate's interval"
    ),
}


def declared_defaults() -> dict[str, object]:
    """Each declared setting with a default that is a value (not None, False or empty)."""
    defaults: dict[str, object] = {}
    for model in MODELS:
        for name, field in model.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if default not in (None, False, (), {}) and not isinstance(default, dict):
                defaults[name] = default
    return defaults


def _value(node: ast.AST | None) -> object:
    """The literal ``node`` holds (``Field(x, ...)``: x), else a marker matching nothing."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Field" and node.args:
        node = node.args[0]
    try:
        return ast.literal_eval(node) if node is not None else _NOTHING
    except ValueError:
        return _NOTHING


_NOTHING = object()


def _copies(name: str, node: ast.AST | None, defaults: dict[str, object]) -> bool:
    if name not in defaults:
        return False
    value, default = _value(node), defaults[name]
    if isinstance(default, tuple) and isinstance(value, list | tuple):
        value = tuple(value)
    return type(value) is not bool and value == default or value is default


def second_declarations(tree: ast.AST, defaults: dict[str, object]) -> list[tuple[str, int]]:
    """(setting, line) for each copy of a declared setting's default in ``tree``."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            positional = a.posonlyargs + a.args
            pairs = list(
                zip(positional[len(positional) - len(a.defaults) :], a.defaults, strict=True)
            )
            pairs += [
                (arg, d)
                for arg, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)
                if d is not None
            ]
            found += [(arg.arg, d.lineno) for arg, d in pairs if _copies(arg.arg, d, defaults)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if _copies(node.target.id, node.value, defaults):
                found.append((node.target.id, node.lineno))
        elif isinstance(node, ast.Call):
            func = node.func
            method = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            default = next((k.value for k in node.keywords if k.arg == "default"), None)
            if method == "add_argument" and default is not None:
                for text in (_value(a) for a in node.args):
                    name = text[2:].replace("-", "_") if isinstance(text, str) else ""
                    if text == f"--{name.replace('_', '-')}" and _copies(name, default, defaults):
                        found.append((name, node.lineno))
            elif (method, len(node.args)) in (("getattr", 3), ("get", 2)):
                key = _value(node.args[-2])
                if isinstance(key, str) and _copies(key, node.args[-1], defaults):
                    found.append((key, node.lineno))
    return found


def test_no_setting_is_declared_outside_the_options_models():
    defaults = declared_defaults()
    found = []
    for path in sorted((REPO / "edgeops").rglob("*.py")):
        if path.is_relative_to(OPTIONS):
            continue
        where = str(path.relative_to(REPO))
        for name, line in second_declarations(ast.parse(path.read_text()), defaults):
            if (where, name) not in KNOWN:
                found.append(f"{where}:{line} {name}")
    assert not found, f"declared again outside edgeops/options (reuse the field): {found}"


def test_what_is_known_is_still_there():
    for where, name in KNOWN:
        tree = ast.parse((REPO / where).read_text())
        assert name in {n for n, _ in second_declarations(tree, declared_defaults())}, where


# Run fields named as a setting that hold what the caller made of it, not the setting.
RESOLVED = {
    "profiles": "the DeviceProfiles the ids name",
    "devices": "the Devices found with the inventory",
    "baseline": "the Results read from the baseline's path",
}


def test_the_run_holds_the_options_and_copies_none_of_their_fields():
    from dataclasses import fields

    from edgeops.pipeline.protocol import Run

    settings = {name for model in MODELS for name in model.model_fields}
    held = {f.name: f.type for f in fields(Run)}
    copied = (held.keys() & settings) - RESOLVED.keys()
    assert not copied, f"Run declares settings again (read them from run.options): {copied}"
    assert held["options"] == "ShipOptions" and RESOLVED.keys() <= held.keys()


@pytest.mark.parametrize(
    "code",
    [
        "def f(task_timeout_s: float = 1800.0): ...",
        "class A:\n    rounds: int = 3",
        "class A:\n    memory_safety_factor: float = Field(0.5, gt=0)",
        "x = getattr(args, 'task_timeout_s', 1800.0)",
        "x = settings.get('threshold_pct', 5.0)",
        "def f(*, objective='fastest', prune=True): ...",
        "p.add_argument('--threshold-pct', type=float, default=5.0)",
        "class A:\n    paced_fps: tuple[float, ...] = (30.0, 60.0)",
    ],
)
def test_the_scan_finds_a_second_declaration(code):
    assert second_declarations(ast.parse(code), declared_defaults())


@pytest.mark.parametrize(
    "code",
    [
        "def f(threads: int | None = None, force: bool = False): ...",
        "class A:\n    rounds: int = declared(MeasureOptions, 'rounds')",
        "x = getattr(args, 'jobs', None)",
        "ship(rounds=1)",  # a value given, not a default
        "class Measurement:\n    rounds: int = 0",  # another quantity by the same name
    ],
)
def test_the_scan_leaves_uses_alone(code):
    assert not second_declarations(ast.parse(code), declared_defaults())
