"""The run record (submit.json): what it keeps of a command line, its clusters, a damaged one named."""

import json
import os
import re

import pytest

from luminance.errors import UsageError

from photodemo import runs


def test_only_the_options_that_shape_the_jobs_are_recorded():
    argv = ["--chunk", "50", "--missing", "--jobs", "4", "--local", "--test=2", "--wait",
            "--dry-run", "--manifest", "m.txt", "--jobs=3", "--test", "1"]
    assert runs.plan_options(argv) == ["--chunk", "50", "--manifest", "m.txt"]


def test_a_run_and_its_clusters_round_trip(tmp_path):
    assert runs.load(str(tmp_path)) is None
    runs.start(str(tmp_path), ["--chunk", "5", "--local"])
    runs.add_cluster(str(tmp_path), 12, [0, 5, 10])
    runs.add_cluster(str(tmp_path), 13, [5])
    record = runs.load(str(tmp_path))
    assert record.options == ["--chunk", "5"]
    assert record.chunk_of() == {(12, 0): 0, (12, 1): 5, (12, 2): 10, (13, 0): 5}
    assert json.loads((tmp_path / runs.RUN_FILE).read_text())["format"] == runs.FORMAT


@pytest.mark.parametrize("text, message", [
    ("{", "unreadable run record"),
    ('{"format": "other"}', "not a photodemo run record"),
    ('{"format": "photodemo-run/1", "options": "--chunk 5", "clusters": {}}', "damaged run record"),
    ('{"format": "photodemo-run/1", "options": [], "clusters": {"x": [0]}}', "damaged run record (clusters)"),
])
def test_a_damaged_record_is_named(tmp_path, text, message):
    (tmp_path / runs.RUN_FILE).write_text(text)
    with pytest.raises(UsageError, match="^" + re.escape("{}: {}".format(tmp_path / runs.RUN_FILE, message))):
        runs.load(str(tmp_path))


@pytest.mark.parametrize("kind, why", [
    ("nested", "JSON nested too deeply"), ("fifo", "not a regular file"),
    ("dev-zero", "not a regular file"), ("latin-1", "'utf-8' codec can't decode")])
def test_a_hostile_record_is_one_line_never_a_traceback_or_a_wait(tmp_path, kind, why):
    path = tmp_path / runs.RUN_FILE
    if kind == "nested":
        path.write_text("[" * 100000 + "]" * 100000)
    elif kind == "fifo":
        os.mkfifo(str(path))
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.write_bytes(b'{"format": "caf\xe9"}')
    with pytest.raises(UsageError) as raised:
        runs.load(str(tmp_path))
    assert str(raised.value).startswith("{}: unreadable run record ({}".format(path, why))
    assert "\n" not in str(raised.value)
