"""Federation objects that HTCondor transfers into the jobs' sandboxes (./submit --transfer-osdf).

A job reads public OSDF objects itself, through the caches (payload/luminance/pelican.py), but an
object in a private namespace (an OSPool access point's /ospool/apNN/data/USER/...) needs the
user's token, which the job does not have. HTCondor does: its osdf transfer plugin fetches
`transfer_input_files = osdf:///...` with the credentials of the user who submitted the job. So
with --transfer-osdf every job's transfer_input_files lists its chunk's osdf://, stash:// and
pelican:// objects; each lands in the sandbox under the last component of its path (HTCondor
cannot rename a transferred URL: `manifest.sandbox_name`), and the job, run with `--transferred`,
reads it there and records it by its URL. Hence, within one chunk, no two objects may have the
same file name, nor take the name of one of the job's own files (the pex, its input, its
results file): such a manifest is refused, naming both lines.

Opt-in, not automatic: ./submit cannot tell a private namespace from a public one without asking
the federation (it runs on a bare python3, offline), and transferred photos take the job's disk
and the access point's credentials. It prints a hint instead when the manifest names objects
under the OSPool's private directories, and the job's failure line for such an object names the
option.
"""

import bisect
import os
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

from luminance.core import osdf
from luminance.core.errors import UsageError
from luminance.core.manifest import FEDERATION_SCHEMES, iter_records, open_manifest, sandbox_name

from photodemo.jobs import Chunk

__all__ = ["collect", "transfer_url", "private_records", "reserved_names", "local_path",
           "Transfers", "Collected", "PRIVATE_HINT", "LOCAL_ROOT"]

# An access point mounts its own OSDF origin: /ospool/apNN/data/USER is a local directory there
# (OSPool's "Transfer Larger Job Files and Containers Using OSDF"), so ./submit can see the files
# HTCondor will transfer: a missing one would hold its job, and their sizes count in the job's
# disk. Tests point this elsewhere.
LOCAL_ROOT = "/"
PRIVATE_HINT = ("the jobs cannot read them without your token; --transfer-osdf has HTCondor "
                "transfer them with your credentials")

Transfers = Dict[int, Tuple[str, ...]]  # chunk start: its objects' URLs, in manifest order


class Collected(NamedTuple):
    """What collect found: each chunk's objects, and the bytes of those seen on this machine."""
    objects: Transfers
    sizes: Dict[int, int]  # chunk start: bytes of its objects found under LOCAL_ROOT


def transfer_url(url: str) -> str:
    """URL as transfer_input_files names it: osdf:///NAMESPACE/..., the form OSPool documents
    (users also type osdf://ospool/..., which the job reads as the same object: osdf.py)."""
    return osdf.canonical(url)


def _federation_url(url: Optional[str]) -> bool:
    scheme, separator, _ = (url or "").partition("://")
    return bool(separator) and scheme.lower() in FEDERATION_SCHEMES


class _Seen(NamedTuple):
    url: str
    line: int


def collect(manifest: str, chunks: Sequence[Chunk],
            reserved: Callable[[Chunk], Set[str]] = lambda chunk: set()) -> Collected:
    """{start: the URLs HTCondor is to transfer for that chunk} for every chunk of CHUNKS (an
    empty tuple where it has none), and the sizes of those on this access point. RESERVED gives
    the names of a chunk's job's own files in its sandbox. Raises UsageError naming the manifest
    line of an object that cannot be transferred under a name of its own, or that is missing from
    this access point's origin."""
    ordered = sorted(chunks)
    starts = [chunk.start for chunk in ordered]
    found: Dict[int, List[str]] = {chunk.start: [] for chunk in ordered}
    sizes: Dict[int, int] = {chunk.start: 0 for chunk in ordered}
    names: Dict[int, Dict[str, _Seen]] = {chunk.start: {} for chunk in ordered}
    with open_manifest(manifest) as stream:
        for record in iter_records(stream):
            where = bisect.bisect_right(starts, record.index) - 1
            if where < 0 or record.index >= ordered[where].stop:
                continue
            if record.error or not _federation_url(record.url):
                continue  # a malformed line is the job's to report; other URLs it reads itself
            chunk = ordered[where]
            url, name = _check(manifest, record.line, record.url, reserved(chunk))
            seen = names[chunk.start].get(name)
            if seen is None:
                names[chunk.start][name] = _Seen(url, record.line)
                found[chunk.start].append(url)
                sizes[chunk.start] += _local_size(manifest, record.line, url)
            elif seen.url != url:
                raise UsageError(
                    "{}:{}: {}: has the file name {} of line {} ({}), in the same job (records "
                    "{}..{}): HTCondor would put both in its sandbox under that name; give the "
                    "photos distinct file names (or leave out --transfer-osdf)".format(
                        manifest, record.line, record.url, name, seen.line, seen.url,
                        chunk.start, chunk.stop - 1))
    return Collected({start: tuple(urls) for start, urls in found.items()}, sizes)


def local_path(url: str) -> Optional[str]:
    """Where the object at URL (osdf:///ospool/apNN/data/...) is on this machine, when this is
    its access point (its origin directory is here); else None."""
    if url.partition("://")[0].lower() not in osdf.SCHEMES:
        return None
    path = osdf.object_path(url)
    origin = osdf.private_origin(path)
    if not origin or not os.path.isdir(os.path.join(LOCAL_ROOT, origin.lstrip("/"))):
        return None
    return os.path.join(LOCAL_ROOT, path.lstrip("/"))


def _local_size(manifest: str, line: int, url: str) -> int:
    """The bytes of URL's object on this access point (0 where it cannot be seen from here)."""
    path = local_path(url)
    if path is None:
        return 0
    try:
        return os.stat(path).st_size
    except OSError as exc:
        raise UsageError("{}:{}: {}: {} on this access point ({}): HTCondor could not transfer "
                         "it, and would hold its job".format(manifest, line, url,
                                                             exc.strerror or exc, path)) from None


def _check(manifest: str, line: int, url: str, reserved: Set[str]) -> Tuple[str, str]:
    """The transfer URL and sandbox name of the object at URL, or UsageError naming its line."""
    try:
        name = sandbox_name(url)
    except ValueError as exc:
        raise UsageError("{}:{}: {}: HTCondor cannot transfer it under a known name: {}".format(
            manifest, line, url, exc)) from None
    if name in reserved:
        raise UsageError("{}:{}: {}: its file name {} is one of the job's own files in the "
                         "sandbox; rename the photo".format(manifest, line, url, name))
    return transfer_url(url), name


def private_records(manifest: str) -> int:
    """How many records of MANIFEST are OSDF objects under the OSPool's private directories."""
    count = 0
    with open_manifest(manifest) as stream:
        for record in iter_records(stream):
            if record.error or not _federation_url(record.url):
                continue
            if record.url.partition("://")[0].lower() not in osdf.SCHEMES:
                continue  # another federation's namespaces are its own
            if osdf.is_private(osdf.object_path(record.url)):
                count += 1
    return count


def reserved_names(payload: str, input_name: str, chunk: Chunk) -> Set[str]:
    """The names of the files HTCondor puts in CHUNK's job's sandbox besides the photos."""
    return {os.path.basename(payload), os.path.basename(input_name), chunk.results_name}
