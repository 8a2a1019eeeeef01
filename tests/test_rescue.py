"""--missing: which chunks a results dir still lacks, from the results files themselves."""

import os

from luminance import results
from luminance.jobs import plan

from photodemo import rescue


def job(start, count, complete=True):
    return {"host": "h", "start": start, "count": count, "records": count, "metric": "perceived",
            "manifest": "manifest.txt", "payload_version": "1.0.0", "python": "3.11",
            "pillow": "11.3.0", "requests": "2.32.5", "workers": 8, "cpus": 1,
            "started": "2026-01-01T00:00:00Z", "ended": "2026-01-01T00:00:01Z", "elapsed": 1.0,
            "rate": 1.0, "complete": complete}


def write_results(directory, start, count, transient=0, complete=True):
    document = results.new_document(job(start, count, complete))
    for record in range(start, start + count - transient):
        document["photos"].append(results.photo(record, record + 1, "http://h/{}.jpg".format(record),
                                                1900, 0.5, 10, 10, "RGB", 100))
    for record in range(start + count - transient, start + count):
        document["failures"].append(results.failure(record, record + 1, "http://h/x.jpg",
                                                    "HTTP 503", True))
    results.write(str(directory / "results-{}.json".format(start)), document)


def test_every_state(tmp_path):
    chunks = plan(60, 10)
    write_results(tmp_path, 0, 10)
    write_results(tmp_path, 10, 10, transient=2)
    (tmp_path / "results-20.json").write_text('{"schema": "photodemo-results/1", "job": ')
    write_results(tmp_path, 30, 10, complete=False)
    write_results(tmp_path, 40, 20)  # written by a run with another chunk size
    verdicts = rescue.inspect(str(tmp_path), chunks)
    assert [v.state for v in verdicts] == [rescue.COMPLETE, rescue.TRANSIENT, rescue.CORRUPT,
                                            rescue.INCOMPLETE, rescue.MISMATCH, rescue.MISSING]
    assert [c.start for c in rescue.to_rerun(verdicts)] == [10, 20, 30, 40, 50]
    assert "2 records failed transiently" in verdicts[1].detail
    assert "results-20.json" in verdicts[2].detail and "invalid JSON" in verdicts[2].detail
    lines = rescue.report(str(tmp_path), verdicts, [])
    assert lines[0].endswith("6 chunks: 1 complete, 1 missing, 1 corrupt, 1 for another chunk, "
                             "1 interrupted, 1 transient failures")
    assert "  missing: results-50.json" in lines


def test_a_failure_that_is_permanent_is_complete(tmp_path):
    document = results.new_document(job(0, 2))
    document["photos"].append(results.photo(0, 1, "http://h/0.jpg", 1900, 0.5, 1, 1, "L", 9))
    document["failures"].append(results.failure(1, 2, "http://h/1.jpg", "HTTP 404", False))
    results.write(str(tmp_path / "results-0.json"), document)
    assert rescue.inspect(str(tmp_path), plan(2, 2))[0].state == rescue.COMPLETE


def test_a_file_that_claims_complete_with_records_missing_is_rerun(tmp_path):
    document = results.new_document(job(0, 3))
    document["photos"].append(results.photo(0, 1, "http://h/0.jpg", 1900, 0.5, 1, 1, "L", 9))
    document["photos"].append(results.photo(7, 8, "http://h/7.jpg", 1900, 0.5, 1, 1, "L", 9))  # not its own
    results.write(str(tmp_path / "results-0.json"), document)
    verdict = rescue.inspect(str(tmp_path), plan(3, 3))[0]
    assert verdict.state == rescue.INCOMPLETE and verdict.detail.endswith("accounts for 1 of the 3 records of its chunk")


def test_a_fifo_in_place_of_a_results_file_is_corrupt_not_a_hang(tmp_path):
    os.mkfifo(str(tmp_path / "results-0.json"))
    verdict = rescue.inspect(str(tmp_path), plan(3, 3))[0]  # would wait for a writer for ever
    assert verdict.state == rescue.CORRUPT and verdict.detail.endswith("not a regular file; skipped unread")


def test_strays_are_files_of_no_chunk(tmp_path):
    write_results(tmp_path, 0, 10)
    write_results(tmp_path, 5, 5)
    (tmp_path / "results-x.json").write_text("{}")
    assert rescue.strays(str(tmp_path), plan(20, 10)) == [str(tmp_path / "results-5.json")]


def test_a_job_that_recorded_its_own_error_is_rerun(tmp_path):
    document = results.new_document(dict(job(0, 5, complete=False), error="manifest.txt: cannot read"))
    results.write(str(tmp_path / "results-0.json"), document)
    verdict = rescue.inspect(str(tmp_path), plan(5, 5))[0]
    assert verdict.state == rescue.FAILED and "cannot read" in verdict.detail
