"""The CI workflow example installs once into a venv, with onnx2torch, and decides with
--until-decided rather than failing on "inconclusive"."""

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
    assert "--until-decided" in ship and "--baseline baseline/results.json" in ship
    gate = next(s for s in steps() if s.get("name") == "Gate")["run"]
    assert '"$code" -eq 3' in gate
