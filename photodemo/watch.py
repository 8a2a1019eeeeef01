"""Following a run on HTCondor (`./submit --wait`, `--test`): one progress line from job.log, then
what happened, and for --test what the first jobs measured and the --chunk they suggest."""

import os
import time
from typing import Dict, IO, List, Optional

from luminance import results
from luminance.arguments import duration
from luminance.errors import ResultsError
from luminance.jobs import Chunk

from photodemo import condor, eventlog, rescue

__all__ = ["follow", "summary", "test_report", "TARGET_MINUTES", "releasable"]

POLL = 2.0  # seconds between reads of the event log
TARGET_MINUTES = 20  # OSPool's guidance: jobs of 10-30 minutes (more is fine, much less is waste)


def releasable(job: eventlog.Job, max_retries: int) -> bool:
    """Whether submit.sub's periodic_release will release this held job (condor.releasable)."""
    return condor.releasable(job.hold_code, job.hold_subcode, job.holds, max_retries)


def _finished(job: Optional[eventlog.Job], max_retries: int) -> bool:
    if job is None:
        return False  # not materialized yet (max_materialize) or not logged yet
    if job.status == eventlog.HELD:
        return not releasable(job, max_retries)
    return not job.active


def _line(jobs: Dict[int, eventlog.Job], total: int, cluster: int, began: float) -> str:
    counts = {state: 0 for state in (eventlog.DONE, eventlog.RUNNING, eventlog.IDLE,
                                     eventlog.HELD, eventlog.REMOVED)}
    for job in jobs.values():
        counts[job.status] += 1
    counts[eventlog.IDLE] += total - len(jobs)
    shown = ", ".join("{} {}".format(n, state) for state, n in counts.items()
                      if n or state in (eventlog.DONE, eventlog.RUNNING))
    return "cluster {}: {} job{}: {} | {}".format(cluster, total, "" if total == 1 else "s",
                                                  shown, duration(time.monotonic() - began))


def follow(log: str, cluster: int, chunks: List[Chunk], max_retries: int,
           out: IO[str]) -> Dict[int, eventlog.Job]:
    """Read LOG until every job of CLUSTER (one per chunk) is done, removed or held for good;
    {proc: Job}. One progress line: redrawn on a terminal, a new line on change otherwise."""
    tty = out.isatty()
    began, shown, seen_size = time.monotonic(), "", -1
    jobs: Dict[int, eventlog.Job] = {}
    while True:
        size = eventlog.size(log)
        if size != seen_size:
            seen_size = size
            jobs = {proc: job for (_, proc), job in eventlog.jobs(log, [cluster]).items()}
        line = _line(jobs, len(chunks), cluster, began)
        if tty:
            out.write("\r\x1b[K" + line)
            out.flush()
        elif line.split(" | ")[0] != shown.split(" | ")[0]:
            out.write(line + "\n")
            out.flush()
        shown = line
        if all(_finished(jobs.get(proc), max_retries) for proc in range(len(chunks))):
            if tty:
                out.write("\n")
            return jobs
        time.sleep(POLL)


def summary(jobs: Dict[int, eventlog.Job], verdicts: List[rescue.Verdict], chunks: List[Chunk],
            max_retries: int) -> List[str]:
    """What the run ended with: chunks complete, every hold with its reason, failed exits."""
    complete = sum(1 for v in verdicts if v.state == rescue.COMPLETE)
    lines = ["{} of {} chunks complete".format(complete, len(chunks))]
    for proc, chunk in enumerate(chunks):
        job = jobs.get(proc)
        if job is None:
            continue
        if job.status == eventlog.HELD:
            lines.append("held: job {} (chunk {}, {} hold{}): {}; then: condor_release {} or "
                         "condor_rm {} and ./submit --missing".format(
                             job.id, chunk.start, job.holds, "" if job.holds == 1 else "s",
                             job.hold_reason, job.id, job.id))
        elif job.status == eventlog.DONE and job.exit_code not in (0, None):
            lines.append("failed: job {} (chunk {}) exit {}: see {}".format(
                job.id, chunk.start, job.exit_code, chunk.error_name))
        elif job.holds:
            lines.append("job {} (chunk {}) was held {} time{} and released".format(
                job.id, chunk.start, job.holds, "" if job.holds == 1 else "s"))
    for verdict in verdicts:
        if verdict.state != rescue.COMPLETE and verdict.detail:
            lines.append("{}: {}".format(verdict.state, verdict.detail))
    return lines


def _photo_seconds(results_dir: str, chunks: List[Chunk]) -> Optional[float]:
    """Seconds per photo over the jobs' own timing (results' job.elapsed), None if unknown."""
    elapsed, photos = 0.0, 0
    for chunk in chunks:
        try:
            document = results.read(os.path.join(results_dir, chunk.results_name))
        except ResultsError:
            continue
        seconds = document["job"].get("elapsed")
        if isinstance(seconds, (int, float)) and document["photos"]:
            elapsed += seconds
            photos += len(document["photos"]) + len(document["failures"])
    return elapsed / photos if photos else None


def test_report(jobs: Dict[int, eventlog.Job], results_dir: str, chunks: List[Chunk],
                chunk_size: int, memory: str = "?", disk: str = "?") -> List[str]:
    """--test: the rate, memory and disk the test jobs measured, and a --chunk to use."""
    lines = []
    per_photo = _photo_seconds(results_dir, chunks)
    used_memory = [job.memory_mb for job in jobs.values() if job.memory_mb is not None]
    used_disk = [job.disk_kb for job in jobs.values() if job.disk_kb is not None]
    if per_photo is None:
        lines.append("test: no job analyzed a photo; nothing to suggest (see the reasons above)")
        return lines
    lines.append("test: {:.3f} s per photo ({:.1f} photos/s per job), measured by the jobs"
                 .format(per_photo, 1 / per_photo if per_photo else 0))
    if used_memory:
        lines.append("test: memory used at most {} MB of --request-memory {} (HTCondor's measure, "
                     "job.log)".format(max(used_memory), memory))
    if used_disk:
        lines.append("test: disk used at most {:.0f} MB of --request-disk {}".format(
            max(used_disk) / 1024, disk))
    suggested = max(1, int(TARGET_MINUTES * 60 / per_photo)) if per_photo else chunk_size
    lines.append("test: --chunk {} gives jobs of about {} minutes (this run: --chunk {}, about {})"
                 .format(suggested, TARGET_MINUTES, chunk_size, duration(per_photo * chunk_size)))
    return lines
