"""Files written atomically, and files read only when they are regular files of a bounded size.

Writing: a temporary file in the same directory, then a rename. A reader (or HTCondor
transferring the file back) sees the old file or the new one, never half of one, even when the
writer is killed. Shared by the results, submit.sub, manifest slices and the manifests
./make-manifest writes.

Reading what a worker, a pool or a user left (results files, the event log, the run record):
`open_regular` opens a path only when it is a regular file of at most a given size, without
waiting on a FIFO or reading a device (`job.log` linked to /dev/zero) (docs/reliability.md).
"""

import os
import shutil
import stat
import tempfile
from typing import BinaryIO, Callable, Optional

__all__ = ["write_atomically", "copy_atomically", "check_writable", "Refused", "open_regular"]


class Refused(OSError):
    """A path that is not a regular file, or holds more than its reader takes: left unread.
    str() is the reason without the path (the caller names it); SIZE is the file's size when it
    was refused for that, None when it is not a regular file."""

    size: Optional[int] = None

    def __str__(self) -> str:
        return self.strerror or ""


def open_regular(path: str, max_bytes: int, kind: str = "the file") -> BinaryIO:
    """PATH opened for reading (binary) when it is a regular file of at most MAX_BYTES bytes (KIND
    names what it should be in the reason, "a results file");
    Refused when it is something else (a FIFO, a device, a directory) or larger, other OSErrors
    as open() raises them. The caller reads at most MAX_BYTES + 1 bytes, to see it grow."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then judges what was opened.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(0, "not a regular file")
        if info.st_size > max_bytes:
            refused = Refused(0, "{} bytes, more than {} may hold ({} MiB)".format(
                info.st_size, kind, max_bytes >> 20))
            refused.size = info.st_size
            raise refused
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def write_atomically(path: str, text: str, durable: bool = False, errors: str = "strict") -> None:
    """Write TEXT (UTF-8, '\\n' newlines) to PATH atomically; DURABLE also fsyncs. Raises OSError.
    ERRORS is the encoding's error handler: "surrogateescape" writes the undecodable bytes of a
    text read with it (a manifest's, into its slices) as they came."""

    def write(stream: BinaryIO) -> None:
        stream.write(text.encode("utf-8", errors))
        if durable:
            stream.flush()
            os.fsync(stream.fileno())

    _replace(path, write)


def copy_atomically(source: str, path: str) -> None:
    """Copy the file SOURCE to PATH atomically (an output transfer). Raises OSError."""

    def write(stream: BinaryIO) -> None:
        with open(source, "rb") as original:
            shutil.copyfileobj(original, stream)

    _replace(path, write)


def check_writable(directory: str) -> None:
    """Raise OSError unless a file can be created in DIRECTORY, as the atomic writes will: checked
    before any work, so that a run does not end in an error after its work is done."""
    with tempfile.TemporaryFile(dir=directory):
        pass


def _replace(path: str, write: Callable[[BinaryIO], None]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    # The temporary name keeps PATH's start only: PATH's own name may be as long as a name can be.
    fd, tmp = tempfile.mkstemp(prefix=".{}.".format(os.path.basename(path)[:64]), suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as stream:
            write(stream)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
