import json

import pytest

from edgeops import hookimpl
from edgeops.errors import PluginError
from edgeops.plugin_manager import make_plugin_manager, plugin_infos

from factories import run_cli


def test_builtin_backends_load_through_the_entry_point_group(edgeops_pm):
    infos = {i.name: i for i in plugin_infos(edgeops_pm)}
    assert {"onnx", "local", "edgeops.selection", "edgeops.devices.probe_measure"} <= set(infos)
    assert infos["onnx"].distribution == "edgeops" and infos["onnx"].version


def test_environment_variable_disables_named_plugins(monkeypatch):
    monkeypatch.setenv("EDGEOPS_DISABLE_PLUGINS", "onnx, local")
    names = {i.name for i in plugin_infos(make_plugin_manager())}
    assert "onnx" not in names and "local" not in names and "edgeops.selection" in names


def test_plugins_command_lists_versions(tmp_path):
    result = run_cli("plugins", "--json", cwd=tmp_path)
    rows = {r["name"]: r for r in json.loads(result.stdout)["plugins"]}
    assert rows["onnx"]["version"] and "edgeops_convert" in rows["onnx"]["hooks"]


def test_a_plugin_with_a_misspelled_hook_is_refused(edgeops_pm):
    class Misspelled:
        @hookimpl
        def edgeops_convrt(self):
            return None

    edgeops_pm.register(Misspelled())
    with pytest.raises(Exception, match="edgeops_convrt"):
        edgeops_pm.check_pending()


def test_inline_plugin_overrides_selection(register_plugin, edgeops_pm):
    from edgeops.models import Plan

    from factories import policy, profile

    class AlwaysUnsupported:
        @hookimpl
        def edgeops_select(self, profile):
            return Plan(profile_id=profile.id, status="unsupported", note="policy plugin")

    register_plugin(AlwaysUnsupported())
    plan = edgeops_pm.hook.edgeops_select(
        profile=profile(), variants=[], measurements=[], policy=policy()
    )
    assert plan.note == "policy plugin"


def test_duplicate_plugin_names_are_rejected(edgeops_pm):
    from edgeops.plugin_manager import _load_entry_points

    with pytest.raises(PluginError, match="registered by both|already registered"):
        _load_entry_points(edgeops_pm)  # every entry point again: each name is taken
