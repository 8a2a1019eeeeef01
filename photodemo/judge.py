"""The judge of a chunk: how far its results file covers it, in one set of states.

One rule for every reader: the DAG's POST script (is this node done, retried or failed?),
`./submit --missing` and `--wait` (what is each chunk at?) and `--local` (how did this job end?).
A chunk is complete when its results-START.json holds, for every record of the chunk's range, a
photo or a permanent failure: computed from the entries, never taken from the file's own
`complete`/`count`. Every other chunk (no file, a pending or corrupt file, a failed or interrupted
job, transient failures) needs another job; every valid file is kept, and that job starts from it.
A chunk whose node HTCondor still runs (the DAG's node status file) is left to it.
"""

import glob
import os
from typing import Dict, List, NamedTuple, Optional, Set, Tuple

from luminance.core import results
from luminance.core.errors import ResultsError

from photodemo.jobs import RESULTS_GLOB, Chunk, results_start

__all__ = ["Verdict", "inspect", "to_rerun", "report", "strays", "listing", "judge", "STATES",
           "COMPLETE", "MISSING", "PENDING", "CORRUPT", "FAILED", "INCOMPLETE", "MISMATCH",
           "TRANSIENT", "QUEUED", "RUNNING", "HELD"]

COMPLETE = "complete"
MISSING = "missing"
PENDING = "not run yet"
CORRUPT = "corrupt"
FAILED = "failed"
INCOMPLETE = "incomplete"
MISMATCH = "for another chunk"
TRANSIENT = "transient failures"
# A chunk whose DAG node HTCondor still works on (node status file): waiting for its turn or its
# back-off, its job queued, or its POST script judging it.
QUEUED, RUNNING, HELD = "queued", "running", "held"
IN_QUEUE = (HELD, RUNNING, QUEUED)
# Report order: what a user should look at first.
STATES = IN_QUEUE + (MISSING, PENDING, CORRUPT, MISMATCH, FAILED, INCOMPLETE, TRANSIENT)


class Verdict(NamedTuple):
    """What the run holds for one chunk: a state and, when not complete, why."""

    chunk: Chunk
    state: str
    detail: str = ""


def judge(path: str, chunk: Chunk) -> Verdict:
    """The verdict on CHUNK given its results file PATH."""
    if not os.path.lexists(path):
        return Verdict(chunk, MISSING)
    if not os.path.isfile(path):
        return Verdict(chunk, CORRUPT, "{}: not a regular file".format(path))
    try:
        document = results.read(path)
    except ResultsError as exc:
        return Verdict(chunk, CORRUPT, str(exc))
    job = results.Job.of(document, path)
    if (job.start, job.count) != (chunk.start, chunk.count):
        return Verdict(chunk, MISMATCH, "{}: holds records {}-{}, the chunk is {}-{} (another --chunk?)"
                       .format(path, job.start, job.stop - 1, chunk.start, chunk.stop - 1))
    # Counted within the job's range, which the check above made the chunk's (or less, where the
    # job found the manifest ending early: then the chunk is short of records and is rerun).
    covered = results.coverage(document)
    done, transient = covered.settled, covered.transient
    if done == chunk.count:
        return Verdict(chunk, COMPLETE)
    left = chunk.count - done
    if job.error:
        return Verdict(chunk, FAILED, "{}: the job failed: {}".format(path, job.error))
    if not job.host and not done and not transient:
        return Verdict(chunk, PENDING, "{}: no job has written it yet".format(path))
    if transient:
        return Verdict(chunk, TRANSIENT, "{}: {} record{} failed transiently".format(
            path, transient, "" if transient == 1 else "s"))
    return Verdict(chunk, INCOMPLETE, "{}: {} of {} records have no entry (interrupted?)".format(
        path, left, chunk.count))


def inspect(directory: str, chunks: List[Chunk],
            in_queue: Optional[Dict[int, Tuple[str, str]]] = None) -> List[Verdict]:
    """A verdict for every chunk: IN_QUEUE's state where its job is still queued, else from the
    results files in DIRECTORY."""
    in_queue = in_queue or {}
    verdicts = []
    for chunk in chunks:
        if chunk.start in in_queue:
            state, detail = in_queue[chunk.start]
            verdicts.append(Verdict(chunk, state, detail))
        else:
            verdicts.append(judge(os.path.join(directory, chunk.results_name), chunk))
    return verdicts


def to_rerun(verdicts: List[Verdict]) -> List[Chunk]:
    return [verdict.chunk for verdict in verdicts
            if verdict.state != COMPLETE and verdict.state not in IN_QUEUE]


def strays(directory: str, chunks: List[Chunk]) -> List[str]:
    """Results files in DIRECTORY that belong to no chunk of this plan (another --chunk size?)."""
    starts: Set[int] = {chunk.start for chunk in chunks}
    found = []
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), RESULTS_GLOB))):
        start = results_start(os.path.basename(path))
        if start is not None and start not in starts:
            found.append(path)
    return found


def listing(names: List[str], most: int = 12) -> str:
    """NAMES joined with commas, the middle elided past MOST of them."""
    if len(names) <= most:
        return ", ".join(names)
    return "{}, ... ({} more), {}".format(", ".join(names[:most - 2]), len(names) - most + 1,
                                          names[-1])


def report(directory: str, verdicts: List[Verdict], stray: List[str]) -> List[str]:
    """Lines saying what the run holds, chunk by chunk where one needs attention."""
    complete = sum(1 for verdict in verdicts if verdict.state == COMPLETE)
    counts = ["{} complete".format(complete)]
    lines = []
    for state in STATES:
        these = [verdict for verdict in verdicts if verdict.state == state]
        if not these:
            continue
        counts.append("{} {}".format(len(these), state))
        if state in (MISSING, PENDING):
            lines.append("  {}: {}".format(state, listing([v.chunk.results_name for v in these])))
        else:
            lines += ["  {}: {}".format(state, verdict.detail) for verdict in these]
    head = "{}: {} chunk{}: {}".format(directory, len(verdicts), "" if len(verdicts) == 1 else "s",
                                       ", ".join(counts))
    for path in stray:
        lines.append("  ignored: {} (no chunk of this plan starts there; made with another --chunk?)"
                     .format(path))
    return [head] + lines
