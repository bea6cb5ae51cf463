"""Output off a terminal (CI logs, pipes): whole ids, full-width tables, one line per step."""

import io
import json

import pytest
from rich.table import Table

from edgeops import __version__
from edgeops.cli.output import make_console, plain_table
from edgeops.cli.progress import ProgressReporter
from edgeops.devices.profiles import load_profiles
from edgeops.pipeline.history import History

from factories import run_cli


@pytest.mark.parametrize("columns", [None, "40", "300"])
def test_piped_profiles_keep_every_id_whole_at_any_width(tmp_path, columns):
    env = {"COLUMNS": columns} if columns else {}
    result = run_cli("profiles", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(line == line.rstrip() for line in lines), "no line is padded"
    first_words = {line.split()[0] for line in lines if line.strip()}
    assert set(load_profiles()) <= first_words, "every profile id, uncut, starts a row"


def test_piped_history_shows_the_full_run_id(tmp_path):
    History(tmp_path / "ws" / "runs.sqlite").started("0123456789ab", "a-model", "1.0.0", ["host"])
    result = run_cli("history", "--workspace", str(tmp_path / "ws"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("0123456789ab  ") for line in result.stdout.splitlines())


def test_history_json_holds_structures_not_strings(tmp_path):
    history = History(tmp_path / "runs.sqlite")
    history.started("run1", "m", "1", ["host", "pixel6"])
    result = run_cli("--workspace", str(tmp_path), "history", "--json", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert data["schema_version"] == "1.0"
    assert data["runs"][0]["profiles"] == ["host", "pixel6"]
    assert data["runs"][0]["status"] == "running"


@pytest.mark.parametrize(
    "argv",
    [["profiles", "--json"], ["plugins", "--json"], ["profiles", "host", "--json"]],
)
def test_every_json_output_is_an_object_with_a_schema_version(tmp_path, argv):
    result = run_cli(*argv, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["schema_version"] == "1.0"


def test_version_flag(tmp_path):
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"edgeops {__version__}"


def test_global_flags_after_the_command(tmp_path):
    result = run_cli(
        "history", "--debug", "--workspace", str(tmp_path / "w"), "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["runs"] == []


def test_a_bad_flag_value_exits_2(tmp_path):
    result = run_cli("ship", "m.onnx", "--rounds", "0", cwd=tmp_path)
    assert result.returncode == 2 and "not a positive whole number" in result.stderr


def test_plain_table_aligns_whole_cells_and_strips_markup():
    table = Table(title="t")
    table.add_column("variant")
    table.add_column("p50 ms", justify="right")
    table.add_row("onnx:fp32-with-a-long-name", "1.500")
    table.add_row("[bold]onnx:fp16[/]", "12.250")
    assert plain_table(table).splitlines() == [
        "t",
        "variant                     p50 ms",
        "--------------------------  ------",
        "onnx:fp32-with-a-long-name   1.500",
        "onnx:fp16                   12.250",
    ]


def test_progress_off_a_terminal_is_one_line_per_stage_and_item():
    out = io.StringIO()
    console = make_console()
    console.file = out
    assert not console.is_terminal
    with ProgressReporter(console) as reporter:
        reporter.edgeops_stage_started(stage="measure", total=2)
        reporter.edgeops_stage_advanced(
            stage="measure", label="onnx:fp32 on host", outcome="measured", reason=""
        )
        assert (
            out.getvalue().splitlines()[-1].startswith("measure: 1/2 measured onnx:fp32 on host (")
        )
        reporter.edgeops_stage_advanced(
            stage="measure", label="onnx:fp16 on host", outcome="measured", reason=""
        )
        reporter.edgeops_stage_finished(stage="measure", summary="2 measurement(s)")
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "measure: started, 2 item(s)",
        "measure: 1/2 measured onnx:fp32 on host",
        "measure: 2/2 measured onnx:fp16 on host",
        "measure: finished: 2 measurement(s); measured 2",
    ]


@pytest.mark.slow
def test_ship_exits_5_when_a_profile_gets_no_variant(tmp_path):
    from factories import tiny_onnx

    tiny_onnx(tmp_path / "m.onnx")
    # No variant can reach a cosine of 2 (its maximum is 1): the host profile ends unsupported.
    (tmp_path / "edgeops.toml").write_text(
        '[model]\nsource = "m.onnx"\n\n[model.quality]\nmetric = "cosine"\nfloor = 2.0\n'
    )
    fast = ("--rounds", "1", "--min-runs", "2", "--min-duration-s", "0")
    env = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}
    result = run_cli("ship", ".", "--profile", "host", *fast, cwd=tmp_path, env=env)
    assert result.returncode == 5, result.stderr[-2000:]
    assert "no variant ships for host (unsupported)" in result.stderr
    assert "select: 1/1 unsupported host (" in result.stderr
    history = json.loads(run_cli("history", "--json", cwd=tmp_path).stdout)["runs"]
    assert history[0]["status"] == "unsupported"
    allowed = run_cli(
        "ship", ".", "--profile", "host", *fast, "--allow-unsupported", "--force",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr[-2000:]


def test_every_option_of_every_command_has_a_help_line():
    import argparse

    from edgeops.cli import _add_command_flags, _add_plugin_commands, build_parser

    parser = build_parser()
    _add_plugin_commands(parser)
    _add_command_flags(parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, command in sub.choices.items()
        for action in command._actions
        if not action.help and not isinstance(action, argparse._HelpAction)
    ]
    assert missing == []
    assert (
        "examples:" in parser.format_help() and "exit codes:" in sub.choices["ship"].format_help()
    )
