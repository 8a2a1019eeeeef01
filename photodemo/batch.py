"""A batch: the jobs one ./submit run sends, and everything each job is given — for both back ends.

The job itself (`results-START.json START COUNT`, its log names) is defined once in the payload's
`photodemo.jobs`; a Batch adds what a run decides: which chunks, which pex, the manifest or each
chunk's own slice of it, extra payload options, resource requests, retries, and where results and
logs go. `condor.py` writes a Batch as an HTCondor submit description, `local.py` runs the very
same Batch on this machine.
"""

import glob
import os
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

from luminance.core import results
from luminance.core.errors import ManifestError, UsageError
from luminance.core.files import write_atomically
from luminance.core.limits import DEFAULT_MEMORY_MB
from luminance.core.manifest import UNDECODABLE, iter_records, offset_directive

from photodemo.jobs import SLICE_NAME, Chunk

__all__ = ["Batch", "DEFAULT_MEMORY", "DEFAULT_MAX_RETRIES", "DEFAULT_BACKOFF", "SLICES_DIR",
           "SPLIT_THRESHOLD", "MAX_SLICES", "write_slices", "remove_slices", "keep_logs",
           "write_pending"]

SLICES_DIR = os.path.dirname(SLICE_NAME)
# request_memory: the memory the job budgets its decoders against when the job ad says nothing.
DEFAULT_MEMORY = "{}MB".format(DEFAULT_MEMORY_MB)
DEFAULT_MAX_RETRIES = 3  # holds released per job: a worker or a server bad that often is not luck
DEFAULT_BACKOFF = 300  # seconds: a photo server's bad minutes, not its bad second
# Every job transfers its input; past this size each job gets only its own slice instead of the
# whole manifest (the tutorial's is far below it, and is sent whole, as it was).
SPLIT_THRESHOLD = 4 * 1024 * 1024
# More slice files than this is a --chunk far too small for a pool (each job's fixed cost is
# seconds): refused rather than written.
MAX_SLICES = 20000


class Batch(NamedTuple):
    """The jobs of one run. Paths are as given (relative to the current directory) or absolute."""

    chunks: List[Chunk]
    payload: str  # the pex
    manifest: str
    results: str  # where results-START.json files end up
    workdir: str  # where submit.sub, job.log, log/ and slices/ live (the submit directory)
    options: List[str]  # payload options after START COUNT, e.g. ["--metric", "luma"]
    cpus: int = 1
    memory: str = DEFAULT_MEMORY
    disk: str = "2GB"
    max_retries: int = DEFAULT_MAX_RETRIES
    split: bool = False  # each job reads its own manifest slice (SLICES_DIR) instead of MANIFEST
    project: Optional[str] = None
    container: Optional[str] = None
    requirements: Optional[str] = None
    arches: Tuple[str, ...] = ()  # the machines the pex carries wheels for (bundle.targets)
    os_check: bool = True  # keep jobs off OSPool workers whose OS has no Python 3.9+
    backoff: int = DEFAULT_BACKOFF  # seconds before a held job is released (times its holds)
    max_running: int = 0  # at most this many jobs of the run in the queue (0: no limit)
    # --transfer-osdf: {chunk start: the federation objects HTCondor transfers into its sandbox}
    # (transfers.py); None: the jobs read every URL themselves.
    transfers: Optional[Dict[int, Tuple[str, ...]]] = None

    def input_name(self, chunk: Chunk) -> str:
        """The job's stdin, relative to WORKDIR when it lies there (the manifest or its slice)."""
        if self.split:
            return chunk.slice_name
        return relative_to(self.manifest, self.workdir)

    def input_path(self, chunk: Chunk) -> str:
        return os.path.join(self.workdir, self.input_name(chunk))

    def arguments(self, chunk: Chunk) -> List[str]:
        return chunk.arguments + self.options

    @property
    def records(self) -> int:
        return sum(chunk.count for chunk in self.chunks)


def relative_to(path: str, directory: str) -> str:
    """PATH relative to DIRECTORY when it lies below it, else absolute: how submit.sub names files."""
    full, base = os.path.abspath(path), os.path.abspath(directory)
    if full == base or full.startswith(base.rstrip(os.sep) + os.sep):
        return os.path.relpath(full, base)
    return full


def write_slices(lines: Sequence[str], manifest: str, chunks: List[Chunk],
                 workdir: str) -> Dict[int, str]:
    """Write each chunk's slice of MANIFEST (its LINES, as read) under WORKDIR/slices; {start:
    path}.

    A slice is an offset directive (the chunk's first record number and line number in the whole
    manifest), then the manifest's lines from the chunk's first record through its last, copied
    verbatim, so the job's START COUNT and every record and line number in its results stay global.
    """
    if len(chunks) > MAX_SLICES:
        raise UsageError("{}: {} jobs would need {} slice files (--split); use a bigger --chunk "
                         "(jobs of a few minutes at least) or --no-split"
                         .format(manifest, len(chunks), len(chunks)))
    wanted = {chunk.start: chunk for chunk in chunks}
    directory = os.path.join(workdir, SLICES_DIR)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise UsageError("{}: cannot create: {}".format(directory, exc.strerror or exc)) from None
    written = {}
    current, buffer, last_index = None, [], -1
    for record in iter_records(lines):
        if current is None and record.index in wanted:
            current = wanted[record.index]
            buffer = [offset_directive(record.index, record.line)]
            first_line = record.line
        if current is not None:
            last_index = record.index
            if record.index == current.stop - 1:
                buffer.extend(lines[first_line - 1:record.line])
                path = os.path.join(workdir, current.slice_name)
                write_atomically(path, "".join(buffer), errors=UNDECODABLE)  # bytes as they came
                written[current.start] = path
                current = None
    if len(written) != len(wanted):
        missing = sorted(set(wanted) - set(written))
        raise ManifestError("{}: has {} records, fewer than the jobs need (chunk at record {})"
                            .format(manifest, last_index + 1, missing[0]))
    return written


def remove_slices(workdir: str, keep: Set[int]) -> int:
    """Remove the slice files under WORKDIR/slices of every chunk start not in KEEP (an old run's,
    or a chunk now complete); how many were removed."""
    pattern = os.path.join(glob.escape(workdir), SLICE_NAME.format(start="*"))
    prefix, suffix = SLICE_NAME.split("{start}")
    removed = 0
    for path in glob.glob(pattern):
        name = os.path.relpath(path, workdir)
        middle = name[len(prefix):len(name) - len(suffix)]
        if middle.isdigit() and int(middle) in keep:
            continue
        try:
            os.remove(path)
            removed += 1
        except OSError:
            pass
    return removed


def keep_logs(workdir: str, chunk: Chunk) -> None:
    """Before CHUNK runs again: move its output and error logs aside (NAME.1, NAME.2, ...), so
    a rerun never overwrites the evidence of an earlier run."""
    for name in (chunk.output_name, chunk.error_name):
        path = os.path.join(workdir, name)
        if not os.path.exists(path):
            continue
        number = 1
        while os.path.exists("{}.{}".format(path, number)):
            number += 1
        os.replace(path, "{}.{}".format(path, number))


def pending_document(chunk: Chunk, metric: str = results.DEFAULT_METRIC) -> Dict:
    """A valid results document for CHUNK that holds nothing yet: the job was not run. It names
    the run's METRIC, so that ./aggregate reads it beside the finished ones."""
    return results.new_document(results.Job(start=chunk.start, count=chunk.count, metric=metric,
                                            complete=False))


def write_pending(directory: str, chunks: Sequence[Chunk],
                  metric: str = results.DEFAULT_METRIC) -> int:
    """Write a pending results file for every chunk of CHUNKS that has none in DIRECTORY (HTCondor
    holds a job whose input file is missing, and every job is sent its results file); how many."""
    written = 0
    for chunk in chunks:
        path = os.path.join(directory, chunk.results_name)
        if not os.path.lexists(path):
            results.write(path, pending_document(chunk, metric))
            written += 1
    return written
