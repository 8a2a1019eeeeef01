"""Rescue (`./submit --missing`): which chunks of a run still need a job, judged from its results dir.

Like DAGMan's rescue DAG, for photodemo: a chunk is complete when its results-START.json exists,
is a valid results document for exactly that chunk, finished, and records no transient failure.
Every other chunk — no file, a corrupt file, a failed or interrupted job, transient failures —
is rerun; every valid file is kept.
"""

import glob
import os
from typing import List, NamedTuple, Set

from luminance import results
from luminance.errors import ResultsError
from luminance.jobs import RESULTS_GLOB, Chunk, results_start

__all__ = ["Verdict", "inspect", "to_rerun", "report", "strays", "listing"]

COMPLETE = "complete"
MISSING = "missing"
CORRUPT = "corrupt"
FAILED = "failed"
INCOMPLETE = "interrupted"
MISMATCH = "for another chunk"
TRANSIENT = "transient failures"
# Report order: what a user should look at first.
STATES = (MISSING, CORRUPT, MISMATCH, FAILED, INCOMPLETE, TRANSIENT)


class Verdict(NamedTuple):
    """What the results dir holds for one chunk: a state and, when not complete, why."""

    chunk: Chunk
    state: str
    detail: str = ""


def judge(path: str, chunk: Chunk) -> Verdict:
    """The verdict on CHUNK given its results file PATH."""
    if not os.path.exists(path):
        return Verdict(chunk, MISSING)
    try:
        document = results.read(path)
    except ResultsError as exc:
        return Verdict(chunk, CORRUPT, str(exc))
    job = results.Job.of(document, path)
    if (job.start, job.count) != (chunk.start, chunk.count):
        return Verdict(chunk, MISMATCH, "{}: holds records {}-{}, the chunk is {}-{} (another --chunk?)"
                       .format(path, job.start, job.stop - 1, chunk.start, chunk.stop - 1))
    if job.error:
        return Verdict(chunk, FAILED, "{}: the job failed: {}".format(path, job.error))
    if job.complete is False:
        return Verdict(chunk, INCOMPLETE, "{}: the job was interrupted".format(path))
    held, expected = results.accounted(document)
    if held < expected:  # a file's `complete` is its claim; its entries are the evidence
        return Verdict(chunk, INCOMPLETE, "{}: accounts for {} of the {} records of its chunk".format(
            path, held, expected))
    transient = results.transient_failures(document)
    if transient:
        return Verdict(chunk, TRANSIENT, "{}: {} record{} failed transiently".format(
            path, len(transient), "" if len(transient) == 1 else "s"))
    return Verdict(chunk, COMPLETE)


def inspect(directory: str, chunks: List[Chunk]) -> List[Verdict]:
    """A verdict for every chunk, from the results files in DIRECTORY."""
    return [judge(os.path.join(directory, chunk.results_name), chunk) for chunk in chunks]


def to_rerun(verdicts: List[Verdict]) -> List[Chunk]:
    return [verdict.chunk for verdict in verdicts if verdict.state != COMPLETE]


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
    """Lines saying what the results dir holds and what will be rerun."""
    complete = sum(1 for verdict in verdicts if verdict.state == COMPLETE)
    counts = ["{} complete".format(complete)]
    lines = []
    for state in STATES:
        these = [verdict for verdict in verdicts if verdict.state == state]
        if not these:
            continue
        counts.append("{} {}".format(len(these), state))
        if state == MISSING:
            lines.append("  missing: {}".format(listing([v.chunk.results_name for v in these])))
        else:
            lines += ["  {}: {}".format(state, verdict.detail) for verdict in these]
    head = "{}: {} chunk{}: {}".format(directory, len(verdicts), "" if len(verdicts) == 1 else "s",
                                       ", ".join(counts))
    for path in stray:
        lines.append("  ignored: {} (no chunk of this plan starts there; made with another --chunk?)"
                     .format(path))
    return [head] + lines
