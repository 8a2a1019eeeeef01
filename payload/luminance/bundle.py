"""The third-party wheels frozen into the pex, and putting the ones this Python can use on sys.path.

Why not let pex install them: a pex carrying wheels for twelve platforms installs all twelve
copies of Pillow on its first start (about 250 MB and 5 s), and every HTCondor job starts cold.
So build.py stores the hash-checked wheels, uncompressed, under ZIP_PREFIX in the pex file, a
folder pex itself never unpacks, and at start-up only the wheels that fit this interpreter
(CPython version, machine, glibc) are read from the pex (its path is in $PEX) and unpacked, once
per extraction of the pex. Running from a source checkout there is no pex, and the
environment's own packages are used.
"""

import io
import os
import platform
import re
import shutil
import sys
import tempfile
import zipfile
from typing import List, NamedTuple, Optional, Tuple

from luminance.errors import PhotodemoError

__all__ = ["ZIP_PREFIX", "BundleError", "Targets", "compatible", "choose", "activate", "targets"]

ZIP_PREFIX = ".deps/photodemo-wheels/"  # pex extracts user code only, never .deps/
CACHE_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "_wheels")
_MANYLINUX = re.compile(r"^manylinux(?:(2014)|1|2010|_(\d+)_(\d+))_(\w+)$")
_LEGACY_GLIBC = {"2014": (2, 17)}


class BundleError(PhotodemoError):
    """A bundled project has no wheel for this Python; the message says what the pex carries."""


class Targets(NamedTuple):
    """What a pex serves: the CPython versions ("3.9", ...) and machines ("x86_64", ...) it carries
    wheels for; both empty for a pex that uses its environment's own packages."""

    pythons: Tuple[str, ...]
    arches: Tuple[str, ...]


def targets(pex: str) -> Targets:
    """The Pythons and machines the pex file PEX carries wheels for (stdlib only: ./submit asks)."""
    pythons, arches = set(), set()
    with zipfile.ZipFile(pex) as archive:
        for name in archive.namelist():
            if not (name.startswith(ZIP_PREFIX) and name.endswith(".whl")):
                continue
            parts = name[len(ZIP_PREFIX):-len(".whl")].split("-")
            if len(parts) < 5 or parts[-2] == "none":
                continue
            for tag in parts[-3].split("."):
                if re.match(r"^cp3\d+$", tag):
                    pythons.add("3.{}".format(tag[3:]))
            for tag in parts[-1].split("."):
                match = _MANYLINUX.match(tag)
                if match:
                    arches.add(match.group(4))
    return Targets(tuple(sorted(pythons, key=lambda v: int(v.split(".")[1]))), tuple(sorted(arches)))


def _glibc() -> Optional[tuple]:
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):
        return None
    match = re.match(r"glibc (\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _platform_fits(tag: str, machine: str, glibc: Optional[tuple]) -> bool:
    if tag == "any":
        return True
    match = _MANYLINUX.match(tag)
    if not match or match.group(4) != machine or glibc is None:
        return False
    needed = _LEGACY_GLIBC.get(match.group(1)) or (int(match.group(2) or 2), int(match.group(3) or 5))
    return glibc >= needed


def compatible(filename: str, version=sys.version_info, machine: Optional[str] = None,
               glibc: Optional[tuple] = None) -> bool:
    """Whether the wheel FILENAME installs on this CPython (or the one described)."""
    machine = machine or platform.machine()
    glibc = glibc if glibc is not None else _glibc()
    parts = filename[:-len(".whl")].split("-")
    if len(parts) < 5:
        return False
    python_tags, abi_tags, platform_tags = (tag.split(".") for tag in parts[-3:])
    cpython = "cp{}{}".format(version[0], version[1])
    if cpython in python_tags and cpython in abi_tags:
        pass
    elif "none" in abi_tags and any(tag in ("py3", "py2.py3") or tag.startswith("py3")
                                    for tag in python_tags):
        pass
    else:
        return False
    return any(_platform_fits(tag, machine, glibc) for tag in platform_tags)


def _unpack(archive: zipfile.ZipFile, name: str, cache: str) -> str:
    """The folder the bundled wheel NAME is unpacked in, under CACHE; unpacked first if need be."""
    target = os.path.join(cache, name[:-len(".whl")])
    if os.path.isdir(target):
        return target
    os.makedirs(cache, exist_ok=True)
    # Unpack beside, then rename: a concurrent start of the same pex never sees half a wheel.
    work = tempfile.mkdtemp(prefix=".unpack-", dir=cache)
    try:
        # Read into memory first: seeking inside a member of the pex re-reads it from its start.
        with zipfile.ZipFile(io.BytesIO(archive.read(ZIP_PREFIX + name))) as wheel:
            wheel.extractall(work)
        try:
            os.rename(work, target)
        except OSError:
            if not os.path.isdir(target):
                raise
    finally:
        if os.path.isdir(work):
            shutil.rmtree(work, ignore_errors=True)
    return target


def choose(wheels: List[str]) -> List[str]:
    """The wheel of each project in WHEELS that this Python should use. Raises BundleError."""
    chosen = {}
    for name in sorted(wheels):
        project = name.split("-")[0].lower()
        # Prefer this interpreter's own build over a pure-Python fallback of the same project.
        if compatible(name) and (project not in chosen or "-none-any" in chosen[project]):
            chosen[project] = name
    missing = sorted({name.split("-")[0].lower() for name in wheels} - set(chosen))
    if missing:
        carried = sorted({"-".join(name.split("-")[-3:-1]) for name in wheels if "-none-any" not in name})
        raise BundleError("this pex has no {} for CPython {}.{} on {} with glibc {} (it carries: {}); "
                          "rebuild it with build.py --python/--arch, or run on another python3".format(
                              ", ".join(missing), sys.version_info[0], sys.version_info[1],
                              platform.machine(), ".".join(map(str, _glibc() or ("?",))),
                              ", ".join(carried)))
    return [chosen[project] for project in sorted(chosen)]


def activate(pex: Optional[str] = None, cache: str = CACHE_DIR) -> List[str]:
    """Put the wheels bundled in PEX (default: the running one) that fit this Python first on
    sys.path; return their folders. Nothing is bundled when not running from a pex."""
    pex = pex or os.environ.get("PEX")
    if not pex or not zipfile.is_zipfile(pex):
        return []
    with zipfile.ZipFile(pex) as archive:
        wheels = [name[len(ZIP_PREFIX):] for name in archive.namelist()
                  if name.startswith(ZIP_PREFIX) and name.endswith(".whl")]
        if not wheels:
            return []
        paths = [_unpack(archive, name, cache) for name in choose(wheels)]
    sys.path[:0] = paths
    return paths
