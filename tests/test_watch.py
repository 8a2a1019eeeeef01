"""--wait and --test (photodemo.watch): which held jobs photodemo releases, what a run ends with,
and the --chunk a test run suggests, from HTCondor's job records and the jobs' results files."""

from luminance import results
from luminance.errors import EXIT_TRANSIENT, EXIT_UNSUITABLE
from luminance.jobs import plan

from photodemo import eventlog, rescue, watch


def job(proc, status, **fields):
    record = eventlog.Job(7, proc)
    record.status = status
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def held(code, subcode=0, holds=1):
    return job(0, eventlog.HELD, hold_code=code, hold_subcode=subcode, holds=holds, hold_reason="why")


def test_only_the_holds_submit_sub_releases_count_as_releasable():
    assert watch.releasable(held(3, EXIT_TRANSIENT), max_retries=2)
    assert watch.releasable(held(3, EXIT_UNSUITABLE, holds=2), max_retries=2)
    assert watch.releasable(held(12), 2) and watch.releasable(held(13, 7), 2)
    assert not watch.releasable(held(3, EXIT_TRANSIENT, holds=3), max_retries=2)  # retries spent
    assert not watch.releasable(held(3, 1), 2)  # another exit code's hold
    assert not watch.releasable(held(1), 2)  # condor_hold


def test_the_summary_names_holds_failures_and_incomplete_chunks():
    chunks = plan(30, 10)
    jobs = {0: job(0, eventlog.DONE, exit_code=0, holds=1),
            1: held(3, EXIT_TRANSIENT, holds=3),
            2: job(2, eventlog.DONE, exit_code=1)}
    verdicts = [rescue.Verdict(chunks[0], rescue.COMPLETE),
                rescue.Verdict(chunks[1], rescue.TRANSIENT, "results-10.json: 2 records failed transiently"),
                rescue.Verdict(chunks[2], rescue.FAILED, "results-20.json: the job failed: boom")]
    lines = watch.summary(jobs, verdicts, chunks, max_retries=2)
    assert lines[0] == "1 of 3 chunks complete"
    assert "job 7.0 (chunk 0) was held 1 time and released" in lines
    assert lines[2].startswith("held: job 7.0 (chunk 10, 3 holds): why; then: condor_release 7.0")
    assert "failed: job 7.2 (chunk 20) exit 1: see log/job.error.20" in lines
    assert "transient failures: results-10.json: 2 records failed transiently" in lines


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
    lines = watch.test_report(jobs, str(tmp_path), chunks, chunk_size=2, memory="1GB", disk="60MB")
    assert lines[0] == "test: 2.000 s per photo (0.5 photos/s per job), measured by the jobs"
    assert "test: memory used at most 120 MB of --request-memory 1GB (HTCondor's measure, job.log)" in lines
    assert "test: disk used at most 20 MB of --request-disk 60MB" in lines
    assert lines[-1].startswith("test: --chunk {} gives jobs of about {} minutes".format(
        watch.TARGET_MINUTES * 60 // 2, watch.TARGET_MINUTES))


def test_a_test_run_without_a_photo_suggests_nothing(tmp_path):
    lines = watch.test_report({}, str(tmp_path), plan(4, 2), chunk_size=2)
    assert lines == ["test: no job analyzed a photo; nothing to suggest (see the reasons above)"]
