"""edgeops.toml is read strictly: a typo or a bad value is an error before any work."""

import json
import time

import numpy as np
import pytest

from edgeops.errors import UsageError
from edgeops.pipeline.config import config_schema, load_spec
from edgeops.quality import compare, metrics_of_task

from factories import run_cli, tiny_onnx

BASE = """\
[model]
name = "tiny"
version = "1.0.0"
source = "m.onnx"
task = "segmentation"

[model.quality]
metric = "iou"
floor = 0.9

[ship]
profiles = ["host"]
"""


@pytest.fixture
def folder(tmp_path):
    tiny_onnx(tmp_path / "m.onnx")
    return tmp_path


def write(folder, text):
    (folder / "edgeops.toml").write_text(text)
    return folder


def error_of(folder, text) -> str:
    write(folder, text)
    with pytest.raises(UsageError) as info:
        load_spec(folder)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_base_config_loads(folder):
    spec, ship = load_spec(write(folder, BASE))
    assert (spec.name, spec.version, spec.quality.metric, spec.quality.floor) == (
        "tiny",
        "1.0.0",
        "iou",
        0.9,
    )
    assert ship.profiles == ("host",)


# The six typos of issue 12, each silently ignored before with exit 0.
@pytest.mark.parametrize(
    ("good", "bad", "where", "suggestion"),
    [
        (
            'task = "segmentation"',
            'task = "segmentation"\nrecipies = ["fp16"]',
            "[model]",
            "recipes",
        ),
        (
            'task = "segmentation"',
            'task = "segmentation"\nlatency_budget = 5',
            "[model]",
            "latency_budget_ms",
        ),
        ("[model.quality]", "[model.qualty]", "[model]", "quality"),
        ('profiles = ["host"]', 'profile = ["host"]', "[ship]", "profiles"),
        (
            'profiles = ["host"]',
            'profiles = ["host"]\nmemory_safty_factor = 0.4',
            "[ship]",
            "memory_safety_factor",
        ),
        ("[ship]", "[bogus]\nx = 1\n\n[ship]", "the top level", None),
    ],
    ids=["recipies", "latency_budget", "qualty", "profile", "memory_safty_factor", "bogus"],
)
def test_typos_are_errors_naming_file_key_and_fix(folder, good, bad, where, suggestion):
    assert good in BASE
    message = error_of(folder, BASE.replace(good, bad, 1))
    assert str(folder / "edgeops.toml") in message
    assert f"in {where};" in message
    if suggestion:
        assert f"did you mean {suggestion!r}?" in message
    else:
        assert "known keys: model, ship" in message


def test_unknown_metric_is_refused_with_a_suggestion(folder):
    message = error_of(folder, BASE.replace('metric = "iou"', 'metric = "iuo"'))
    assert "unknown metric 'iuo' in model.quality.metric; did you mean 'iou'?" in message


def test_metric_of_another_task_is_refused(folder):
    message = error_of(folder, BASE.replace('task = "segmentation"', 'task = "classification"'))
    assert "metric 'iou' in model.quality.metric is not computed for task 'classification'" in (
        message
    )


@pytest.mark.parametrize("task", ["segmentation", "classification", "generic", "image-to-image"])
def test_metrics_of_task_are_what_compare_reports(tmp_path, task):
    rng = np.random.default_rng(0)
    ref = [[rng.normal(size=(1, 2, 16, 16)).astype(np.float32)] for _ in range(2)]
    out = [[a[0] + rng.normal(scale=0.01, size=a[0].shape).astype(np.float32)] for a in ref]
    assert sorted(compare(task, ref, out).metrics) == sorted(metrics_of_task(task))


@pytest.mark.parametrize(
    ("good", "bad", "expected"),
    [
        ('task = "segmentation"', 'task = "segmentation"\nsample_count = 0', "model.sample_count"),
        (
            'task = "segmentation"',
            'task = "segmentation"\nsample_count = 10000000',
            "less than or equal to 10000",
        ),
        (
            'task = "segmentation"',
            'task = "segmentation"\nlatency_budget_ms = -1',
            "model.latency_budget_ms",
        ),
        ('task = "segmentation"', 'task = "segmentation"\nrecipes = []', "model.recipes"),
        ('task = "segmentation"', 'task = "segmentation"\ntask2 = 1', "unknown key 'task2'"),
        ('task = "segmentation"', 'task = "segmentaton"', "model.task"),
        ("floor = 0.9", 'floor = "high"', "model.quality.floor"),
        ("floor = 0.9", "floor = nan", "model.quality.floor"),
        (
            'profiles = ["host"]',
            'profiles = ["host"]\nmemory_safety_factor = 0',
            "ship.memory_safety_factor",
        ),
        (
            'profiles = ["host"]',
            'profiles = ["host"]\nmemory_safety_factor = 2',
            "ship.memory_safety_factor",
        ),
        ('profiles = ["host"]', 'profiles = "host"', "ship.profiles"),
        ('source = "m.onnx"\n', "", "missing key model.source"),
    ],
)
def test_bad_values_name_the_key(folder, good, bad, expected):
    assert good in BASE
    assert expected in error_of(folder, BASE.replace(good, bad, 1))


INPUT = """
[[model.inputs]]
name = "image"
shape = {shape}
value_range = {value_range}
"""


@pytest.mark.parametrize(
    ("shape", "value_range", "expected"),
    [
        ("[1, 3, 0, 32]", "[0.0, 1.0]", "every dimension must be >= 1, got [1, 3, 0, 32]"),
        ("[1, 3, -32, 32]", "[0.0, 1.0]", "every dimension must be >= 1"),
        ("[]", "[0.0, 1.0]", "model.inputs[0].shape"),
        ("[1, 3, 320000, 32000]", "[0.0, 1.0]", "check for an extra digit"),
        ("[1, 3, 32, 32]", "[1.0, 0.0]", "low < high"),
    ],
)
def test_bad_input_shapes_and_ranges(folder, shape, value_range, expected):
    text = BASE.replace("[model.quality]", INPUT.format(shape=shape, value_range=value_range)
                        + "\n[model.quality]")  # fmt: skip
    message = error_of(folder, text)
    assert expected in message and "model.inputs[0]" in message


def test_a_long_name_fails_at_once_not_at_the_bundle(folder):
    message = error_of(folder, BASE.replace('name = "tiny"', f'name = "{"n" * 250}"'))
    assert "model name (model.name) is 250 characters long; use at most 100" in message


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "-flag"])
def test_names_that_are_not_one_folder_are_refused(folder, name):
    assert "use a plain name" in error_of(folder, BASE.replace('"tiny"', json.dumps(name)))


def test_version_is_checked_and_a_number_is_accepted(folder):
    assert "model version (model.version)" in error_of(folder, BASE.replace('"1.0.0"', '"1/0"'))
    spec, _ = load_spec(write(folder, BASE.replace('"1.0.0"', "2")))
    assert spec.version == "2"


def test_a_file_stem_becomes_a_safe_default_name(tmp_path):
    spec, _ = load_spec(tiny_onnx(tmp_path / "my model (v2).onnx"))
    assert spec.name == "my-model-v2"


def test_schema_lists_every_table_and_forbids_unknown_keys():
    schema = config_schema()
    assert schema["$id"].endswith("config-1.0.json")
    assert schema["additionalProperties"] is False
    model = schema["$defs"]["ModelTable"]
    assert model["additionalProperties"] is False
    assert all("description" in f for f in model["properties"].values())


def test_cli_refuses_a_typo_before_any_conversion(folder):
    write(folder, BASE.replace('task = "segmentation"', 'task = "segmentation"\nrecipies = ["x"]'))
    started = time.monotonic()
    result = run_cli("ship", str(folder), "--workspace", str(folder / "ws"), cwd=folder)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("edgeops: error: ")
    assert "did you mean 'recipes'?" in result.stderr
    assert not (folder / "ws" / "cache").exists()
    assert time.monotonic() - started < 60


def test_cli_prints_the_config_schema(tmp_path):
    result = run_cli("schema", "config", cwd=tmp_path)
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "edgeops.toml"


def test_a_folder_without_a_config_says_what_to_add(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(UsageError, match="is a folder without edgeops.toml; add one"):
        load_spec(tmp_path / "m")
