"""The one chunk judge: how far a results file covers its chunk; what the DAG still runs."""

import os

from luminance.core import results

from photodemo.jobs import plan
from photodemo import judge
from photodemo.batch import write_pending


def job(start, count, complete=True):
    return {"host": "h", "start": start, "count": count, "records": count, "metric": "perceived",
            "manifest": "manifest.txt", "payload_version": "1.0.0", "python": "3.11",
            "pillow": "11.3.0", "requests": "2.32.5", "workers": 8, "cpus": 1,
            "started": "2026-01-01T00:00:00Z", "ended": "2026-01-01T00:00:01Z", "elapsed": 1.0,
            "rate": 1.0, "complete": complete}


def write_results(directory, start, count, transient=0, complete=True, photos=None):
    document = results.new_document(job(start, count, complete))
    for record in range(start, start + (count - transient if photos is None else photos)):
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
    write_results(tmp_path, 30, 10, complete=False, photos=7)
    write_results(tmp_path, 40, 20)  # written by a run with another chunk size
    write_pending(str(tmp_path), plan(70, 10)[6:])
    verdicts = judge.inspect(str(tmp_path), chunks + plan(70, 10)[6:])
    assert [v.state for v in verdicts] == [judge.COMPLETE, judge.TRANSIENT, judge.CORRUPT,
                                            judge.INCOMPLETE, judge.MISMATCH, judge.MISSING,
                                            judge.PENDING]
    assert [c.start for c in judge.to_rerun(verdicts)] == [10, 20, 30, 40, 50, 60]
    assert "2 records failed transiently" in verdicts[1].detail
    assert "results-20.json" in verdicts[2].detail and "invalid JSON" in verdicts[2].detail
    assert "3 of 10 records have no entry" in verdicts[3].detail
    lines = judge.report(str(tmp_path), verdicts, [])
    assert lines[0].endswith("7 chunks: 1 complete, 1 missing, 1 not run yet, 1 corrupt, "
                             "1 for another chunk, 1 incomplete, 1 transient failures")
    assert "  missing: results-50.json" in lines


def test_completeness_comes_from_the_entries_not_the_files_claims(tmp_path):
    write_results(tmp_path, 0, 10, complete=True, photos=9)  # claims complete, lacks a record
    assert judge.inspect(str(tmp_path), plan(10, 10))[0].state == judge.INCOMPLETE
    document = results.read(str(tmp_path / "results-0.json"))
    document["photos"].append(dict(document["photos"][0], record=57))  # outside the range
    results.write(str(tmp_path / "results-0.json"), document)
    assert judge.inspect(str(tmp_path), plan(10, 10))[0].state == judge.INCOMPLETE
    document["photos"][-1]["record"] = 9
    results.write(str(tmp_path / "results-0.json"), document)
    assert judge.inspect(str(tmp_path), plan(10, 10))[0].state == judge.COMPLETE
    document["job"]["count"] = 10 ** 18  # a count that would cover every other chunk
    results.write(str(tmp_path / "results-0.json"), document)
    assert judge.inspect(str(tmp_path), plan(10, 10))[0].state == judge.MISMATCH


def test_a_failure_that_is_permanent_is_complete(tmp_path):
    document = results.new_document(job(0, 2))
    document["photos"].append(results.photo(0, 1, "http://h/0.jpg", 1900, 0.5, 1, 1, "L", 9))
    document["failures"].append(results.failure(1, 2, "http://h/1.jpg", "HTTP 404", False))
    results.write(str(tmp_path / "results-0.json"), document)
    assert judge.inspect(str(tmp_path), plan(2, 2))[0].state == judge.COMPLETE


def test_a_fifo_in_place_of_a_results_file_is_corrupt_not_a_hang(tmp_path):
    os.mkfifo(str(tmp_path / "results-0.json"))
    verdict = judge.inspect(str(tmp_path), plan(3, 3))[0]  # would wait for a writer for ever
    assert verdict.state == judge.CORRUPT and "not a regular file" in verdict.detail


def test_strays_are_files_of_no_chunk(tmp_path):
    write_results(tmp_path, 0, 10)
    write_results(tmp_path, 5, 5)
    (tmp_path / "results-x.json").write_text("{}")
    assert judge.strays(str(tmp_path), plan(20, 10)) == [str(tmp_path / "results-5.json")]


def test_chunks_whose_node_dagman_still_runs_are_left_to_it(tmp_path):
    in_queue = {0: (judge.QUEUED, "node chunk0 ready"), 10: (judge.RUNNING, "node chunk10 submitted"),
                20: (judge.HELD, "node chunk20 submitted, its job held (condor_q -hold)")}
    verdicts = judge.inspect(str(tmp_path), plan(40, 10), in_queue)
    assert [c.start for c in judge.to_rerun(verdicts)] == [30]  # no results file: rerun
    lines = judge.report(str(tmp_path), verdicts, [])
    assert lines[0].endswith("4 chunks: 0 complete, 1 held, 1 running, 1 queued, 1 missing")
    assert "  held: node chunk20 submitted, its job held (condor_q -hold)" in lines


def test_a_job_that_recorded_its_own_error_is_rerun(tmp_path):
    document = results.new_document(dict(job(0, 5, complete=False), error="manifest.txt: cannot read"))
    results.write(str(tmp_path / "results-0.json"), document)
    verdict = judge.inspect(str(tmp_path), plan(5, 5))[0]
    assert verdict.state == judge.FAILED and "cannot read" in verdict.detail
