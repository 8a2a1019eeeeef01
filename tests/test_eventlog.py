"""HTCondor's job event log, read by photodemo.eventlog (stdlib), checked against HTCondor's own
reader (htcondor.JobEventLog) on a log written by a real pool (the personal pool's, trimmed)."""

import os

import pytest

from luminance.core.errors import UsageError
from photodemo import eventlog

# Written by HTCondor 25.14 on the personal pool (two jobs; the second exits 3, is held by
# on_exit_hold, released by periodic_release, runs again), then a third job in its first event,
# and a fourth event being written (no `...` yet).
LOG = """035 (001.-01.000) 2026-11-29 21:58:02 Cluster submitted from host: <127.0.0.1:43521?addrs=127.0.0.1-43521&alias=vm>
...
000 (001.000.000) 2026-11-29 21:58:02 Job submitted from host: <127.0.0.1:43521?addrs=127.0.0.1-43521&alias=vm>
...
001 (001.000.000) 2026-11-29 21:58:10 Job executing on host: <127.0.0.1:34285?addrs=127.0.0.1-34285&alias=vm>
\tSlotName: slot1_1@vm
\tCondorScratchDir = "/tmp/pool/local/execute/dir_12810/scratch"
\tCpus = 1
\tDisk = 1048576
\tGPUs = 0
\tMemory = 128
...
006 (001.000.000) 2026-11-29 21:58:10 Image size of job updated: 1
\t6  -  MemoryUsage of job (MB)
\t5820  -  ResidentSetSize of job (KB)
...
005 (001.000.000) 2026-11-29 21:58:10 Job terminated.
\t(1) Normal termination (return value 0)
\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Remote Usage
\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Local Usage
\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Total Remote Usage
\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Total Local Usage
\t134  -  Run Bytes Sent By Job
\t147  -  Run Bytes Received By Job
\t134  -  Total Bytes Sent By Job
\t147  -  Total Bytes Received By Job
\tPartitionable Resources :    Usage  Request Allocated 
\t   Cpus                 :        0        1         1 
\t   Disk (KB)            :       16  1048576   1048576 
\t   GPUs                 :                           0 
\t   Memory (MB)          :        9      128       128 
\t   TimeExecute (s)      :        0                    
\t   TimeSlotBusy (s)     :        5                    
...
000 (001.001.000) 2026-11-29 21:58:10 Job submitted from host: <127.0.0.1:43521?addrs=127.0.0.1-43521&alias=vm>
...
001 (001.001.000) 2026-11-29 21:58:15 Job executing on host: <127.0.0.1:34285?addrs=127.0.0.1-34285&alias=vm>
\tSlotName: slot1_2@vm
...
012 (001.001.000) 2026-11-29 21:58:15 Job was held.
\tphotodemo: photos failed transiently (exit 3), see the job's error log
\tCode 3 Subcode 3
...
013 (001.001.000) 2026-11-29 21:58:19 Job was released.
\tThe job attribute PeriodicRelease expression 'NumHolds <= 3' evaluated to TRUE
...
001 (001.001.000) 2026-11-29 21:58:25 Job executing on host: <127.0.0.1:34285?addrs=127.0.0.1-34285&alias=vm>
\tSlotName: slot1_1@vm
...
000 (002.000.000) 2026-11-29 21:59:00 Job submitted from host: <127.0.0.1:43521?addrs=127.0.0.1-43521&alias=vm>
...
009 (002.000.000) 2026-11-29 21:59:05 Job was aborted.
\tvia condor_rm (by user condorpool)
...
001 (001.001.000) 2026-11-29 21:59:25 Job executing on host: <127.0.0.1:34285?addrs=12
"""


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "job.log"
    path.write_text(LOG)
    return str(path)


def test_jobs_states_from_their_events(log):
    jobs = eventlog.jobs(log)
    assert sorted(jobs) == [(1, 0), (1, 1), (2, 0)]
    done, again, removed = jobs[(1, 0)], jobs[(1, 1)], jobs[(2, 0)]
    assert (done.status, done.exit_code, done.starts, done.memory_mb, done.disk_kb) == \
        (eventlog.DONE, 0, 1, 9, 16)
    assert done.slot == "slot1_1@vm" and not done.active
    assert (again.status, again.holds, again.starts, again.hold_code, again.hold_subcode) == \
        (eventlog.RUNNING, 1, 2, 3, 3)
    assert again.hold_reason.startswith("photodemo: photos failed transiently (exit 3)")
    assert again.active and again.id == "1.1" and again.since == "2026-11-29 21:58:25"
    assert removed.status == eventlog.REMOVED
    assert sorted(eventlog.jobs(log, clusters=[2])) == [(2, 0)]


def test_an_event_being_written_and_a_missing_log_are_not_errors(log, tmp_path):
    codes = [event.code for event in eventlog.events(log)]
    assert codes[-1] == eventlog.ABORTED  # the unfinished event is left for the next read
    assert list(eventlog.events(str(tmp_path / "none.log"))) == []
    assert eventlog.jobs(str(tmp_path / "none.log")) == {}


def test_the_reader_agrees_with_htcondors_own(log, tmp_path):
    os.environ.setdefault("CONDOR_CONFIG", "/dev/null")
    htcondor = pytest.importorskip("htcondor")
    complete = tmp_path / "complete.log"
    complete.write_text(LOG[:LOG.rindex("001 (001.001.000) 2026-11-29 21:59:25")])
    theirs = [e for e in htcondor.JobEventLog(str(complete)).events(0) if e.proc >= 0]
    ours = [e for e in eventlog.events(str(complete)) if e.proc >= 0]
    assert [(e.code, e.cluster, e.proc) for e in ours] == \
        [(int(e.type), e.cluster, e.proc) for e in theirs]
    held = [e for e in theirs if int(e.type) == 12][0]
    job = eventlog.jobs(str(complete))[(1, 1)]
    assert (job.hold_reason, job.hold_code, job.hold_subcode) == \
        (held["HoldReason"], held["HoldReasonCode"], held["HoldReasonSubCode"])
    terminated = [e for e in theirs if int(e.type) == 5][0]
    assert eventlog.jobs(str(complete))[(1, 0)].exit_code == terminated["ReturnValue"]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_an_event_log_that_is_not_a_regular_file_is_refused_unread(tmp_path, kind):
    # A FIFO would make ./submit --missing wait for ever; /dev/zero would be read until memory ran out.
    log = tmp_path / "job.log"
    if kind == "fifo":
        os.mkfifo(str(log))
    elif kind == "dev-zero":
        log.symlink_to("/dev/zero")
    else:
        log.mkdir()
    with pytest.raises(UsageError) as raised:
        eventlog.jobs(str(log))
    assert str(raised.value) == "{}: HTCondor's event log cannot be read: not a regular file".format(log)


def test_an_endless_line_is_read_in_pieces_and_the_events_around_it_count(tmp_path):
    log = tmp_path / "job.log"
    head = LOG.split("...\n", 2)
    log.write_text(head[0] + "...\n" + "x" * (3 * eventlog.MAX_LINE) + "\n" + "...\n" + head[1] + "...\n")
    assert [event.code for event in eventlog.events(str(log))] == [35, 0]
