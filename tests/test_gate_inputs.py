"""The gate on hostile or broken input: exit 2 with one line, never pass or "fail" (issue 10)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from test_gate import Primary, lognormal, run

from edgeops.cli import main
from edgeops.gate.compare import EXIT_USAGE


def _write(tmp_path: Path, name: str, data: dict[str, Any] | str) -> Path:
    path = tmp_path / name / "results.json"
    path.parent.mkdir()
    # allow_nan: json writes NaN and Infinity, as a tampered or buggy file would hold them.
    path.write_text(data if isinstance(data, str) else json.dumps(data, allow_nan=True))
    return path


def _good() -> dict[str, Any]:
    return json.loads(run({"phone": Primary(lognormal(1, 8.0))}).model_dump_json())


def _nan_quality(d: dict[str, Any]) -> None:
    d["variants"][0]["quality"]["metrics"]["iou"] = math.nan


def _nan_memory(d: dict[str, Any]) -> None:
    d["measurements"][0]["peak_mem"]["over_baseline_mb"] = math.nan


def _sample(value: float) -> Any:
    def edit(d: dict[str, Any]) -> None:
        d["measurements"][0]["samples_ms"][3] = value

    return edit


def _no_choices(d: dict[str, Any]) -> None:
    d["plans"][0]["choices"] = []


CASES = {
    "nan quality": (_nan_quality, "quality iou = nan"),
    "nan memory": (_nan_memory, "over_baseline_mb = nan"),
    "negative sample": (_sample(-1.0), "sample of -1.0 ms"),
    "zero sample": (_sample(0.0), "sample of 0.0 ms"),
    "nan sample": (_sample(math.nan), "sample of nan ms"),
    "infinite sample": (_sample(math.inf), "sample of inf ms"),
    "supported with no choices": (_no_choices, "supported with no choices"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_figures_exit_2_with_one_line(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, expected = CASES[case]
    base = _write(tmp_path, "base", _good())
    bad = _good()
    edit(bad)
    cur = _write(tmp_path, "cur", bad)
    # Both directions: a bad baseline is as bad as a bad current run.
    for a, b in ((base, cur), (cur, base)):
        assert main(["gate", "--baseline", str(a), "--current", str(b)]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert err.startswith("edgeops: error: ") and expected in err, err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_deeply_nested_json_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _write(tmp_path, "base", _good())
    cur = _write(tmp_path, "cur", "[" * 200_000 + "]" * 200_000)
    assert main(["gate", "--baseline", str(base), "--current", str(cur)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "nested too deeply" in err and err.count("\n") == 1


def test_huge_sample_counts_are_refused_quickly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _write(tmp_path, "base", _good())
    huge = _good()
    huge["measurements"][0]["samples_ms"] = [8.0] * 3_000_000
    cur = _write(tmp_path, "cur", huge)
    started = time.monotonic()
    assert main(["gate", "--baseline", str(base), "--current", str(cur)]) == EXIT_USAGE
    assert time.monotonic() - started < 60
    assert "over the gate's bound" in capsys.readouterr().err


def test_summary_is_appended_to(tmp_path: Path) -> None:
    base = _write(tmp_path, "base", _good())
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    assert (
        main(["gate", "--baseline", str(base), "--current", str(base), "--summary", str(summary)])
        == 0
    )
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "edgeops gate" in text
