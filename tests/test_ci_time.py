"""benchmarks/ci_time.py: the suite's time per xdist group, worker and file, from JUnit XML."""

import importlib.util
import subprocess
import sys
from pathlib import Path

from paths import REPO

SCRIPT = REPO / "benchmarks" / "ci_time.py"

# As pytest-xdist and the root conftest.py write it: the group and worker of each test
# as properties, the nodeid's "@group" suffix in the name, setup time in the first test.
REPORT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="0" failures="0" skipped="0" tests="5" time="130.0">
<testcase classname="plugins.edgeops_adb.tests.test_adb_x" name="test_a@edgeops_adb" time="70.0">
<properties><property name="xdist_group" value="edgeops_adb"/>
<property name="xdist_worker" value="gw0"/></properties></testcase>
<testcase classname="plugins.edgeops_adb.tests.test_adb_x" name="test_b@edgeops_adb" time="50.0">
<properties><property name="xdist_group" value="edgeops_adb"/>
<property name="xdist_worker" value="gw0"/></properties></testcase>
<testcase classname="tests.cli.test_cli" name="test_c" time="30.0">
<properties><property name="xdist_group" value="(none)"/>
<property name="xdist_worker" value="gw1"/></properties></testcase>
<testcase classname="tests.cli.test_cli.TestK" name="test_d" time="20.0">
<properties><property name="xdist_group" value="(none)"/>
<property name="xdist_worker" value="gw1"/></properties></testcase>
<testcase classname="tests.test_ship" name="test_e" time="10.0">
<properties><property name="xdist_group" value="(none)"/>
<property name="xdist_worker" value="gw1"/></properties></testcase>
</testsuite></testsuites>
"""


def load():
    spec = importlib.util.spec_from_file_location("ci_time", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ci_time"] = module  # its dataclass looks its module up while being made
    spec.loader.exec_module(module)
    return module


def test_groups_workers_files_and_the_critical_path(tmp_path: Path) -> None:
    ci_time = load()
    report = tmp_path / "run.xml"
    report.write_text(REPORT)
    cases, wall_s = ci_time.read_cases(report)
    assert wall_s == 130.0 and len(cases) == 5
    assert ci_time.totals(cases, "group")[0] == ("edgeops_adb", 120.0, 2)
    assert dict((k, s) for k, s, _ in ci_time.totals(cases, "worker")) == {"gw0": 120, "gw1": 60}
    files = {k for k, _, _ in ci_time.totals(cases, "file")}
    assert files == {
        "plugins/edgeops_adb/tests/test_adb_x.py", "tests/cli/test_cli.py", "tests/test_ship.py",
    }  # fmt: skip
    # 180 s of tests on 2 workers is 90 s each, but one group holds 120 s of it.
    longest_s, share_s, name = ci_time.bounds(cases, workers=2)
    assert (longest_s, share_s, name) == (120.0, 90.0, "edgeops_adb")
    # On one worker the work itself is the bound.
    assert ci_time.bounds(cases, workers=1)[:2] == (120.0, 180.0)


def test_a_report_without_properties_takes_the_plugin_groups_from_the_paths(tmp_path) -> None:
    ci_time = load()
    report = tmp_path / "old.xml"
    report.write_text(REPORT.replace('name="xdist_group"', 'name="other"'))
    cases, _ = ci_time.read_cases(report)
    assert {c.group for c in cases} == {"edgeops_adb", ci_time.UNGROUPED}
    # A single test longer than every group is the critical path by itself.
    longest = ci_time.bounds(cases, workers=2)
    assert longest[0] == 120.0
    single = [c for c in cases if c.group == ci_time.UNGROUPED][0]
    assert ci_time.bounds([single], workers=2)[2] == "tests/cli/test_cli.py::test_c"


def test_the_command_prints_the_tables_and_refuses_a_missing_file(tmp_path: Path) -> None:
    report = tmp_path / "run.xml"
    report.write_text(REPORT)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(report), "--workers", "2"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "critical path (longest group or single test): 120 s  edgeops_adb" in done.stdout
    assert "split that group" in done.stdout
    for title in ("per worker", "per xdist group", "per file", "slowest 5 tests"):
        assert title in done.stdout
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "nope.xml")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "not a file" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_every_grouped_test_is_in_its_xdist_group(request) -> None:
    """The root conftest's groups (a plugin's tests, a costly session fixture's users)
    reach xdist: each such test has its marker, and under ``--dist loadgroup`` its id
    carries ``@group``. xdist reads the markers in its own collection hook; run before
    the conftest's (as it did), it saw none, and every group was split over the workers."""
    # As xdist reads it: set on every worker of a `--dist loadgroup` run.
    loadgroup = bool(request.config.getoption("loadgroup", False))
    for item in request.session.items:
        group = dict(item.user_properties).get("xdist_group")
        assert group is not None, item.nodeid
        in_plugin = "plugins" in item.path.parts and "tests" in item.path.parts
        assert group != "(none)" or not in_plugin, item.nodeid
        if group != "(none)":
            assert [m.args[0] for m in item.iter_markers("xdist_group")] == [group]
            assert item.nodeid.endswith(f"@{group}") or not loadgroup, item.nodeid
