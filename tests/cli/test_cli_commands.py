"""Commands plugins add, and flags checked before any work."""

import pytest

from edgeops.cli import main

from factories import run_cli, tiny_onnx


@pytest.mark.parametrize(("command", "argument"), [("import", "logfile"), ("trust", "HOST")])
def test_plugin_commands_parse_and_explain_themselves(capsys, command, argument):
    # Added by the adb and ssh backends through edgeops_add_commands, not by the core.
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert argument in capsys.readouterr().out


def test_plugins_lists_the_commands_each_plugin_adds(tmp_path):
    import json

    result = run_cli("plugins", "--json", cwd=tmp_path)
    rows = {r["name"]: r for r in json.loads(result.stdout)["plugins"]}
    assert rows["adb"]["commands"] == ["import"] and rows["ssh"]["commands"] == ["trust"]


def test_a_disabled_backend_takes_its_command_with_it(tmp_path):
    result = run_cli("trust", "example.org", cwd=tmp_path, env={"EDGEOPS_DISABLE_PLUGINS": "ssh"})
    assert result.returncode == 2
    assert "invalid choice: 'trust'" in result.stderr


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--rounds", "0", "not a positive whole number"),
        ("--min-runs", "-3", "not a positive whole number"),
        ("--memory-safety-factor", "0", "outside (0, 1]"),
        ("--memory-safety-factor", "1.5", "outside (0, 1]"),
        ("--min-duration-s", "nan", "not a number >= 0"),
    ],
)
def test_bad_numbers_are_refused_before_any_work(tmp_path, flag, value, says):
    model = tiny_onnx(tmp_path / "m.onnx")
    result = run_cli("ship", str(model), flag, value, cwd=tmp_path)
    assert result.returncode == 2
    assert says in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / ".edgeops").exists() and not (tmp_path / "dist").exists()


def test_a_misspelt_recipe_is_an_error_naming_the_known_ones(tmp_path):
    tiny_onnx(tmp_path / "m.onnx")
    (tmp_path / "edgeops.toml").write_text(
        '[model]\nsource = "m.onnx"\nrecipes = ["onnx:fp16", "int8-statik"]\n'
    )
    result = run_cli("ship", str(tmp_path), "--profile", "host", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "unknown recipe 'int8-statik'" in line and "did you mean 'int8-static'" in line
    assert "onnx:fp32" in line
    assert not (tmp_path / "dist").exists()
