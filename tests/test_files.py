"""Atomic writes: the old file or the new one, never half of one, and no temporary left behind."""

import os

import pytest

from luminance.core.files import check_writable, write_atomically


def test_replaces_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "submit.sub"
    write_atomically(str(target), "queue\n")
    write_atomically(str(target), "queue 2\n", durable=True)
    assert target.read_text() == "queue 2\n"
    assert os.listdir(tmp_path) == ["submit.sub"]


class _Unwritable(str):
    def encode(self, *args):
        raise RuntimeError("the writer failed")


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "manifest.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        write_atomically(str(target), _Unwritable("new\n"))
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["manifest.txt"]


def test_undecodable_manifest_bytes_are_written_as_they_came(tmp_path):
    # A manifest read with surrogateescape (manifest.UNDECODABLE): its slices keep the bytes.
    target = tmp_path / "slice.txt"
    text = b"caf\xe9 1901\n".decode("utf-8", "surrogateescape")
    write_atomically(str(target), text, errors="surrogateescape")
    assert target.read_bytes() == b"caf\xe9 1901\n"
    with pytest.raises(UnicodeEncodeError):  # by default a file is UTF-8 or not written
        write_atomically(str(target), text)
    assert target.read_bytes() == b"caf\xe9 1901\n"


def test_unwritable_directory_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        write_atomically(str(tmp_path / "no-such-dir" / "x.txt"), "x")


def test_check_writable_leaves_nothing_and_names_what_refuses(tmp_path):
    check_writable(str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        check_writable(str(tmp_path / "no-such-dir"))
    if os.geteuid() != 0:  # root writes anywhere
        tmp_path.chmod(0o500)
        try:
            with pytest.raises(PermissionError):
                check_writable(str(tmp_path))
        finally:
            tmp_path.chmod(0o700)
