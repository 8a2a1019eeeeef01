"""Writing files atomically: a temporary file in the same directory, then a rename.

A reader (or HTCondor transferring the file back) sees the old file or the new one, never half
of one, even when the writer is killed. Shared by the results, submit.sub, manifest slices and
the manifests ./make-manifest writes.
"""

import os
import shutil
import tempfile

__all__ = ["write_atomically", "copy_atomically", "check_writable"]


def write_atomically(path: str, text: str, durable: bool = False, errors: str = "strict") -> None:
    """Write TEXT (UTF-8, '\\n' newlines) to PATH atomically; DURABLE also fsyncs. Raises OSError.
    ERRORS is the encoding's error handler: "surrogateescape" writes the undecodable bytes of a
    text read with it (a manifest's, into its slices) as they came."""

    def write(stream):
        stream.write(text.encode("utf-8", errors))
        if durable:
            stream.flush()
            os.fsync(stream.fileno())

    _replace(path, write)


def copy_atomically(source: str, path: str) -> None:
    """Copy the file SOURCE to PATH atomically (an output transfer). Raises OSError."""

    def write(stream):
        with open(source, "rb") as original:
            shutil.copyfileobj(original, stream)

    _replace(path, write)


def check_writable(directory: str) -> None:
    """Raise OSError unless a file can be created in DIRECTORY, as the atomic writes will: checked
    before any work, so that a run does not end in an error after its work is done."""
    with tempfile.TemporaryFile(dir=directory):
        pass


def _replace(path, write) -> None:
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
