"""The results file: round trip of the job record and entries, atomic writes, the better-entry
rule, and clear one-line errors for bad or hostile files (never a hang or an exhausted memory)."""

import json
import os
import re
import threading

import pytest

from luminance.core import files, results
from luminance.core.errors import ResultsError


def sample():
    document = results.new_document(results.Job(host="w1", start=200, count=2, records=2, metric="perceived",
                                                started="2026-11-25T01:02:03+00:00", elapsed=9.5,
                                                complete=True))
    document["photos"].append(
        results.photo(200, 201, "http://h/a.jpg", 1880, 0.525493, 640, 480, "RGB", 1234))
    document["failures"].append(results.failure(201, 202, "http://h/b.jpg", "HTTP 503", True))
    return document


def write_json(tmp_path, document, name="results-0.json"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_round_trip(tmp_path):
    path = str(tmp_path / "results-200.json")
    results.write(path, sample())
    assert results.read(path) == sample()
    assert json.load(open(path))["schema"] == "photodemo-results/1"
    assert results.transient_failures(results.read(path))[0]["record"] == 201


def test_the_job_record_round_trips_through_its_one_definition(tmp_path):
    path = str(tmp_path / "results-200.json")
    results.write(path, sample())
    with open(path) as stream:
        assert list(json.load(stream)["job"]) == list(results.Job._fields)  # every field, in order
    job = results.Job.of(results.read(path))
    assert job._asdict() == sample()["job"] and job == results.Job(**sample()["job"])
    assert (job.host, job.start, job.count, job.stop, job.site, job.error) == ("w1", 200, 2, 202, None, None)
    with pytest.raises(TypeError):  # a writer's misspelt field is caught where it is written
        results.new_document({"start": 0, "count": 1, "hots": "w1"})


def test_files_of_older_payloads_still_read(tmp_path):
    # Before site and error were recorded, and when started/ended were seconds since 1970.
    old = {"schema": "photodemo-results/1",
           "job": {"host": "w", "start": 0, "count": 1, "records": 1, "metric": "perceived",
                   "started": 1741184000.0, "ended": 1741184060, "elapsed": 60, "complete": True},
           "photos": [results.photo(0, 1, "http://h/a.jpg", None, 0.5, 1, 1, "L", 1)], "failures": []}
    job = results.Job.of(results.read(write_json(tmp_path, old)))
    assert (job.site, job.error, job.started, job.complete) == (None, None, 1741184000.0, True)


@pytest.mark.parametrize("field, value, message", [
    ("start", -1, "job.start is not an integer from 0 to"),
    ("start", True, 'no valid "job"'),
    ("count", "10", 'no valid "job"'),
    ("host", ["x"], "job.host is not text or null (list)"),
    ("elapsed", 1e308, "job.elapsed is not a number from 0 to"),
    ("elapsed", -5, "job.elapsed is not a number"),
    ("started", 1e20, "job.started is not a time"),
    ("ended", {"a": 1}, "job.ended is not a time"),
    ("complete", "yes", "job.complete is not true, false or null"),
    ("workers", 2.5, "job.workers is not an integer of 0 or more"),
])
def test_a_job_record_of_the_wrong_types_or_sizes_is_named(tmp_path, field, value, message):
    document = sample()
    document["job"][field] = value
    with pytest.raises(ResultsError, match=re.escape(message)) as info:
        results.read(write_json(tmp_path, document))
    assert str(info.value).startswith(str(tmp_path)) and "\n" not in str(info.value)


@pytest.mark.parametrize("key, field, value", [
    ("photos", "luminance", "0.5"), ("photos", "record", True), ("photos", "url", None),
    ("photos", "year", 1900.0), ("photos", "mode", {"deep": [1]}), ("failures", "transient", 1),
    ("failures", "reason", None),
])
def test_an_entry_of_the_wrong_types_is_named(tmp_path, key, field, value):
    document = sample()
    document[key][0][field] = value
    wrong = r"{}\[0\] has a field of the wrong type \(.*{} ".format(key, field)
    with pytest.raises(ResultsError, match=wrong):
        results.read(write_json(tmp_path, document))


def test_better_keeps_a_photo_over_a_permanent_over_a_transient_failure():
    photo = results.photo(1, 2, "u", 1900, 0.5, 1, 1, "L", 1)
    permanent = results.failure(1, 2, "u", "HTTP 404", False)
    transient = results.failure(1, 2, "u", "HTTP 503", True)
    order = [transient, permanent, photo]
    for low in range(3):
        for high in range(low, 3):
            assert results.better(order[low], order[high]) is order[high]
            assert results.better(order[high], order[low]) is order[high]
    other = results.photo(1, 2, "u", 1900, 0.6, 1, 1, "L", 1)
    assert results.better(photo, other) is photo  # equally good: the one kept


def test_write_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "results-0.json"
    path.write_text("old")
    results.write(str(path), sample())
    assert sorted(os.listdir(tmp_path)) == ["results-0.json"]


def test_a_write_that_fails_after_its_bytes_are_written_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "results-0.json"
    path.write_text("old")
    written = []

    def full_disk(fd):  # every byte is in the file; making it durable fails, as a full disk does
        written.append(os.fstat(fd).st_size)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(ResultsError, match="cannot write results: No space left on device"):
        results.write(str(path), sample())
    assert written == [len(results.dumps(sample()).encode("utf-8"))]
    assert path.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["results-0.json"]


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
    ('{"schema": "photodemo-results/1", "job": {"start": 0, "count": 1}, "photos": [{"record": 0}], '
     '"failures": []}',
     r"photos\[0\] lacks one of"),
    ('{"schema": "photodemo-results/1", "job": {"start": 0, "count": 1}, "photos": [7], "failures": []}',
     r"photos\[0\] lacks one of"),
    ("[" * 100000 + "]" * 100000, r"corrupt results file \(JSON nested too deeply\)"),
    ('{"schema": "photodemo-results/1", "job": {"start": 0, "count": 1' + "0" * 5000 + '}}',
     "corrupt results file"),
])
def test_bad_files_are_named_in_one_line(tmp_path, text, message):
    path = tmp_path / "results-0.json"
    path.write_text(text)
    with pytest.raises(ResultsError, match=message) as info:
        results.read(str(path))
    assert str(info.value).startswith(str(path) + ": ") and "\n" not in str(info.value)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    path = tmp_path / "results-0.json"
    os.mkfifo(str(path))
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_error(str(path))), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the reader, then fail
        with open(str(path), "w"):
            pass
        pytest.fail("reading a FIFO waited for a writer")
    assert outcome == ["{}: not a regular file; skipped unread".format(path)]


def test_an_endless_or_huge_file_is_refused_unread(tmp_path, monkeypatch):
    link = tmp_path / "results-0.json"
    link.symlink_to("/dev/zero")
    assert _error(str(link)) == "{}: not a regular file; skipped unread".format(link)
    monkeypatch.setattr(results, "MAX_FILE_BYTES", 100)
    big = write_json(tmp_path, sample(), "results-200.json")
    assert "bytes, more than a results file may hold" in _error(big)


def _error(path):
    try:
        results.read(path)
    except ResultsError as exc:
        return str(exc)
    return None


def test_merge_entries_keeps_the_better_entry_per_record():
    photo = results.photo(1, 2, "u1", 1901, 0.5, 4, 3, "RGB", 100)
    permanent = results.failure(2, 3, "u2", "HTTP 404", transient=False)
    earlier_transient = results.failure(3, 4, "u3", "timed out", transient=True)
    # a rerun during a storage outage: every record transient
    outage = [results.failure(record, record + 1, "u{}".format(record), "HTTP 503", transient=True)
              for record in (3, 1, 2)]
    merged = results.merge_entries([photo, permanent, earlier_transient], outage)
    assert merged == [photo, permanent, earlier_transient]  # in record order; of equals, the first
    measured = results.photo(2, 3, "u2", 1902, 0.25, 4, 3, "L", 90)
    assert results.merge_entries([permanent], [measured]) == [measured]
    assert results.merge_entries([measured], [permanent]) == [measured]
    assert results.merge_entries() == []


def test_coverage_counts_entries_within_the_jobs_range():
    document = sample()  # records 200-201: a photo, a transient failure
    assert results.coverage(document) == (1, 1, 2)
    assert results.coverage(document).held == 2
    document["failures"].append(results.failure(200, 201, "http://h/a.jpg", "HTTP 503", True))
    document["failures"].append(results.failure(201, 202, "http://h/b.jpg", "HTTP 404", False))
    document["photos"].append(results.photo(7, 8, "http://h/c.jpg", 1880, 0.5, 1, 1, "L", 1))
    assert results.coverage(document) == (2, 0, 2)  # a settled record is not transient too; 7 is outside
    assert results.coverage(document, manifest_records=201) == (1, 0, 1)


# -- finish: every job exit writes through it, keeping the entries of the file it was given

def _given(tmp_path):
    path = str(tmp_path / "results-0.json")
    earlier = results.new_document({"host": "a", "start": 0, "count": 4, "metric": "perceived"})
    earlier["photos"] = [results.photo(0, 1, "u0", 1900, 0.5, 1, 1, "L", 1)]
    earlier["failures"] = [results.failure(1, 2, "u1", "HTTP 404", False),
                           results.failure(2, 3, "u2", "HTTP 503", True)]
    results.write(path, earlier)
    return path


def _ending(count=4, metric="perceived"):
    return results.new_document({"host": "b", "start": 0, "count": count, "metric": metric,
                                 "error": "this pex has no pillow for CPython 3.6"})


def test_finish_keeps_every_entry_of_the_given_file(tmp_path):
    path = _given(tmp_path)
    document = _ending()
    document["photos"] = [results.photo(2, 3, "u2", 1901, 0.25, 1, 1, "L", 1)]  # beats a transient
    results.finish(path, document)
    written = results.read(path)
    assert [(p["record"], p["url"]) for p in written["photos"]] == [(0, "u0"), (2, "u2")]
    assert [(f["record"], f["transient"]) for f in written["failures"]] == [(1, False)]
    assert written["job"]["host"] == "b" and written["job"]["error"].startswith("this pex has no pillow")


def test_finish_with_the_manifests_urls_drops_entries_the_manifest_no_longer_lists(tmp_path):
    path = _given(tmp_path)
    results.finish(path, _ending(), urls={0: "u0", 1: "elsewhere"})
    written = results.read(path)
    assert [p["record"] for p in written["photos"]] == [0] and written["failures"] == []


@pytest.mark.parametrize("other", [{"count": 5}, {"metric": "luma"}])
def test_finish_replaces_another_jobs_file(tmp_path, other):
    path = _given(tmp_path)
    with pytest.raises(ResultsError, match="the results of another job"):
        results.earlier(path, results.Job(**dict({"start": 0, "count": 4, "metric": "perceived"}, **other)))
    results.finish(path, _ending(**other))
    assert results.read(path)["photos"] == []


@pytest.mark.parametrize("text", ["2026-12-04T16:22:31+00:00", "2026-12-04T16:22:31.123+05:30", "2026-12-04",
                                  "2026-12-04 01:02", "1999-01-01T00:00:00-01:00"])
def test_iso_times_read_without_fromisoformat_as_with_it(text):
    # Python 3.6 (an EL8 worker, exit 5) has no datetime.fromisoformat; finish reads the given file there.
    assert results._parse_iso(text) == results.datetime.fromisoformat(text)


@pytest.mark.parametrize("text", ["bad", "2026-13-01", "2026-12-04T25:00"])
def test_a_bad_iso_time_is_a_value_error_without_fromisoformat(text):
    with pytest.raises(ValueError):
        results._parse_iso(text)
