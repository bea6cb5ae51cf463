"""The Python API: edgeops.ship, edgeops.gate, edgeops.load_results."""

import json
import re

import pytest

import edgeops
from edgeops.errors import ResultsError, UsageError
from edgeops.pipeline.history import History

from factories import tiny_onnx

FAST = {"rounds": 1, "min_runs": 3, "min_duration_s": 0.0}


@pytest.fixture
def onnx_only(monkeypatch):
    monkeypatch.setenv("EDGEOPS_DISABLE_PLUGINS", "tflite,coreml,executorch")


@pytest.mark.slow
def test_ship_from_python_writes_bundle_history_and_progress(tmp_path, onnx_only, capsys):
    model = tiny_onnx(tmp_path / "m.onnx")
    results = edgeops.ship(
        model, ["host"], out=tmp_path / "bundle", workspace=tmp_path / "ws", **FAST
    )
    assert isinstance(results, edgeops.Results)
    assert [p.status for p in results.plans] == ["supported"]
    assert all(m.rounds == 1 for m in results.measurements)
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["profiles"]["host"]["choices"]
    runs = History(tmp_path / "ws" / "runs.sqlite").runs()
    assert [(r.run_id, r.status) for r in runs] == [(results.run_id, "ok")]
    err = capsys.readouterr().err
    assert "measure: finished" in err
    # The same progress as the CLI's: the optimize stage counts every variant once.
    counts = re.search(r"^optimize: finished: .*; (.+) \(\d+\.\d s\)$", err, re.MULTILINE)
    assert counts, err
    told = {name: int(n) for name, n in (c.split() for c in counts[1].split(" · "))}
    assert sum(told.values()) == len(results.variants)
    assert told.get("failed", 0) == sum(v.status != "ok" for v in results.variants)

    loaded = edgeops.load_results(tmp_path / "bundle")
    assert loaded == results
    report = edgeops.gate(tmp_path / "bundle", results, threshold_pct=50)
    assert report.verdict in {"pass", "inconclusive"} and report.exit_code in {0, 3}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"rounds": 0}, "rounds 0 is not a positive whole number"),
        ({"min_duration_s": float("nan")}, "min_duration_s nan is not a number >= 0"),
        ({"memory_safety_factor": 1.5}, "outside (0, 1]"),
        ({"profiles": ["hots"]}, "did you mean host"),
    ],
)
def test_bad_arguments_fail_before_any_work(tmp_path, kwargs, expected):
    model = tiny_onnx(tmp_path / "m.onnx")
    with pytest.raises(UsageError, match=expected.replace("(", r"\(").replace("]", r"\]")):
        edgeops.ship(model, workspace=tmp_path / "ws", progress=False, **kwargs)
    assert not (tmp_path / "ws" / "cache").exists()


def test_gate_refuses_an_unknown_setting(tmp_path):
    import edgeops.gate.compare  # binds the package to edgeops.gate: it must stay callable

    assert isinstance(edgeops.gate.compare.GateSettings(), object)
    with pytest.raises(UsageError, match="did you mean 'threshold_pct'"):
        edgeops.gate(tmp_path, tmp_path, threshold_pc=3)


def test_load_results_names_the_fix(tmp_path):
    with pytest.raises(ResultsError, match="pass a results.json or a bundle folder"):
        edgeops.load_results(tmp_path / "nope")


@pytest.mark.slow
def test_a_ship_prefers_the_previous_releases_primary_among_ties(tmp_path, onnx_only):
    from edgeops.api import _previous_primaries

    model = tiny_onnx(tmp_path / "m.onnx")
    ws = tmp_path / "ws"
    history = History(ws / "runs.sqlite")
    assert _previous_primaries(history, "m") == {}
    first = edgeops.ship(model, ["host"], out=tmp_path / "b1", workspace=ws, progress=False, **FAST)
    primary = first.plans[0].choices[0].variant_name
    assert _previous_primaries(history, first.spec.name) == {"host": primary}
    assert _previous_primaries(history, "another-model") == {}
    # A release that is gone gives no preference; it only ever breaks ties.
    (tmp_path / "b1" / "results.json").unlink()
    assert _previous_primaries(history, first.spec.name) == {}


@pytest.mark.slow
def test_the_readme_snippet_works_as_a_plain_script(tmp_path):
    # Pasted from the README as a user would, into a script without a __main__ guard.
    # Spawned workers used to re-import the script, so every variant died and the
    # run came back "not_measured" with exit 0. The data are a small stand-in for
    # examples/segmenter (a tiny ONNX net), so the test checks the code, not training.
    import subprocess
    import sys

    from paths import REPO

    readme = (REPO / "README.md").read_text()
    section = readme.split("### A Python API", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'edgeops.ship("examples/segmenter"' in snippet
    folder = tmp_path / "examples" / "segmenter"
    folder.mkdir(parents=True)
    tiny_onnx(folder / "seg.onnx")
    (folder / "edgeops.toml").write_text(
        '[model]\nname = "segmenter"\nversion = "1.0.0"\nsource = "seg.onnx"\n'
        'task = "segmentation"\n\n[model.quality]\nmetric = "iou"\nfloor = 0.5\n'
    )
    (tmp_path / "ship.py").write_text(snippet)
    env = {
        **__import__("os").environ,
        "EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch",
    }
    done = subprocess.run(
        [sys.executable, "ship.py"], cwd=tmp_path, capture_output=True, text=True,
        timeout=900, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    first = done.stdout.splitlines()[0].split(" ", 2)
    assert first[:2] == ["host", "supported"] and "onnx:" in first[2], done.stdout
    assert "worker process died" not in done.stderr
    assert done.stdout.splitlines()[-1] in {"pass 0", "inconclusive 3"}
