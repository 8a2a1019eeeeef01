"""--wait and --test (photodemo.watch): the progress line from DAGMan's status, and the --chunk a
test run suggests, from HTCondor's job records and the jobs' results files."""

import time

from luminance.core import results

from photodemo.jobs import plan
from photodemo import dag, eventlog, watch


def job(proc, status, **fields):
    record = eventlog.Job(7, proc)
    record.status = status
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def test_the_progress_line_counts_dagmans_nodes():
    status = dag.Status(done=2, total=4, failed=1, in_queue={0: ("running", "")}, held=1)
    line = watch.progress_line(status, time.monotonic())
    assert line.startswith("DAG: 2 of 4 nodes done, 1 in progress, 1 held, 1 failed | ")
    assert watch.progress_line(None, time.monotonic()).startswith("DAG: submitted")


def test_the_advice_keeps_jobs_near_the_target_and_the_run_spread():
    # The tutorial's 5,576 records at 0.026 s a photo: jobs of 20 minutes would be one job.
    assert watch.suggest(0.026, 5576) == (46153, 279, 279)  # 20 jobs, not 1
    # Enough records: jobs of the target length, 167 of them.
    assert watch.suggest(2.0, 100000) == (600, 5000, 600)


def test_a_test_run_suggests_a_chunk_from_the_jobs_own_timing(tmp_path):
    chunks = plan(4, 2)
    for chunk, elapsed in zip(chunks, (2.0, 6.0)):
        document = results.new_document(results.Job(host="w", start=chunk.start, count=2, records=2,
                                                    elapsed=elapsed, complete=True))
        for record in range(chunk.start, chunk.stop):
            document["photos"].append(results.photo(record, record + 1, "u", 1900, 0.5, 1, 1, "L", 1))
        results.write(str(tmp_path / chunk.results_name), document)
    jobs = {0: job(0, eventlog.DONE, exit_code=0, memory_mb=90, disk_kb=20480),
            1: job(1, eventlog.DONE, exit_code=0, memory_mb=120)}
    lines = watch.test_report(jobs, str(tmp_path), chunks, chunk_size=2, records=100000,
                              memory="1GB", disk="60MB")
    assert lines[0] == "test: 2.000 s per photo (0.5 photos/s per job), measured by the jobs"
    assert "test: memory used at most 120 MB of --request-memory 1GB (HTCondor's measure, job.log)" in lines
    assert "test: disk used at most 20 MB of --request-disk 60MB" in lines
    assert lines[-2] == ("test: --chunk 600: 167 jobs of about 20 min 00 s each for the 100000 "
                         "records (jobs of about 20 minutes: --chunk 600, 167 jobs; the run over "
                         "at least 20 jobs: --chunk 5000)")
    assert lines[-1] == "test: this run's --chunk 2 makes jobs of about 4.0 s"


def test_a_test_run_without_a_photo_suggests_nothing(tmp_path):
    lines = watch.test_report({}, str(tmp_path), plan(4, 2), chunk_size=2, records=4)
    assert lines == ["test: no job analyzed a photo; nothing to suggest (see the reasons above)"]
