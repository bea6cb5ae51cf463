"""The host key: adb's own ~/.android/adbkey is reused when present."""

from pathlib import Path

from edgeops_adb import keys


def test_adb_own_key_is_reused_when_present(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(keys.KEY_ENV, raising=False)
    assert keys.key_path() == tmp_path / ".config/edgeops/adbkey"
    from adb_shell.auth.keygen import keygen

    (tmp_path / ".android").mkdir()
    keygen(str(tmp_path / ".android" / "adbkey"))
    assert keys.key_path() == tmp_path / ".android/adbkey"
    assert keys.ensure_key(keys.key_path()) == tmp_path / ".android/adbkey"
    assert (tmp_path / ".android/adbkey").stat().st_mode & 0o077 == 0
    # An explicit key or $EDGEOPS_ADB_KEY still wins.
    assert keys.key_path(Path("/k")) == Path("/k")
    monkeypatch.setenv(keys.KEY_ENV, str(tmp_path / "mine"))
    assert keys.key_path() == tmp_path / "mine"
