"""The CLI's flags and the Python API's keywords are made from the options models."""

import argparse

import pytest

from edgeops.errors import UsageError
from edgeops.options.flags import add_flags, cli_of, dest_of, flags_of, options_from_args
from edgeops.options.gate import GateOptions
from edgeops.options.measure import MeasureOptions
from edgeops.options.selection import SelectionOptions
from edgeops.options.ship import ShipCommandOptions, ShipOptions
from edgeops.options.work import WorkOptions


def _subparser(command: str) -> argparse.ArgumentParser:
    from edgeops.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {o: a for a in parser._actions for o in a.option_strings}


def _check_made_from(parser: argparse.ArgumentParser, model) -> None:
    """Every CLI setting of ``model`` is a flag of ``parser`` with the model's words and default."""
    flags = _flags(parser)
    for name, field in model.model_fields.items():
        cli = cli_of(field)
        if cli.api_only or cli.positional:
            continue
        action = flags[flags_of(name, field)[0]]
        assert action.dest == dest_of(name, field)
        words = (cli.help or field.description).replace("%", "%%")
        assert action.help.startswith(words), (name, action.help)
        default = field.get_default(call_default_factory=True)
        if isinstance(default, float | int) and not isinstance(default, bool):
            assert f"(default {default:g})" in action.help, (name, action.help)


@pytest.mark.parametrize(
    ("command", "models"),
    [
        ("ship", (ShipOptions, ShipCommandOptions)),
        ("measure", (MeasureOptions,)),
        ("select", (SelectionOptions,)),
        ("optimize", (WorkOptions,)),
        ("resolutions", (MeasureOptions,)),
        ("gate", (GateOptions,)),
    ],
)
def test_each_commands_flags_are_made_from_its_options(command, models):
    for model in models:
        _check_made_from(_subparser(command), model)


def test_ship_has_a_flag_for_every_setting_but_the_api_only_ones():
    flags = _flags(_subparser("ship"))
    missing = [
        name
        for name, field in ShipOptions.model_fields.items()
        if not (cli_of(field).api_only or cli_of(field).positional)
        and flags_of(name, field)[0] not in flags
    ]
    assert not missing
    api_only = {n for n, f in ShipOptions.model_fields.items() if cli_of(f).api_only}
    assert api_only == {"workspace", "progress", "samples"}  # a global flag; Python's own


def test_the_apis_keywords_are_the_models_fields(tmp_path):
    import edgeops

    with pytest.raises(UsageError, match="unknown ship option 'roundz'; did you mean 'rounds'"):
        edgeops.ship("m.onnx", workspace=tmp_path / "ws", roundz=3)
    with pytest.raises(UsageError, match="keep_outputs must be 0 or more"):
        edgeops.ship("m.onnx", workspace=tmp_path / "ws", keep_outputs=-1)
    assert not (tmp_path / "ws").exists()  # refused before any work


def test_the_help_shows_the_models_descriptions(capsys):
    from edgeops.cli import main

    with pytest.raises(SystemExit):
        main(["gate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "peak memory growth always allowed, MB (page-level jitter) (default 1)" in out
    assert "confidence of the latency interval (default 0.95)" in out


def test_a_flag_not_given_keeps_the_declared_default_and_is_not_set():
    parser = argparse.ArgumentParser()
    add_flags(parser, GateOptions)
    given = options_from_args(GateOptions, parser.parse_args(["--threshold-pct", "3"]))
    assert given.model_fields_set == {"threshold_pct"}
    assert given.threshold_pct == 3.0 and given.confidence == 0.95
    both = options_from_args(
        GateOptions,
        parser.parse_args(["--threshold-pct-for", "a=2", "--session-sigma-pct", "4"]),
    )
    assert both.threshold_pct_by_profile == {"a": 2.0}
    assert both.session_sigma == pytest.approx(0.04)  # the flag is in %, the setting a fraction


@pytest.mark.parametrize(
    ("argv", "keywords", "says"),
    [
        (["--threshold-pct", "-1"], {"threshold_pct": -1}, "is negative; it is allowed growth"),
        (["--confidence", "0.3"], {"confidence": 0.3}, "0.3 is outside [0.5, 1)"),
        (["--session-sigma-pct", "-2"], {"session_sigma": -0.02}, "is negative; it is a spread"),
    ],
)
def test_a_bad_value_is_the_same_error_from_a_flag_and_a_keyword(argv, keywords, says):
    parser = argparse.ArgumentParser()
    add_flags(parser, GateOptions)
    with pytest.raises(UsageError) as flag_error:
        options_from_args(GateOptions, parser.parse_args(argv))
    with pytest.raises(UsageError) as keyword_error:
        GateOptions.from_keywords(**keywords)
    # Each names the setting as its user spelt it: the flag, or the keyword.
    assert str(flag_error.value).startswith(f"{argv[0]} {says}")
    assert str(keyword_error.value).startswith(f"{next(iter(keywords))} {says}")


def test_an_unknown_keyword_names_the_closest():
    with pytest.raises(UsageError, match="unknown gate setting 'confidance'; did you mean"):
        GateOptions.from_keywords(confidance=0.9)


def test_none_is_not_given():
    assert GateOptions.from_keywords(session_sigma=None).model_fields_set == set()


# edgeops.ship's keywords and `edgeops ship`'s flags before they were made from the
# model (main at ed2f7b4): every one still works.
EARLIER_KEYWORDS = [
    "model",
    "profiles",
    "out",
    "devices",
    "workspace",
    "task",
    "name",
    "version",
    "rounds",
    "min_runs",
    "min_duration_s",
    "threads",
    "paced_fps",
    "paced_duration_s",
    "memory_safety_factor",
    "reuse_measurements",
    "no_cache",
    "prune",
    "jobs",
    "task_timeout_s",
    "worker_memory_mb",
    "keep_outputs",
    "gallery_worst",
    "baseline",
    "until_decided",
    "max_extra_rounds",
    "keep_previous_primary",
    "objective",
    "force",
    "resume",
    "progress",
    "samples",
]
EARLIER_FLAGS = [
    "--profile",
    "-p",
    "--task",
    "--name",
    "--model-version",
    "--rounds",
    "--min-runs",
    "--min-duration-s",
    "--threads",
    "--paced-fps",
    "--paced-duration-s",
    "--reuse-measurements",
    "--no-cache",
    "--jobs",
    "-j",
    "--worker-memory-mb",
    "--task-timeout-s",
    "--out",
    "-o",
    "--force",
    "--no-prune",
    "--memory-safety-factor",
    "--devices",
    "--until-decided",
    "--baseline",
    "--ignore-previous",
    "--max-extra-rounds",
    "--allow-unsupported",
    "--objective",
    "--keep-outputs",
    "--gallery-worst",
    "--resume",
    "--samples-from",
    "--publish",
    "--json",
    "--debug",
    "--workspace",
]


def test_every_earlier_keyword_and_flag_still_works():
    assert set(EARLIER_KEYWORDS) <= set(ShipOptions.model_fields)
    assert set(EARLIER_FLAGS) <= set(_flags(_subparser("ship")))
