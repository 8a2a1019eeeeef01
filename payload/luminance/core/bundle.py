"""The third-party libraries frozen into the payload, and putting the ones this Python can use on sys.path.

dist/luminance.pex is a pex (pex's runtime runs our code; docs/payload.md). The libraries are not
pex requirements: a pex keeps each wheel whole, and twelve wheels for twelve platforms would carry
twelve whole Pillows, mostly the same bytes (the native libraries and the Python files are
identical across the CPython versions of one machine), and a Python the pex has no wheels for
would fail in pex's start-up, leaving HTCondor no results file. So build.py stores each distinct
file of all the wheels once (by sha256), LZMA-compressed in solid streams (the files every machine
shares, per machine the files its CPythons share, and the extension modules in chains of CPython
versions, build.py's CHAIN) under ZIP_PREFIX, outside what pex unpacks, with an index
(`StoreIndex`: each wheel's file list). At start-up only the wheels that fit this interpreter
(CPython version, machine, C library) are assembled from those streams, each file checked against
its sha256, into a folder renamed into place when complete, under the PEX_ROOT pex itself runs
from (`cache_dir`), once. Running from a source checkout there is no store, and the environment's
own packages are used.

Stdlib only, and importable by CPython 3.6 and newer: ./submit asks a payload which Pythons and
machines it serves (`targets`), and a job started by a Python the payload carries no wheels for
(EL8's 3.6) must still get as far as writing its results file, saying why (`BundleError`,
exit code 5: HTCondor runs it elsewhere).
"""

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
import zipfile
import zlib
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

from luminance.core.cpus import available_cpus
from luminance.core.errors import EXIT_UNSUITABLE, PhotodemoError

__all__ = ["ZIP_PREFIX", "INDEX", "FORMAT", "BundleError", "Targets", "Blob", "WheelFile",
           "StoreIndex", "supported_tags", "compatible", "choose", "activate", "targets",
           "cache_dir", "project", "wheel_tags", "PLATFORM_TAG", "damaged"]

# The store's folder in the pex: pex unpacks its own code and the distributions PEX-INFO names,
# never other files under .deps/.
ZIP_PREFIX = ".deps/photodemo-wheels/"
INDEX = ZIP_PREFIX + "index.json"
FORMAT = "photodemo-wheels/2"
# The folder under PEX_ROOT that holds assembled libraries, beside pex's own caches.
CACHE_NAME = "photodemo"
_READ = 1 << 20
# manylinux tags older than glibc 2.17 exist only for these machines (PEP 571, 513).
_OLD_MANYLINUX_ARCHES = ("x86_64", "i686")
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
PLATFORM_TAG = re.compile(r"^(?:manylinux(?:2014|2010|1)|manylinux_\d+_\d+|musllinux_\d+_\d+|linux)_(\w+)$")


class BundleError(PhotodemoError):
    """This worker cannot run the payload: no wheels for its Python or machine, or no room to
    unpack them. The message says what the pex serves; HTCondor should run the job elsewhere."""

    exit_code = EXIT_UNSUITABLE


class Targets(NamedTuple):
    """What a pex serves: the CPython versions ("3.9", ...) and machines ("x86_64", ...) it carries
    wheels for; both empty for a pex that uses its environment's own packages."""

    pythons: Tuple[str, ...]
    arches: Tuple[str, ...]


class Blob(NamedTuple):
    """One distinct file of the store: its sha256, and where it lies in which pack's raw stream."""

    sha256: str
    pack: str
    offset: int
    size: int


class WheelFile(NamedTuple):
    """One file of a wheel: its path in the wheel, the number of its Blob, its mode."""

    path: str
    blob: int
    mode: int


class StoreIndex(NamedTuple):
    """The store's index (INDEX in the pex), as PexInfo owns PEX-INFO: build.py makes one and
    writes `dumps()`, the job and the benchmark `read` it. `sha256` is that of the written index,
    which lists every file's: it names the store (its cache folder)."""

    blobs: Tuple[Blob, ...]
    wheels: Dict[str, Tuple[WheelFile, ...]]
    left_out: Tuple[str, ...] = ()
    sha256: str = ""

    def dumps(self) -> bytes:
        return json.dumps({"format": FORMAT, "left_out": sorted(self.left_out),
                           "blobs": [list(blob) for blob in self.blobs],
                           "wheels": {name: [list(item) for item in files]
                                      for name, files in sorted(self.wheels.items())}},
                          sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def loads(cls, raw: bytes, where: str) -> "StoreIndex":
        """The index in RAW (read from WHERE). Raises BundleError when it is not one: a damaged
        pex, or a store of another format."""
        try:
            data = json.loads(raw.decode("utf-8"))
            if data.get("format") != FORMAT:
                raise BundleError("{}: store of format {!r}, this payload reads {!r}: rebuild the "
                                  "pex".format(where, data.get("format"), FORMAT))
            blobs = tuple(Blob(str(d), str(p), int(o), int(s)) for d, p, o, s in data["blobs"])
            wheels = {str(name): tuple(WheelFile(str(path), int(n), int(mode)) for path, n, mode in files)
                      for name, files in data["wheels"].items()}
            if any(not 0 <= item.blob < len(blobs) for files in wheels.values() for item in files):
                raise ValueError("a file names no blob")
        except BundleError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
            raise BundleError("{}: the store's index is damaged ({}): transfer the pex "
                              "again".format(where, type(exc).__name__)) from None
        return cls(blobs, wheels, tuple(data.get("left_out", ())), hashlib.sha256(raw).hexdigest())

    @classmethod
    def read(cls, archive: zipfile.ZipFile) -> Optional["StoreIndex"]:
        """The index in the pex ARCHIVE, or None when it carries no store."""
        try:
            raw = archive.read(INDEX)
        except KeyError:
            return None
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise BundleError("{}: cannot read the store's index ({}): the pex is damaged; "
                              "transfer it again".format(archive.filename, exc)) from None
        return cls.loads(raw, archive.filename)

    def files(self, wheel: str) -> Tuple[WheelFile, ...]:
        return self.wheels[wheel]

    def size(self, wheels: Iterable[str]) -> int:
        """Bytes the files of WHEELS take on disk."""
        return sum(self.blobs[item.blob].size for name in wheels for item in self.wheels[name])


# -- Which wheels fit: packaging.tags' order of preference, re-derived for CPython on Linux ------

def _glibc() -> Optional[tuple]:
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):
        return None
    match = re.match(r"glibc (\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _musl(machine: str) -> Optional[tuple]:
    """musl's version, as packaging finds it: its dynamic loader prints it when run bare."""
    loader = "/lib/ld-musl-{}.so.1".format(machine)
    if not os.path.exists(loader):
        return None
    try:
        proc = subprocess.run([loader], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"^Version (\d+)\.(\d+)", proc.stderr, re.MULTILINE)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _platforms(machine: str, glibc: Optional[tuple], musl: Optional[tuple]) -> List[str]:
    """This machine's platform tags in packaging.tags.platform_tags' order: a wheel built on this
    very system first, then manylinux from the newest glibc down, then musllinux."""
    out = ["linux_{}".format(machine)]
    if glibc and glibc[0] == 2:
        floor = 4 if machine in _OLD_MANYLINUX_ARCHES else 16
        for minor in range(glibc[1], floor, -1):
            out.append("manylinux_2_{}_{}".format(minor, machine))
            legacy = _LEGACY_MANYLINUX.get((2, minor))
            if legacy and (minor == 17 or machine in _OLD_MANYLINUX_ARCHES):
                out.append("{}_{}".format(legacy, machine))
    if musl and musl[0] == 1:
        out += ["musllinux_1_{}_{}".format(minor, machine) for minor in range(musl[1], -1, -1)]
    return out


def supported_tags(version=sys.version_info, machine: Optional[str] = None,
                   glibc: Optional[tuple] = None, musl: Optional[tuple] = None,
                   free_threaded: Optional[bool] = None) -> List[Tuple[str, str, str]]:
    """(python, abi, platform) tags a CPython of VERSION on MACHINE installs, best first: the order
    of packaging.tags.sys_tags() (cpython_tags, then compatible_tags) for CPython on Linux.
    Without glibc/musl, the running system's C library is looked up."""
    machine = machine or platform.machine()
    if glibc is None and musl is None:
        glibc = _glibc()
        musl = None if glibc else _musl(machine)
    if free_threaded is None:
        free_threaded = (tuple(version[:2]) == tuple(sys.version_info[:2])
                         and bool(sysconfig.get_config_var("Py_GIL_DISABLED")))
    major, minor = version[0], version[1]
    platforms = _platforms(machine, glibc, musl)
    interpreter = "cp{}{}".format(major, minor)
    abis = [interpreter + ("t" if free_threaded else "")]
    abi3 = major == 3 and minor >= 2 and not free_threaded
    tags = [(interpreter, abi, plat) for abi in abis + (["abi3"] if abi3 else []) + ["none"]
            for plat in platforms]
    if abi3:  # an abi3 wheel built for an older CPython 3 works on this one
        tags += [("cp{}{}".format(major, older), "abi3", plat)
                 for older in range(minor - 1, 1, -1) for plat in platforms]
    pythons = ["py{}{}".format(major, minor), "py{}".format(major)]
    pythons += ["py{}{}".format(major, older) for older in range(minor - 1, -1, -1)]
    tags += [(python, "none", plat) for python in pythons for plat in platforms]
    tags.append((interpreter, "none", "any"))
    tags += [(python, "none", "any") for python in pythons]
    return tags


def wheel_tags(filename: str) -> List[Tuple[str, str, str]]:
    """The tags a wheel file name declares (its compressed tag sets expanded, PEP 425)."""
    parts = os.path.basename(filename)[:-len(".whl")].split("-")
    if len(parts) < 5 or not filename.endswith(".whl"):
        return []
    pythons, abis, plats = (part.split(".") for part in parts[-3:])
    return [(python, abi, plat) for python in pythons for abi in abis for plat in plats]


def _rank(filename: str, ranks: Dict[Tuple[str, str, str], int]) -> Optional[int]:
    found = [ranks[tag] for tag in wheel_tags(filename) if tag in ranks]
    return min(found) if found else None


def compatible(filename: str, version=sys.version_info, machine: Optional[str] = None,
               glibc: Optional[tuple] = None, musl: Optional[tuple] = None) -> bool:
    """Whether the wheel FILENAME installs on this CPython (or the one described)."""
    return bool(set(wheel_tags(filename)) & set(supported_tags(version, machine, glibc, musl)))


def project(filename: str) -> str:
    return re.sub(r"[-_.]+", "_", os.path.basename(filename).split("-")[0]).lower()


def choose(wheels: Iterable[str], version=sys.version_info, machine: Optional[str] = None,
           glibc: Optional[tuple] = None, musl: Optional[tuple] = None) -> List[str]:
    """The wheel of each project in WHEELS this Python should use: for each, the one whose best
    tag comes first in supported_tags (as pip picks). Raises BundleError naming what is missing."""
    wheels = sorted(wheels)
    tags = supported_tags(version, machine, glibc, musl)
    ranks = {}
    for n, tag in enumerate(tags):
        ranks.setdefault(tag, n)
    chosen = {}  # project -> (rank, wheel)
    for name in wheels:
        rank = _rank(name, ranks)
        if rank is not None and (project(name) not in chosen or rank < chosen[project(name)][0]):
            chosen[project(name)] = (rank, name)
    missing = sorted({project(name) for name in wheels} - set(chosen))
    if missing:
        raise BundleError(_no_wheels(missing, version, machine or platform.machine(),
                                     glibc if glibc or musl else _glibc(), wheels))
    return [chosen[project][1] for project in sorted(chosen)]


def _serves(wheels: Iterable[str]) -> Targets:
    pythons, arches = set(), set()
    for name in wheels:
        for python, abi, plat in wheel_tags(name):
            if re.match(r"^cp3\d+$", python) and abi != "none":
                pythons.add("3.{}".format(python[3:]))
            match = PLATFORM_TAG.match(plat)
            if match:
                arches.add(match.group(1))
    return Targets(tuple(sorted(pythons, key=lambda v: int(v.split(".")[1]))), tuple(sorted(arches)))


def _no_wheels(missing: List[str], version, machine: str, libc: Optional[tuple],
               wheels: List[str]) -> str:
    served = _serves(wheels)
    return ("this pex has no {} for CPython {}.{} on {}{}: it serves CPython {} on {}; run the job "
            "on a worker with one of those (./submit's defaults do), or rebuild the pex with "
            "build.py --python/--arch".format(
                ", ".join(missing), version[0], version[1], machine,
                " (glibc {}.{})".format(*libc) if libc else "",
                ", ".join(served.pythons) or "none", ", ".join(served.arches) or "none"))


# -- The store in the pex ------------------------------------------------------------------------

def damaged(pex: str) -> Optional[str]:
    """Why the file PEX holds a zip that cannot be read (a payload cut short in transfer, or
    damaged), or None: it begins a zip (a local file header) that has no readable end. A file
    holding no zip at all is not judged here (a stand-in script is one)."""
    try:
        with open(pex, "rb") as stream:
            head = stream.read(1 << 20)
        if b"PK\x03\x04" not in head:
            return None
        with zipfile.ZipFile(pex) as archive:
            StoreIndex.read(archive)
    except (zipfile.BadZipFile, BundleError) as exc:
        return str(exc)
    except OSError:
        return None  # unreadable: said where it is opened
    return None


def targets(pex: str) -> Targets:
    """The Pythons and machines the pex file PEX carries wheels for (stdlib only: ./submit asks)."""
    with zipfile.ZipFile(pex) as archive:
        index = StoreIndex.read(archive)
    return _serves(index.wheels if index else ())


def _blobs(archive: zipfile.ZipFile, index: StoreIndex, needed: Iterable[int]) -> Dict[int, bytes]:
    """The files numbered NEEDED, read from their packs and checked against their sha256.

    Each pack is one LZMA stream holding its files end to end; it is decoded only as far as the
    last file needed (build.py puts the files of older Pythons first). Given more than one CPU,
    the packs are decoded at once, a thread each (LZMA releases the GIL)."""
    by_pack = {}
    for number in needed:
        blob = index.blobs[number]
        by_pack.setdefault(blob.pack, []).append((blob.offset, blob.size, number, blob.sha256))
    found = {}
    if len(by_pack) < 2 or available_cpus() < 2:  # the CPUs the job was given, not the machine's
        parts = [_read_pack(archive, pack, wanted) for pack, wanted in by_pack.items()]
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(len(by_pack)) as pool:
            parts = list(pool.map(lambda item: _read_pack(archive, *item), sorted(by_pack.items())))
    for part in parts:
        found.update(part)
    return found


def _read_pack(archive: zipfile.ZipFile, pack: str, wanted: list) -> Dict[int, bytes]:
    try:
        import lzma  # here, not at the top: ./submit reads targets on Pythons built without it
    except ImportError:
        raise BundleError("this Python ({}) was built without the lzma module, which reading the "
                          "libraries in the pex needs".format(sys.executable)) from None
    wanted = sorted(wanted)
    found = {}
    decoder = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    buffer, base, at = bytearray(), 0, 0  # buffer holds pack bytes base .. base+len(buffer)
    try:
        stream = archive.open(ZIP_PREFIX + pack)
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise BundleError("{}: {}: {}: the pex is damaged; transfer it again".format(
            archive.filename, pack, exc)) from None
    with stream:
        while at < len(wanted):
            try:
                chunk = stream.read(_READ)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                raise BundleError("{}: {}: {}: the pex is damaged; transfer it again".format(
                    archive.filename, pack, exc)) from None
            if not chunk:
                raise BundleError("{}: {} ends early: the pex is damaged; transfer it again".format(
                    archive.filename, pack))
            try:
                buffer += decoder.decompress(chunk)
            except lzma.LZMAError as exc:
                raise BundleError("{}: {}: {}: the pex is damaged; transfer it again".format(
                    archive.filename, pack, exc)) from None
            while at < len(wanted) and wanted[at][0] + wanted[at][1] <= base + len(buffer):
                offset, size, number, digest = wanted[at]
                data = bytes(buffer[offset - base:offset - base + size])
                if hashlib.sha256(data).hexdigest() != digest:
                    raise BundleError("{}: a file in {} does not match its sha256: the pex is "
                                      "damaged; transfer it again".format(archive.filename, pack))
                found[number] = data
                at += 1
            # Drop what no file still wanted needs; base stays where the buffer starts.
            drop = min(len(buffer), (wanted[at][0] if at < len(wanted) else base + len(buffer)) - base)
            del buffer[:drop]
            base += drop
    return found


def _assemble(archive: zipfile.ZipFile, index: StoreIndex, wheels: List[str], cache: str) -> None:
    """Write the files of WHEELS into CACHE/<wheel>/, each folder renamed into place when whole:
    a concurrent start of the same pex never sees half a wheel."""
    needed = {item.blob for name in wheels for item in index.wheels[name]}
    data = _blobs(archive, index, needed)
    size = index.size(wheels)
    try:
        os.makedirs(cache, exist_ok=True)
        for name in wheels:
            target = os.path.join(cache, name[:-len(".whl")])
            work = tempfile.mkdtemp(prefix=".unpack-", dir=cache)
            try:
                for path, number, mode in index.wheels[name]:
                    dest = os.path.join(work, *path.split("/"))
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    with open(dest, "wb") as stream:
                        stream.write(data[number])
                    os.chmod(dest, mode)
                try:
                    os.rename(work, target)
                except OSError:
                    if not os.path.isdir(target):
                        raise
            finally:
                if os.path.isdir(work):
                    shutil.rmtree(work, ignore_errors=True)
    except OSError as exc:
        raise BundleError("cannot unpack the libraries for this Python into {}: {} (they take "
                          "{:.0f} MB)".format(cache, exc.strerror or exc, size / 1e6)) from None


def _running_payload() -> Optional[str]:
    """The pex file running this job (pex's runtime names it in $PEX), or None from a source
    checkout."""
    pex = os.environ.get("PEX")
    return os.path.abspath(pex) if pex and os.path.isfile(pex) else None


def _pex_root() -> Optional[str]:
    """The PEX_ROOT pex unpacked this code under (PEX_ROOT/unzipped_pexes/[VERSION/]HASH/luminance/),
    with pex's own rules applied: $PEX_ROOT, else ~/.cache/pex, else pex's fallback when that is
    not writable; None when not running from pex's unpacked copy."""
    folder = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for _ in range(3):
        folder = os.path.dirname(folder)
        if os.path.basename(folder) == "unzipped_pexes":
            return os.path.dirname(folder)
    return None


def _private(folder: str) -> bool:
    """Whether FOLDER is this user's alone: owned by it, written by no one else, not a link."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return (info.st_uid == os.getuid() and not info.st_mode & 0o022
            and os.path.isdir(folder) and not os.path.islink(folder))


def cache_dir(key: str) -> str:
    """The folder for the libraries of the store named KEY: PEX_ROOT/photodemo/KEY, beside pex's
    own caches under the PEX_ROOT pex runs from (submit.sub sets it to the job's sandbox, so
    that nothing outlives the job). Its folders must be this user's alone: a folder someone
    else owns or may write could hold code planted there. Raises BundleError."""
    root = _pex_root() or os.environ.get("PEX_ROOT")
    if not root:
        raise BundleError("no PEX_ROOT to unpack the libraries for this Python into; set PEX_ROOT")
    folder = os.path.join(os.path.abspath(root), CACHE_NAME)
    for path in (folder, os.path.join(folder, key)):
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise BundleError("cannot make {} to unpack the libraries for this Python: {}".format(
                path, exc.strerror or exc)) from None
        if not _private(path):
            raise BundleError("{} is not this user's alone (another user owns it or may write "
                              "it): its libraries are not used; set PEX_ROOT to a folder of "
                              "your own".format(path))
    return os.path.join(folder, key)


def activate(pex: Optional[str] = None, cache: Optional[str] = None) -> List[str]:
    """Put the wheels stored in the pex PEX (default: the one running) that fit this Python
    first on sys.path, assembling them under CACHE (default: cache_dir of the store) on first
    use; return their folders. Nothing is stored when not running from a pex. Raises
    BundleError (exit code 5) when this worker cannot run the payload, or the store is damaged."""
    pex = pex or _running_payload()
    if not pex:
        return []
    try:
        archive = zipfile.ZipFile(pex)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError("{}: cannot read the pex ({}): it is damaged; transfer it again".format(
            pex, exc)) from None
    with archive:
        index = StoreIndex.read(archive)
        if not index or not index.wheels:
            return []
        chosen = choose(index.wheels)
        cache = cache or cache_dir(index.sha256[:16])
        paths = [os.path.join(cache, name[:-len(".whl")]) for name in chosen]
        absent = [name for name, path in zip(chosen, paths) if not os.path.isdir(path)]
        if absent:
            _assemble(archive, index, absent, cache)
    sys.path[:0] = paths
    if not {"charset_normalizer", "chardet"} & {project(name) for name in chosen}:
        # build.py leaves charset_normalizer out (our fetch never guesses a text encoding);
        # requests warns on import without it, which would be a line in every job's error log.
        warnings.filterwarnings("ignore", message="Unable to find acceptable character detection",
                                module="requests")
    return paths
