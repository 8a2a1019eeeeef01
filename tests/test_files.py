"""Atomic writes: the old file or the new one, never half of one, and no temporary left behind."""

import os

import pytest

from luminance.files import write_atomically


def test_replaces_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "submit.sub"
    write_atomically(str(target), "queue\n")
    write_atomically(str(target), "queue 2\n", durable=True)
    assert target.read_text() == "queue 2\n"
    assert os.listdir(tmp_path) == ["submit.sub"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "manifest.txt"
    target.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(str(target), "bad \udc80 surrogate\n")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["manifest.txt"]


def test_unwritable_directory_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        write_atomically(str(tmp_path / "no-such-dir" / "x.txt"), "x")
