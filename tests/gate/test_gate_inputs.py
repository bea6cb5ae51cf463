"""The gate on hostile or broken input: exit 2 with one line, never pass or "fail" (issue 10)."""

from __future__ import annotations

import json
import math
import os
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


def _huge_size(d: dict[str, Any]) -> None:
    d["variants"][0]["size_bytes"] = 10**400


def _huge_quality(d: dict[str, Any]) -> None:
    d["variants"][0]["quality"]["metrics"]["iou"] = 1e308


def _huge_p50(d: dict[str, Any]) -> None:
    d["measurements"][0]["p50_ms"] = 1e308


CASES = {
    "nan quality": (_nan_quality, "quality iou = nan"),
    "nan memory": (_nan_memory, "over_baseline_mb = nan"),
    "negative sample": (_sample(-1.0), "sample of -1.0 ms"),
    "zero sample": (_sample(0.0), "sample of 0.0 ms"),
    "nan sample": (_sample(math.nan), "sample of nan ms"),
    "infinite sample": (_sample(math.inf), "sample of inf ms"),
    "supported with no choices": (_no_choices, "supported with no choices"),
    # Finite but past any real figure: sums and ratios of these overflow to inf.
    "huge sample": (_sample(1e308), "sample of 1e+308 ms"),
    "huge size": (_huge_size, "has size 1000000… bytes"),
    "huge quality": (_huge_quality, "quality iou = 1e+308"),
    "huge p50": (_huge_p50, "p50_ms = 1e+308"),
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


def test_a_special_file_is_refused_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _write(tmp_path, "base", _good())
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    for bad, kind in ((fifo, "named pipe"), (zero, "character device")):
        # A FIFO would block the open and /dev/zero would read without end: both
        # must be refused by what they are, within the test's time.
        assert main(["gate", "--baseline", str(base), "--current", str(bad)]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert kind in err and err.count("\n") == 1, err


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
