"""Tables print names as written: "[/tag]" in a name is text, not rich markup (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_gate import Primary, lognormal, run

from edgeops.cli import main


def test_report_prints_markup_in_names_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = run({"phone[/x]": Primary(lognormal(1, 8.0), variant="int8[/bold]")})
    path = tmp_path / "results.json"
    path.write_text(results.model_dump_json())
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "phone[/x]" in out and "int8[/bold]" in out


def test_devices_prints_markup_in_names_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no cell is folded
    inventory = tmp_path / "devices.toml"
    inventory.write_text(
        '[[device]]\nname = "pi[/red]"\ntransport = "ssh"\naddress = "127.0.0.1:1"\n'
        'user = "u"\nprofile = "rpi5"\n'
    )
    assert main(["devices", "--devices", str(inventory)]) == 0
    assert "pi[/red]" in capsys.readouterr().out
