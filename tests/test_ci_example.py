"""The CI workflow example installs once into a venv, with onnx2torch, and decides with
--until-decided rather than failing on "inconclusive", in the paired mode: main's bundle
is the baseline, so its primary files are measured again beside the pull request's."""

from paths import REPO

WORKFLOW = REPO / "examples/ci/edgeops-gate.yml"


def steps():
    import yaml

    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["ship-and-gate"]["steps"]


def test_install_goes_into_a_kept_venv_with_onnx2torch():
    install = next(s for s in steps() if s.get("name", "").startswith("Install"))["run"]
    assert "python3 -m venv" in install and ".spec" in install
    assert '--no-deps "onnx2torch==1.5.15"' in install


def test_pull_requests_ship_until_decided():
    ship = next(s for s in steps() if s.get("name") == "Ship")["run"]
    assert "--until-decided" in ship
    # The bundle folder, not its results.json alone: its variant files are measured again.
    assert "--baseline baseline " in ship and "baseline/results.json" not in ship
    gate = next(s for s in steps() if s.get("name") == "Gate")["run"]
    assert '"$code" -eq 3' in gate
    assert "--baseline baseline --current dist/current" in gate


def test_main_keeps_its_whole_bundle_as_the_next_baseline():
    keep = next(s for s in steps() if s.get("name", "").startswith("Keep the bundle"))
    assert keep["with"]["path"].rstrip("/") == "dist/current"
    download = next(s for s in steps() if s.get("name", "").startswith("Download"))["run"]
    assert f"--name {keep['with']['name']} --dir baseline" in download
