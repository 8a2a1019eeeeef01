"""Following a run's DAG (`./submit --wait`, `--test`): one progress line from DAGMan's node
status file until DAGMan is done; for --test, what the first jobs measured and the --chunk they
suggest."""

import math
import os
import time
from typing import Dict, IO, List, Optional, Sequence, Tuple

from luminance.core import results
from luminance.core.arguments import duration
from luminance.core.errors import ResultsError

from photodemo.jobs import Chunk
from photodemo import dag

__all__ = ["follow", "progress_line", "test_report", "suggest", "TARGET_MINUTES", "SPREAD_JOBS"]

POLL = 2.0  # seconds between reads of the node status file
TARGET_MINUTES = 20  # OSPool's guidance: jobs of 10-30 minutes (more is fine, much less is waste)
# A run over fewer jobs than this leaves the pool's parallelism unused: --test's advice spreads
# a small run over this many jobs, shorter than TARGET_MINUTES.
SPREAD_JOBS = 20


def progress_line(status: Optional[dag.Status], began: float) -> str:
    if status is None:
        return "DAG: submitted, DAGMan starting | {}".format(duration(time.monotonic() - began))
    queued = len(status.in_queue)
    parts = ["{} of {} nodes done".format(status.done, status.total),
             "{} in progress".format(queued)]
    if status.held:
        parts.append("{} held".format(status.held))
    if status.failed:
        parts.append("{} failed".format(status.failed))
    return "DAG: {} | {}".format(", ".join(parts), duration(time.monotonic() - began))


def follow(results_dir: str, dags: Sequence[int], out: IO[str]) -> Optional[dag.Status]:
    """Read the DAG's node status file in RESULTS_DIR until none of the DAGMan jobs DAGS is in
    the queue (DAGMan's own event log); the last status. One progress line: redrawn on a
    terminal, a new line on change otherwise."""
    tty = out.isatty()
    began, shown = time.monotonic(), ""
    while True:
        active = dag.dagman_active(results_dir, dags)
        status = dag.status(results_dir)
        line = progress_line(status, began)
        if tty:
            out.write("\r\x1b[K" + line)
            out.flush()
        elif line.split(" | ")[0] != shown.split(" | ")[0]:
            out.write(line + "\n")
            out.flush()
        shown = line
        if not active:
            if tty:
                out.write("\n")
            return status
        time.sleep(POLL)


def suggest(per_photo: float, records: int) -> Tuple[int, int, int]:
    """(--chunk for jobs of about TARGET_MINUTES, --chunk that spreads RECORDS over SPREAD_JOBS
    jobs, the advice: the smaller of the two)."""
    target = max(1, int(TARGET_MINUTES * 60 / per_photo)) if per_photo else records
    spread = max(1, math.ceil(records / SPREAD_JOBS))
    return target, spread, min(target, spread)


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


def test_report(jobs: Dict, results_dir: str, chunks: List[Chunk], chunk_size: int,
                records: int, memory: str = "?", disk: str = "?") -> List[str]:
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
    target, spread, advice = suggest(per_photo, records)
    lines.append("test: --chunk {}: {} jobs of about {} each for the {} records (jobs of about {} "
                 "minutes: --chunk {}, {} job{}; the run over at least {} jobs: --chunk {})"
                 .format(advice, math.ceil(records / advice), duration(per_photo * advice),
                         records, TARGET_MINUTES, target, math.ceil(records / target),
                         "" if records <= target else "s", SPREAD_JOBS, spread))
    lines.append("test: this run's --chunk {} makes jobs of about {}".format(
        chunk_size, duration(per_photo * chunk_size)))
    return lines
