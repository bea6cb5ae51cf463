"""Cache entries are checked where they are used; a bad one is evicted, rebuilt and announced (issue 28).

Real ships of a tiny ONNX model in a subprocess; the cached files are damaged
on disk between runs, as a flipped bit or a hand edit would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from edgeops.pipeline.cache import ENTRY_FILE

from factories import run_cli, tiny_onnx

ONNX_ONLY = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}
QUICK = ("--rounds", "1", "--min-runs", "3", "--min-duration-s", "0")


def cached_variant_files(root: Path) -> list[Path]:
    entries = sorted((root / ".edgeops" / "cache" / "variants").glob(f"*/{ENTRY_FILE}"))
    return sorted(p for e in entries for p in e.parent.iterdir() if p.suffix == ".onnx")


def test_a_damaged_cached_variant_is_evicted_and_rebuilt(tmp_path: Path) -> None:
    tiny_onnx(tmp_path / "m.onnx")
    first = run_cli("ship", "m.onnx", *QUICK, "--out", "b1", cwd=tmp_path, env=ONNX_ONLY)
    assert first.returncode == 0, first.stderr
    files = cached_variant_files(tmp_path)
    assert len(files) >= 2
    flipped, linked = files[0], files[1]
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    # Swapped for a link to an identical copy elsewhere: the bytes match, the entry does not.
    elsewhere = tmp_path / "elsewhere.onnx"
    shutil.copyfile(linked, elsewhere)
    linked.unlink()
    linked.symlink_to(elsewhere)

    again = run_cli("ship", "m.onnx", *QUICK, "--out", "b2", cwd=tmp_path, env=ONNX_ONLY)
    assert again.returncode == 0, again.stderr
    said = [line for line in again.stderr.splitlines() if "failed its check" in line]
    assert len(said) == 2, again.stderr
    assert any("sha256" in line for line in said) and any("symbolic link" in line for line in said)
    # Rebuilt: the cache again holds regular files with the recorded bytes.
    assert all(p.is_file() and not p.is_symlink() for p in cached_variant_files(tmp_path))
    third = run_cli("ship", "m.onnx", *QUICK, "--out", "b3", cwd=tmp_path, env=ONNX_ONLY)
    assert third.returncode == 0 and "failed its check" not in third.stderr
