"""The plugin API is small and cheap: about 30 declared names, loaded on first use."""

import subprocess
import sys
import textwrap

import pytest

import edgeops.plugin
from edgeops.errors import PluginError
from edgeops.plugin_manager import make_plugin_manager

HEAVY = ("numpy", "multiprocessing", "sqlite3", "edgeops.pipeline", "edgeops.cli", "edgeops.api")


def _loaded_after(code: str) -> list[str]:
    """Heavy modules in ``sys.modules`` after ``code`` runs in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    return sorted(m for m in out if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


def test_importing_the_plugin_api_loads_no_pipeline_cli_numpy_or_sqlite():
    assert _loaded_after("import edgeops.plugin") == []


def test_what_a_backend_imports_costs_no_pipeline_either():
    code = (
        "from edgeops.plugin import Artifact, Backend, BuildContext, ModelSpec, Recipe, "
        "RecipeBook, RecipeFamily, StepConfig, Variant, hookimpl, variant_from"
    )
    assert _loaded_after(code) == []


def test_the_declared_api_has_about_thirty_names_and_every_one_resolves():
    declared = edgeops.plugin.__all__
    # 34: tool_round joined device_tool, so the two phone backends (adb, ExecuTorch)
    # share one measuring round instead of each writing it.
    assert len(declared) <= 34, f"{len(declared)} names: declare fewer"
    for name in [*declared, *edgeops.plugin._LEGACY]:
        assert getattr(edgeops.plugin, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        edgeops.plugin.nothing_here  # noqa: B018


def test_the_legacy_names_only_shrink():
    # Names the built-ins still import; a new helper goes into the declared API or a
    # shared package, never here. Remove a name once no plugin imports it.
    assert len(edgeops.plugin._LEGACY) <= 35


def test_a_plugin_importing_the_default_executor_at_module_level_loads(tmp_path, monkeypatch):
    """The re-export was the hook implementation itself: a plugin that imported it at
    module level failed to load ("unknown hook 'execute_with_leases'")."""
    (tmp_path / "farm_plugin.py").write_text(
        textwrap.dedent(
            """
            from edgeops.plugin import execute_with_leases, hookimpl

            @hookimpl
            def edgeops_execute_measurements(jobs, settings, runner):
                return execute_with_leases(jobs, settings, runner)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("EDGEOPS_PLUGINS", "farm_plugin")
    try:
        pm = make_plugin_manager()
    except PluginError as exc:  # pragma: no cover - the failure this test guards against
        pytest.fail(str(exc))
    hooks = {h.name for h in pm.get_hookcallers(pm.get_plugin("farm_plugin")) or ()}
    assert hooks == {"edgeops_execute_measurements"}
    assert not hasattr(edgeops.plugin.execute_with_leases, "edgeops_impl")


def test_the_pytest_fixtures_are_opt_in():
    """No pytest11 entry point: installing edgeops loads nothing into other projects'
    test runs; this repository's root conftest.py opts in, as a plugin author's does."""
    import tomllib

    from paths import REPO

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "pytest11" not in project.get("entry-points", {})
    conftest = (REPO / "conftest.py").read_text()
    assert "pytest_plugins = _testing_fixtures()" in conftest
    assert 'pytest_plugins = ["edgeops.testing"]' in (REPO / "README.md").read_text()
