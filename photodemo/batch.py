"""A batch: the jobs one ./submit run sends, and everything each job is given — for both back ends.

The job itself (`results-START.json START COUNT`, its log names) is defined once in the payload's
`luminance.jobs`; a Batch adds what a run decides: which chunks, which pex, the manifest or each
chunk's own slice of it, extra payload options, resource requests, retries, and where results and
logs go. `condor.py` writes a Batch as an HTCondor submit description, `local.py` runs the very
same Batch on this machine.
"""

import os
from typing import Dict, List, NamedTuple, Optional

from luminance.errors import ManifestError, UsageError
from luminance.files import write_atomically
from luminance.jobs import Chunk
from luminance.manifest import iter_records, offset_directive, open_manifest

__all__ = ["Batch", "SLICES_DIR", "SPLIT_THRESHOLD", "write_slices"]

SLICES_DIR = "slices"
# Every job transfers its input; past this size each job gets only its own slice instead of the
# whole manifest (the tutorial's 5,576-line manifest is 0.6 MB and is sent whole, as it was).
SPLIT_THRESHOLD = 4 * 1024 * 1024


class Batch(NamedTuple):
    """The jobs of one run. Paths are as given (relative to the current directory) or absolute."""

    chunks: List[Chunk]
    payload: str  # the pex
    manifest: str
    results: str  # where results-START.json files end up
    workdir: str  # where submit.sub, job.log, log/ and slices/ live (the submit directory)
    options: List[str]  # payload options after START COUNT, e.g. ["--metric", "luma"]
    cpus: int = 1
    memory: str = "1GB"
    disk: str = "2GB"
    max_retries: int = 3
    split: bool = False  # each job reads its own manifest slice (SLICES_DIR) instead of MANIFEST
    project: Optional[str] = None
    container: Optional[str] = None
    requirements: Optional[str] = None

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


def write_slices(manifest: str, chunks: List[Chunk], workdir: str) -> Dict[int, str]:
    """Write each chunk's slice of MANIFEST under WORKDIR/slices; {start: path}.

    A slice is an offset directive (the chunk's first record number and line number in the whole
    manifest), then the manifest's lines from the chunk's first record through its last, copied
    verbatim, so the job's START COUNT and every record and line number in its results stay global.
    """
    wanted = {chunk.start: chunk for chunk in chunks}
    directory = os.path.join(workdir, SLICES_DIR)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise UsageError("{}: cannot create: {}".format(directory, exc.strerror or exc)) from None
    with open_manifest(manifest) as stream:
        lines = stream.readlines()
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
                write_atomically(path, "".join(buffer))
                written[current.start] = path
                current = None
    if len(written) != len(wanted):
        missing = sorted(set(wanted) - set(written))
        raise ManifestError("{}: has {} records, fewer than the jobs need (chunk at record {})"
                            .format(manifest, last_index + 1, missing[0]))
    return written
