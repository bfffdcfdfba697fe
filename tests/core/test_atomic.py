import errno

import pytest

from dlf.core import DlfError, atomic_write, atomic_write_text


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "old")
    atomic_write_text(p, "new")
    assert p.read_text() == "new"
    assert [q.name for q in tmp_path.iterdir()] == ["a.txt"]  # no temporary left behind


def test_failure_midway_keeps_old_file(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "old")
    with pytest.raises(RuntimeError), atomic_write(p, "w") as f:
        f.write("half of the new")
        raise RuntimeError("killed")
    assert p.read_text() == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["a.txt"]


def test_disk_full_is_one_clear_error_and_old_file_survives(tmp_path):
    p = tmp_path / "weights.bin"
    atomic_write_text(p, "old")
    with pytest.raises(DlfError, match="no space left"), atomic_write(p, "w") as f:
        f.write("x")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert p.read_text() == "old"


def test_new_files_get_the_usual_mode_not_mkstemps_private_one(tmp_path):
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    p = tmp_path / "sub.csv"
    atomic_write_text(p, "x")
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
    os.chmod(p, 0o600)
    atomic_write_text(p, "y")  # a replaced file keeps its mode
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_atomic_folder_appears_whole_or_not_at_all(tmp_path):
    from dlf.core.atomic import atomic_folder

    target = tmp_path / "data"
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("killed while writing")
    assert not target.exists() and list(tmp_path.iterdir()) == []  # no temporary left either
    with atomic_folder(target) as tmp:
        (tmp / "whole.txt").write_text("x")
    assert [p.name for p in target.iterdir()] == ["whole.txt"]
    with pytest.raises(DlfError, match="not an empty folder"), atomic_folder(target):
        pass
    assert [p.name for p in target.iterdir()] == ["whole.txt"]  # untouched
