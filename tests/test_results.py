"""The results file: round trip, atomic writes, and clear errors for bad files."""

import json
import os

import pytest

from luminance import results
from luminance.errors import ResultsError


def sample():
    document = results.new_document({"host": "w1", "start": 200, "count": 2, "metric": "perceived"})
    document["photos"].append(results.photo(200, 201, "http://h/a.jpg", 1880, 0.525493, 640, 480, "RGB", 1234))
    document["failures"].append(results.failure(201, 202, "http://h/b.jpg", "HTTP 503", True))
    return document


def test_round_trip(tmp_path):
    path = str(tmp_path / "results-200.json")
    results.write(path, sample())
    assert results.read(path) == sample()
    assert json.load(open(path))["schema"] == "photodemo-results/1"
    assert results.transient_failures(results.read(path))[0]["record"] == 201


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "results-0.json"
    path.write_text("old")
    results.write(str(path), sample())
    assert sorted(os.listdir(tmp_path)) == ["results-0.json"]


def test_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "results-0.json"
    path.write_text("old")
    monkeypatch.setattr(results, "dumps", lambda doc: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        results.write(str(path), sample())
    assert path.read_text() == "old"


def test_unwritable_directory_is_a_results_error(tmp_path):
    with pytest.raises(ResultsError, match="cannot write results"):
        results.write(str(tmp_path / "missing-dir" / "r.json"), sample())


@pytest.mark.parametrize("text, message", [
    ("", "empty results file"),
    ('{"schema": "photodemo-results/1", "job": {', "corrupt results file"),
    ("[1, 2]", "not a photodemo results document"),
    ('{"schema": "photodemo-results/9", "job": {}, "photos": [], "failures": []}',
     "unknown results schema version 'photodemo-results/9'"),
    ('{"schema": "photodemo-results/1", "job": {"start": 0}, "photos": [], "failures": []}',
     'no valid "job"'),
    ('{"schema": "photodemo-results/1", "job": {"start": 0, "count": 1}, "photos": [{"record": 0}], "failures": []}',
     r"photos\[0\] lacks one of"),
])
def test_bad_files_are_named_in_one_line(tmp_path, text, message):
    path = tmp_path / "results-0.json"
    path.write_text(text)
    with pytest.raises(ResultsError, match=message) as info:
        results.read(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_merge_keeps_the_better_entry_per_record():
    photo = results.photo(1, 2, "u1", 1901, 0.5, 4, 3, "RGB", 100)
    permanent = results.failure(2, 3, "u2", "HTTP 404", transient=False)
    earlier_transient = results.failure(3, 4, "u3", "timed out", transient=True)
    # a rerun during a storage outage: every record transient
    outage = [results.failure(record, record + 1, "u{}".format(record), "HTTP 503", transient=True)
              for record in (1, 2, 3)]
    merged = results.merge_entries([photo, permanent, earlier_transient], outage)
    assert merged == [photo, permanent, outage[2]]  # between equals, the later reason
    measured = results.photo(2, 3, "u2", 1902, 0.25, 4, 3, "L", 90)
    assert results.merge_entries([permanent], [measured]) == [measured]
    assert results.merge_entries([measured], [permanent]) == [measured]
    assert results.merge_entries() == []
