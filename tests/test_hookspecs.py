"""Meta-test: every hook is documented, and called with an implementation by some test."""

import inspect
import os

import pytest

from edgeops import hookspecs

from hook_log import hooks_not_called

HOOKS = [
    name
    for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("edgeops_")
]


def test_the_design_hooks_are_all_there():
    design = {
        "edgeops_profile_dirs",
        "edgeops_convert",
        "edgeops_recipes",
        "edgeops_optimize",
        "edgeops_evaluate",
        "edgeops_discover_devices",
        "edgeops_connect",
        "edgeops_measure",
        "edgeops_predict",
        "edgeops_select",
        "edgeops_stage_started",
        "edgeops_stage_finished",
        "edgeops_measured",
    }
    assert design <= set(HOOKS)


def test_every_hook_is_documented():
    for name in HOOKS:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert len(doc) > 40, f"{name} needs a docstring saying what it receives and returns"


@pytest.mark.runs_last
def test_every_hook_is_exercised(request):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # A worker cannot know when the others are done; the controller runs the same
        # check (conftest.py: hooks_not_called) after every worker has finished.
        pytest.skip("checked by the xdist controller at session finish")
    ran = {item.module.__name__ for item in request.session.items}
    if not {"test_ship", "test_pipeline"} <= ran:
        pytest.skip("needs the whole suite: hook calls are logged by the other tests")
    missing = hooks_not_called()
    assert not missing, f"no test calls {missing}"


def test_the_meta_check_sees_a_hook_no_test_called(tmp_path):
    log = tmp_path / "gw0" / "hook-calls.log"
    log.parent.mkdir()
    log.write_text("edgeops_convert\n")
    missing = hooks_not_called(tmp_path)
    assert "edgeops_optimize" in missing and "edgeops_convert" not in missing
