"""The run record (submit.json): what it keeps of a command line, its DAGs, a damaged one named."""

import json
import os
import re

import pytest

from luminance.core.errors import UsageError

from photodemo import runs, submit

MODES = submit.mode_options(submit.parser())


def test_only_the_options_that_shape_the_jobs_are_recorded():
    argv = ["--chunk", "50", "--missing", "--jobs", "4", "--local", "--test=2", "--wait",
            "--dry-run", "--manifest", "m.txt", "--jobs=3", "--test", "1"]
    assert runs.plan_options(argv, MODES) == ["--chunk", "50", "--manifest", "m.txt"]


def test_the_modes_are_submits_how_to_run_group():
    """A mode option added to ./submit's group is left out of the record without a second list."""
    assert MODES == {"--dry-run": False, "--local": False, "--jobs": True, "--missing": False,
                     "--test": True, "--wait": False}
    p = submit.parser()
    group = next(g for g in p._action_groups if g.title == submit.MODE_GROUP)
    group.add_argument("--later", type=int)
    assert runs.plan_options(["--later", "3", "--chunk", "5"], submit.mode_options(p)) == \
        ["--chunk", "5"]


def test_a_run_and_its_dags_round_trip(tmp_path):
    assert runs.load(str(tmp_path)) is None
    runs.start(str(tmp_path), ["--chunk", "5", "--local"], MODES)
    runs.add_dag(str(tmp_path), 12)
    runs.add_dag(str(tmp_path), 13)
    record = runs.load(str(tmp_path))
    assert record.options == ["--chunk", "5"]
    assert record.dags == [12, 13]
    assert json.loads((tmp_path / runs.RUN_FILE).read_text())["format"] == runs.FORMAT


@pytest.mark.parametrize("text, message", [
    ("{", "unreadable run record"),
    ('{"format": "other"}', "not a photodemo run record"),
    ('{"format": "photodemo-run/2", "options": "--chunk 5", "dags": []}', "damaged run record"),
    ('{"format": "photodemo-run/2", "options": [], "dags": ["x"]}', "damaged run record (options, dags)"),
    ('{"format": "photodemo-run/1", "options": [], "clusters": {}}', "not a photodemo run record"),
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
