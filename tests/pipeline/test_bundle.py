"""The bundle stays in its folder, replaces only what it may, and holds verified files (issue 10).

Each test runs the real ``edgeops`` command in a subprocess on a tiny ONNX model.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from edgeops.errors import PluginError, UsageError
from edgeops.files import staged_dir
from edgeops.hookspecs import hookimpl
from edgeops.models import Recipe, Results
from edgeops.pipeline import Pipeline, Workspace
from edgeops.pipeline.names import MAX_NAME_CHARS, check_name, inside

from factories import run_cli, tiny_onnx

ONNX_ONLY = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}
QUICK = ("--rounds", "1", "--min-runs", "3", "--min-duration-s", "0")


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def edgeops(cwd: Path, *args: str) -> tuple[int, str]:
    done = run_cli(*args, cwd=cwd, env=ONNX_ONLY, timeout_s=600)
    return done.returncode, done.stderr


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert lines and "Traceback" not in stderr, stderr
    assert lines[-1].startswith("edgeops: error: "), stderr
    return lines[-1]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ship of a tiny model; its bundle is the earlier bundle the tests start from."""
    root = tmp_path_factory.mktemp("shipped")
    tiny_onnx(root / "m.onnx")
    code, err = edgeops(root, "ship", "m.onnx", *QUICK, "--out", "bundle")
    assert code == 0, err
    return root


# ----------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "bad",
    ["1/../../x/victim", "../../escaped", "..", "a\\b", "a\x00b", "a\nb", ".hidden", "x" * 250, ""],
)
def test_check_name_refuses_paths_and_control_characters(bad: str) -> None:
    with pytest.raises(UsageError, match="model version"):
        check_name(bad, "model version")


def test_check_name_keeps_plain_names() -> None:
    for good in ("segmenter", "1.0.0", "v2-rc1", "int8-static", "x" * MAX_NAME_CHARS):
        assert check_name(good, "name") == good


def test_inside_refuses_a_link_out_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "out").symlink_to(tmp_path)
    assert inside(tmp_path / "box", "file") == tmp_path / "box" / "file"
    with pytest.raises(UsageError, match="leaves"):
        inside(tmp_path / "box", "out")


def test_version_with_a_path_is_refused_before_any_work(tmp_path: Path) -> None:
    tiny_onnx(tmp_path / "m.onnx")
    victim = tmp_path / "x" / "victim"
    victim.mkdir(parents=True)
    (victim / "precious.txt").write_text("keep me")
    (tmp_path / "edgeops.toml").write_text(
        '[model]\nname = "m"\nversion = "1/../../x/victim"\nsource = "m.onnx"\n'
    )
    code, err = edgeops(tmp_path, "ship", ".", *QUICK)
    assert code == 2
    assert "model version" in one_line_error(err) and "path separator" in err
    assert tree(victim) == {"precious.txt": b"keep me"}
    assert not (tmp_path / ".edgeops" / "cache").exists()  # refused before converting


def test_name_flag_with_a_path_is_refused(tmp_path: Path) -> None:
    tiny_onnx(tmp_path / "m.onnx")
    code, err = edgeops(tmp_path, "ship", "m.onnx", "--name", "../../escaped", *QUICK)
    assert code == 2 and "model name" in one_line_error(err)
    assert list(tmp_path.parent.glob("escaped*")) == []


def test_250_character_name_is_refused_at_once(tmp_path: Path) -> None:
    tiny_onnx(tmp_path / "m.onnx")
    code, err = edgeops(tmp_path, "ship", "m.onnx", "--name", "n" * 250, *QUICK)
    assert code == 2 and "250 characters" in one_line_error(err)
    assert not (tmp_path / ".edgeops" / "cache").exists()


def test_plugin_recipe_named_like_a_path_is_refused(
    edgeops_pm: object, register_plugin: object, tmp_path: Path
) -> None:
    class Traversing:
        @hookimpl
        def edgeops_recipes(self, artifact: object, profiles: object) -> list[Recipe]:
            return [Recipe(name="../../x/TRAVERSED", format="onnx")]

    register_plugin(Traversing(), name="traversing")  # type: ignore[operator]
    pipeline = Pipeline(edgeops_pm, Workspace(tmp_path))  # type: ignore[arg-type]
    from factories import variant

    with pytest.raises(PluginError, match="traversing"):
        pipeline.proposed_recipes(variant("fp32"), [])
    assert list(tmp_path.parent.rglob("TRAVERSED*")) == []


# ----------------------------------------------------------------------- --out


def test_out_onto_a_foreign_folder_is_refused_unless_forced(shipped: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    results = str(shipped / "bundle" / "results.json")
    # From the shipping folder: results name the variants' cache paths relative to it.
    code, err = edgeops(shipped, "select", results, "--out", str(mine))
    assert code == 2 and "--force" in one_line_error(err)
    assert tree(mine) == {"notes.txt": b"mine"}
    code, err = edgeops(shipped, "select", results, "--out", str(mine), "--force")
    assert code == 0, err
    assert (mine / "manifest.json").is_file() and not (mine / "notes.txt").exists()


def test_out_dot_is_refused_and_leaves_nothing_behind(shipped: Path) -> None:
    before = tree(shipped)
    results = str(shipped / "bundle" / "results.json")
    for out in (".", str(shipped.parent)):
        code, err = edgeops(shipped, "select", results, "--out", out, "--force")
        assert code == 2 and "current folder" in one_line_error(err)
    assert tree(shipped) == before
    assert [p for p in shipped.parent.rglob("*") if p.name.endswith((".old", ".tmp"))] == []


def test_an_earlier_bundle_is_replaced_and_no_temporary_is_left(
    shipped: Path, tmp_path: Path
) -> None:
    out = tmp_path / "release"
    results = str(shipped / "bundle" / "results.json")
    assert edgeops(shipped, "select", results, "--out", str(out))[0] == 0
    (out / "stale.txt").write_text("from the old bundle")
    assert edgeops(shipped, "select", results, "--out", str(out))[0] == 0
    assert not (out / "stale.txt").exists() and (out / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]


def test_a_failed_replacement_keeps_the_old_bundle(tmp_path: Path) -> None:
    out = tmp_path / "release"
    out.mkdir()
    (out / "manifest.json").write_text("old")
    with pytest.raises(RuntimeError), staged_dir(out) as tmp:
        (tmp / "manifest.json").write_text("new, half")
        raise RuntimeError("killed halfway")
    assert tree(out) == {"manifest.json": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]


def test_bundle_follows_the_umask(shipped: Path) -> None:
    # The subprocess ran with this process's umask (022 by default, 002 on some desktops).
    mask = os.umask(0o022)
    os.umask(mask)
    bundle = shipped / "bundle"
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o777 & ~mask
    for path in bundle.rglob("*"):
        want = (0o777 if path.is_dir() else 0o666) & ~mask
        assert stat.S_IMODE(path.stat().st_mode) == want, path


# ----------------------------------------------------------------------- verified copies


def test_select_refuses_a_file_that_is_not_the_recorded_variant(
    shipped: Path, tmp_path: Path
) -> None:
    data = json.loads((shipped / "bundle" / "results.json").read_text())
    chosen = data["plans"][0]["choices"][0]["variant_id"]
    secret = tmp_path / "secret.txt"
    secret.write_text("not a model")
    for v in data["variants"]:
        if v["id"] == chosen:
            v["path"] = str(secret)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    code, err = edgeops(shipped, "select", str(tampered), "--out", str(tmp_path / "out"))
    assert code == 2 and "sha256" in one_line_error(err)
    assert not (tmp_path / "out").exists()


def _tampered(shipped: Path, tmp_path: Path, path: Path) -> Path:
    data = json.loads((shipped / "bundle" / "results.json").read_text())
    chosen = data["plans"][0]["choices"][0]["variant_id"]
    for v in data["variants"]:
        if v["id"] == chosen:
            v["path"] = str(path)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    return tampered


def test_select_refuses_dev_zero_and_a_foreign_folder_before_copying(
    shipped: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    # A sparse 64 GB file: copying it first (as before) fills the disk or times out.
    with open(foreign / "big.bin", "wb") as f:
        f.truncate(64 * 2**30)
    for path, said in ((Path("/dev/zero"), "character device"), (foreign, "68719476736 bytes")):
        tampered = _tampered(shipped, tmp_path, path)
        done = run_cli(
            "select",
            str(tampered),
            "--out",
            str(tmp_path / "out"),
            cwd=shipped,
            env=ONNX_ONLY,
            timeout_s=60,
        )
        assert done.returncode == 2 and said in one_line_error(done.stderr), done.stderr
        assert not (tmp_path / "out").exists()


def test_cjk_and_emoji_names_are_bounded_by_their_encoded_length(tmp_path: Path) -> None:
    for name in ("模" * 80, "\U0001f600" * 60):
        with pytest.raises(UsageError, match="bytes in UTF-8"):
            check_name(name, "model name")
    check_name("模" * 33, "model name")
    tiny_onnx(tmp_path / "m.onnx")
    code, err = edgeops(tmp_path, "ship", "m.onnx", "--name", "模" * 80, *QUICK)
    assert code == 2 and "240 bytes in UTF-8" in one_line_error(err)
    assert not (tmp_path / ".edgeops" / "cache").exists()


def test_the_longest_name_still_makes_a_bundle_file_name() -> None:
    from edgeops.pipeline.bundle import variant_file_name
    from edgeops.pipeline.names import MAX_NAME_BYTES

    from factories import spec, variant

    results = Results(edgeops_version="0", run_id="r", spec=spec(name="n" * MAX_NAME_BYTES))
    v = variant("x" * MAX_NAME_BYTES)
    assert len(variant_file_name(results, v).encode()) <= 255


def test_bundled_files_match_the_manifest(shipped: Path) -> None:
    from edgeops.files import sha256_file

    manifest = json.loads((shipped / "bundle" / "manifest.json").read_text())
    for entry in manifest["variants"].values():
        path = shipped / "bundle" / entry["file"]
        assert sha256_file(path) == entry["sha256"] and path.stat().st_size == entry["size_bytes"]


def test_a_link_leaving_a_folder_model_is_refused(tmp_path: Path) -> None:
    from edgeops.errors import ModelError
    from edgeops.files import copy_file

    package = tmp_path / "m.mlpackage"
    (package / "Data").mkdir(parents=True)
    (package / "Data" / "weights.bin").write_bytes(b"w")
    (tmp_path / "secret").write_text("not the model's")
    (package / "Data" / "leak").symlink_to(tmp_path / "secret")
    with pytest.raises(ModelError, match="outside"):
        copy_file(package, tmp_path / "copy.mlpackage")
    assert not (tmp_path / "copy.mlpackage").exists()


def test_a_dead_process_staging_folder_is_removed_by_the_next_write(tmp_path: Path) -> None:
    out = tmp_path / "release"
    dead = subprocess.Popen(["true"])
    dead.wait()
    leftover = tmp_path / f".release.{dead.pid}.abc.tmp"
    leftover.mkdir()
    alive = tmp_path / f".release.{os.getpid()}.def.tmp"
    alive.mkdir()
    with staged_dir(out) as tmp:
        (tmp / "manifest.json").write_text("{}")
    assert not leftover.exists() and alive.exists()
