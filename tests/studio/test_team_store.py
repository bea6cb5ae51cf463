"""The team store: publish to a real PostgreSQL server (Debian's package) and to SQLite."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from edgeops.pipeline import Workspace
from edgeops.studio.team.files import FileStore
from edgeops.studio.team.store import TeamStore, engine_url

from factories import run_cli


def team_run(root: Path, pm, version: str, name: str = "m") -> Path:
    """A real, small run of a tiny ONNX model in its own workspace ``root/.edgeops``,
    its bundle written and its run recorded as ``ship`` does. Returns the bundle."""
    from edgeops.devices.discovery import discover_devices
    from edgeops.devices.profiles import resolve_profiles
    from edgeops.models import MeasureSettings
    from edgeops.pipeline import Pipeline
    from edgeops.pipeline.bundle import write_bundle
    from edgeops.pipeline.config import load_spec
    from edgeops.pipeline.history import History

    from factories import tiny_onnx

    root.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(root / ".edgeops")
    spec, _ = load_spec(tiny_onnx(root / f"{name}.onnx"))
    spec = spec.model_copy(update={"recipes": ("fp32",), "version": version, "name": name})
    host = resolve_profiles(["host"], pm)[0].model_copy(update={"formats": ("onnx",)})
    pipeline = Pipeline(pm, workspace)
    settings = MeasureSettings(rounds=2, min_runs=3, min_duration_s=0.0, warmup_runs=0)
    device = next(d for d in discover_devices(pm) if d.transport == "local")
    results = pipeline.optimize(pipeline.convert(spec, [host], settings))
    results = pipeline.select(pipeline.measure(results, [device]))
    history = History(workspace.history_path)
    history.started(results.run_id, spec.name, spec.version, ["host"])
    out = root / "dist" / f"{name}-{version}"
    write_bundle(results, out)
    history.finished(results.run_id, "ok", results, bundle=out)
    return out


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(engine_url(url))
    with engine.connect() as conn:
        found = {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in (
                "runs",
                "model_groups",
                "model_versions",
                "blobs",
                "run_files",
                "run_profiles",
            )
        }
    engine.dispose()
    return found


def test_postgres_fixture_is_a_real_server(pg_url):
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
        addr = conn.execute(sa.text("SELECT inet_server_addr()::text")).scalar_one()
    engine.dispose()
    assert version.split(".")[0].isdigit()
    assert addr.startswith("127.0.0.1")


def test_publish_to_postgres_is_one_record_however_often(tmp_path, edgeops_pm, pg_url):
    bundle = team_run(tmp_path / "ws", edgeops_pm, "1.0.0")
    files = tmp_path / "files"
    first = run_cli(
        "publish", str(bundle), "--to", pg_url, "--files", str(files), "--json", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert '"state": "published"' in first.stdout
    again = run_cli("publish", str(bundle), "--to", pg_url, "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert '"state": "unchanged"' in again.stdout  # the store remembers its file folder
    found = counts(pg_url)
    assert found["runs"] == 1 and found["model_groups"] == 1 and found["model_versions"] == 1
    assert found["run_profiles"] == 1
    store = TeamStore(pg_url)
    try:
        (run,) = store.runs()
        names = {f.name for f in store.run(run.run_id).files}
        assert {"manifest.json", "results.json", "report.html", "report.md"} <= names
        assert not any(n.startswith("variants/") for n in names)
        results = store.results_of(store.run(run.run_id))
        assert results is not None and results.run_id == run.run_id
        # Every file is in the folder under its own hash.
        for f in store.run(run.run_id).files:
            import hashlib

            assert hashlib.sha256(FileStore(files).read(f.blob_sha256)).hexdigest() == f.blob_sha256
        sample_set = store.run(run.run_id).sample_set
        assert sample_set is not None and sample_set.kind == "run" and sample_set.count >= 1
    finally:
        store.close()


def test_with_variants_and_a_branch(tmp_path, edgeops_pm):
    bundle = team_run(tmp_path / "ws", edgeops_pm, "2.0.0")
    url = f"sqlite:///{tmp_path / 'team.sqlite'}"
    result = run_cli(
        "publish",
        str(bundle),
        "--to",
        url,
        "--with-variants",
        "--branch",
        "exp/teeth",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "[exp/teeth]: published" in result.stdout
    # SQLite's default file store sits beside the database.
    assert (tmp_path / "team.sqlite.files").is_dir()
    store = TeamStore(url)
    try:
        (run,) = store.runs()
        assert run.version.branch == "exp/teeth" and run.with_variants
        assert any(f.name.startswith("variants/") for f in store.run(run.run_id).files)
        # The team studio's run page shows where each variant ran, from the run's results.
        from edgeops.studio.app import _templates

        shown = store.run(run.run_id)
        page = (
            _templates()
            .get_template("team_run.html")
            .render(store_url="team", run=shown, results=store.results_of(shown))
        )
        section = page.split("<h2>Where each variant ran</h2>")[1].split("</table>")[0]
        assert "<td>onnx:fp32</td><td>cpu</td>" in section and 'class="bar"' in section
        assert "CPUExecutionProvider" in section and "(device)" in section
    finally:
        store.close()


def test_a_changed_bundle_of_the_same_run_replaces_its_record(tmp_path, edgeops_pm):
    bundle = team_run(tmp_path / "ws", edgeops_pm, "1.0.0")
    url = f"sqlite:///{tmp_path / 'team.sqlite'}"
    assert "published" in run_cli("publish", str(bundle), "--to", url, cwd=tmp_path).stdout
    store = TeamStore(url)
    try:
        (run,) = store.runs()
        before = store.file_of(store.run(run.run_id), "report.md")
        (bundle / "report.md").write_text("# edited after the run\n")
        result = run_cli("publish", str(bundle), "--to", url, cwd=tmp_path)
        assert result.returncode == 0 and ": replaced" in result.stdout, result.stderr
        (after_run,) = store.runs()
        after = store.file_of(store.run(after_run.run_id), "report.md")
        assert after_run.run_id == run.run_id and after != before
        assert store.files.read(after) == b"# edited after the run\n"
        assert counts(url)["runs"] == 1 and counts(url)["run_profiles"] == 1
    finally:
        store.close()


def test_bad_publish_arguments_exit_2(tmp_path, edgeops_pm):
    bundle = team_run(tmp_path / "ws", edgeops_pm, "1.0.0")
    store = f"sqlite:///{tmp_path / 't.sqlite'}"
    cases = [
        ([str(bundle), "--to", "ftp://x"], "is not a store"),
        ([str(bundle), "--to", f"sqlite:///{tmp_path / 'nowhere' / 'x.sqlite'}"], "no folder"),
        ([str(bundle), "--to", store, "--branch", "../up"], "not a branch name"),
        ([str(tmp_path), "--to", store], "is not a bundle"),
        ([str(bundle), "--to", "http://127.0.0.1:9"], "cannot reach the studio"),
    ]
    for args, message in cases:
        result = run_cli("publish", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_two_workspaces_publish_concurrently(tmp_path, edgeops_pm, pg_url):
    bundles = [
        team_run(tmp_path / "a", edgeops_pm, "1.0.0"),
        team_run(tmp_path / "a", edgeops_pm, "1.1.0"),
        team_run(tmp_path / "b", edgeops_pm, "1.2.0"),
    ]
    files = tmp_path / "files"
    TeamStore(pg_url, files).close()  # the server's first start: migrations, file folder
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "edgeops", "publish", str(b), "--to", pg_url],
            cwd=b.parent.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for b in bundles + bundles[:1]  # the first twice, at once
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    found = counts(pg_url)
    assert found["runs"] == 3 and found["model_groups"] == 1 and found["model_versions"] == 3


def test_a_publish_killed_midway_leaves_nothing_visible(tmp_path, edgeops_pm, pg_url):
    bundle = team_run(tmp_path / "ws", edgeops_pm, "1.0.0")
    files = tmp_path / "files"
    TeamStore(pg_url, files).close()
    # Another session holds the model groups table: the publisher writes its files and
    # its first records, then waits inside its transaction, where it is killed.
    engine = sa.create_engine(pg_url)
    holder = engine.connect()
    tx = holder.begin()
    holder.execute(sa.text("LOCK TABLE model_groups IN ACCESS EXCLUSIVE MODE"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeops", "publish", str(bundle), "--to", pg_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        waiting = 0
        while time.monotonic() < deadline and not waiting:
            with engine.connect() as watch:
                waiting = watch.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query ILIKE '%model_groups%'"
                    )
                ).scalar_one()
            time.sleep(0.1)
        assert waiting, "the publisher never reached its transaction"
        assert any(files.rglob("*")), "files are written before the records"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        tx.rollback()
        holder.close()
    time.sleep(0.5)  # the server notices the closed connection and rolls its transaction back
    deadline = time.monotonic() + 30
    while counts(pg_url)["blobs"] and time.monotonic() < deadline:
        time.sleep(0.2)
    found = counts(pg_url)
    assert found == {k: 0 for k in found}
    engine.dispose()
    # And a publish after it goes through whole.
    result = run_cli("publish", str(bundle), "--to", pg_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert counts(pg_url)["runs"] == 1
