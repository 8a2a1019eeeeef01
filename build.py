#!/usr/bin/env python3
"""Freeze the luminance job, Pillow and requests into one executable: dist/luminance.pex.

pex builds it: our code, run by pex's runtime, booted through /bin/sh (`--sh-boot`), which finds
a python3 even when HTCondor gives the job no PATH; pex's tools read it (`pex-tools
luminance.pex info`) and its variables configure it (PEX_ROOT, PEX_PYTHON, PEX_VERBOSE). Every
CPython from 3.6 may boot it, so that a worker whose Python the pex carries no wheels for still
runs our code, which records why (exit code 5). The wheels are not pex requirements: they are
downloaded with `pip download --require-hashes` against payload/requirements.txt, and their files
travel in the pex as a store of our own, each distinct file once, LZMA-compressed (docs/payload.md
says why), which the job assembles for its own Python under PEX_ROOT (payload/luminance/core/bundle.py).
When the boot finds no Python at all, payload/boot.sh writes the results file instead of pex's
message. Pillow's text rendering is left out (TEXT_RENDERING).

Usage: build.py [--platform all|current] [--python 3.9,...] [--arch x86_64,aarch64] [--output FILE]
                [--pex-option ARG ...]
"""

import argparse
import hashlib
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "payload", "luminance")
REQUIREMENTS = os.path.join(HERE, "payload", "requirements.txt")
BOOT = os.path.join(HERE, "payload", "boot.sh")
PREAMBLE = os.path.join(HERE, "payload", "preamble.py")
import photodemo  # noqa: E402,F401  (the one bootstrap: makes payload/luminance importable)
import luminance  # noqa: E402
import luminance.core.command  # noqa: E402  (not `command`: the build steps' command lines are)
from luminance.core import bundle, results  # noqa: E402  (the payload reads the store this writes)
from luminance.core.errors import EXIT_FAILED, EXIT_OK, EXIT_UNSUITABLE, PhotodemoError  # noqa: E402

PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
ARCHES = ("x86_64", "aarch64")
# Pillow 11.3.0 ships manylinux2014 (glibc 2.17) wheels: the widest reach among OSPool workers.
MANYLINUX = ("manylinux2014_{}", "manylinux_2_17_{}", "manylinux_2_28_{}")
# CPythons the boot may start the pex with (its interpreter constraints): those it carries no
# wheels for run our code, which writes the results file saying so (exit code 5), so that
# HTCondor runs the job elsewhere.
BOOT_PYTHONS = ("3.6", "3.7", "3.8") + PYTHONS
# Pillow's text rendering (FreeType, HarfBuzz, Brotli for WOFF2 fonts, libpng for FreeType's PNG
# glyphs): no photo needs it. Pillow decodes PNG with zlib, not libpng.
TEXT_RENDERING = ("PIL/_imagingft.", "pillow.libs/libfreetype-", "pillow.libs/libharfbuzz-",
                  "pillow.libs/libbrotli", "pillow.libs/libpng16-")
# CPython versions whose own files share one solid LZMA stream: more share a stream, the smaller
# the pex, but the more a job may decode before reaching its own (docs/payload.md).
CHAIN = 3
EXIT_CODES = {EXIT_OK: "built", EXIT_FAILED: "pip or pex failed, or the payload could not be written"}
# The Python options the boot starts the pex with (pex's --inject-python-args). -E: the worker's
# PYTHONPATH and PYTHONHOME never reach the job (a stale module there would shadow the standard
# library's); pex's own variables (PEX_*) still do. -W...: pex runs `ldd` to tell musl from glibc
# and warns on stderr where PATH has none (a worker's PATH often lacks it): this pex installs no
# wheels through pex, so the answer is never used (bundle.py reads the C library itself), and a
# job's stderr holds the job's own lines. Words without spaces: pex's boot splits them on spaces.
PYTHON_ARGS = ("-E", "-Wignore::Warning:pex.sysconfig")
# The lines pex's --sh-boot script ends with when it finds no Python: payload/boot.sh replaces
# them (pex offers no hook there; docs/payload.md). The build fails if pex's text changes.
PEX_NO_PYTHON = 'echo >&2 "Failed to find any of these python binaries on the PATH:"\n'
PEX_NO_PYTHON_END = "exit 1\n"


class Job(NamedTuple):
    """What build.py freezes: the pinned REQUIREMENTS (with hashes) whose wheels go in the store,
    the source PACKAGE (a folder), and the ENTRY_POINT (MODULE or MODULE:FUNCTION)."""

    requirements: str = REQUIREMENTS
    package: str = PACKAGE
    entry_point: str = "luminance"

    @property
    def is_luminance(self) -> bool:
        return os.path.abspath(self.package) == PACKAGE


LUMINANCE = Job()


class BuildError(PhotodemoError):
    """A build step failed; the message says which and why, in one line."""

    exit_code = EXIT_FAILED


def targets(platform, pythons=PYTHONS, arches=ARCHES):
    """(python, arch) pairs to build for: the chosen ones, or none for 'current'."""
    if platform == "current":
        return []
    return [(python, arch) for python in pythons for arch in arches]


def _run(command, what):
    return _run_env(command, what, None)


def _run_env(command, what, env):
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, env=env)
    except OSError as exc:
        raise BuildError("{}: cannot run {}: {}".format(what, command[0], exc)) from None
    if proc.returncode != 0:
        lines = [line for line in proc.stdout.splitlines() if line.strip()
                 and "is ignored: it is neither a file nor a directory" not in line]
        raise BuildError("{} failed (exit {}): {}".format(
            what, proc.returncode, " | ".join(lines[-6:]) or "no output"))
    return proc.stdout


def download(wheelhouse, python=None, arch=None, requirements=REQUIREMENTS):
    """Fetch the pinned wheels for one target (or this interpreter), hash-checked; their paths.

    Each target has a folder of its own under WHEELHOUSE, so that the pex holds exactly the
    wheels of the targets asked for, whatever was built before."""
    wheelhouse = os.path.join(wheelhouse, "cp{}-{}".format(python.replace(".", ""), arch)
                              if python else "current")
    os.makedirs(wheelhouse, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--require-hashes", "--no-deps", "--only-binary=:all:", "--dest", wheelhouse,
               "--requirement", requirements]
    if python:
        major, minor = python.split(".")
        command += ["--implementation", "cp", "--python-version", python,
                    "--abi", "cp{}{}".format(major, minor)]
        for tag in MANYLINUX:
            command += ["--platform", tag.format(arch)]
    what = "downloading wheels for {}".format("CPython {} {}".format(python, arch) if python
                                              else "this Python")
    try:
        # Offline first: wheels already in the wheelhouse are hash-checked again, no index asked.
        _run(command + ["--no-index", "--find-links", wheelhouse], what)
    except BuildError:
        _run(command, what)
    # Only the projects pinned now: a folder may hold wheels of projects once pinned.
    pinned = _pinned(requirements)
    return sorted(os.path.join(wheelhouse, name) for name in os.listdir(wheelhouse)
                  if name.endswith(".whl") and bundle.project(name) in pinned)


def _pinned(requirements=REQUIREMENTS):
    with open(requirements, encoding="utf-8") as stream:
        return {bundle.project(match.group(1)) for match in
                (re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line) for line in stream) if match}


def _arch(wheel):
    """The machine a wheel is built for, or "any" for a pure-Python one."""
    arches = {match.group(1) for *_, plat in bundle.wheel_tags(wheel)
              for match in [bundle.PLATFORM_TAG.match(plat)] if match}
    return arches.pop() if len(arches) == 1 else "any"


def _python_order(wheel):
    """Where a wheel's files go in its pack: pure ones first, then by CPython version, so that a
    job on an older Python decodes less of the stream."""
    versions = [int(python[3:]) for python, abi, _ in bundle.wheel_tags(wheel)
                if python.startswith("cp3") and abi != "none"]
    return min(versions) if versions else -1


def _left_out(wheel, path):
    return os.path.basename(wheel).lower().startswith("pillow-") and path.startswith(TEXT_RENDERING)


def _read_wheels(wheels):
    """Each wheel's kept files as (path, sha256, data, mode), and the names of those left out."""
    contents, dropped = {}, set()
    for wheel in wheels:
        files = []
        with zipfile.ZipFile(wheel) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                if info.is_dir():
                    continue
                if _left_out(wheel, info.filename):
                    dropped.add(os.path.basename(info.filename))
                    continue
                data = archive.read(info)
                mode = 0o755 if (info.external_attr >> 16) & 0o111 else 0o644
                files.append((info.filename, hashlib.sha256(data).hexdigest(), data, mode))
        contents[os.path.basename(wheel)] = files
    for name, files in contents.items():
        for path, _, data, _ in files:
            # A kept library that links one left out would fail to load on the worker.
            needs = sorted(lib for lib in dropped if data.startswith(b"\x7fELF") and lib.encode() in data)
            if needs:
                raise BuildError("{}: {} needs {}, which build.py leaves out".format(
                    name, path, ", ".join(needs)))
    return contents


def make_store(wheels):
    """The store bundle.py reads: (the index, {pack name: LZMA stream}). Every distinct file of
    WHEELS once: files shared across machines in "any.xz"; those shared by CPython versions of
    one machine in "<arch>.xz"; those of one version (the extension modules) in a chain of
    CHAIN versions, "<arch>-cp39-cp311.xz": a solid stream finds what the versions' builds
    share, and a job decodes its chain only as far as its own version."""
    contents = _read_wheels(wheels)
    users, data_of, path_of = {}, {}, {}
    for name, files in contents.items():
        for path, digest, data, _ in files:
            users.setdefault(digest, set()).add(name)
            data_of[digest], path_of[digest] = data, path
    chains = _chains(contents)
    placed = {}  # pack -> [(order key, sha256)]
    for digest, names in users.items():
        arches = {_arch(name) for name in names}
        versions = {_python_order(name) for name in names}
        arch = arches.pop() if len(arches) == 1 else "any"
        if arch == "any" or len(versions) > 1 or -1 in versions:
            pack = arch
        else:
            pack = chains[arch, versions.pop()]
        placed.setdefault(pack + ".xz", []).append(((min(versions or {-1}), path_of[digest]), digest))
    blobs, packs, number = [], {}, {}
    for pack, members in sorted(placed.items()):
        raw, offset = [], 0
        for _, digest in sorted(members):
            number[digest] = len(blobs)
            blobs.append(bundle.Blob(digest, pack, offset, len(data_of[digest])))
            raw.append(data_of[digest])
            offset += len(data_of[digest])
        packs[pack] = _compress(b"".join(raw))
    index = bundle.StoreIndex(
        blobs=tuple(blobs), left_out=tuple(sorted(TEXT_RENDERING)),
        wheels={name: tuple(bundle.WheelFile(path, number[digest], mode) for path, digest, _, mode in files)
                for name, files in sorted(contents.items())})
    return index, packs


def _chains(contents):
    """{(arch, CPython minor): the name of the pack of its own files}, CHAIN versions a pack."""
    out = {}
    for arch in sorted({_arch(name) for name in contents} - {"any"}):
        versions = sorted({_python_order(name) for name in contents if _arch(name) == arch} - {-1})
        for start in range(0, len(versions), CHAIN):
            group = versions[start:start + CHAIN]
            pack = "{}-cp3{}".format(arch, group[0]) + ("-cp3{}".format(group[-1]) if len(group) > 1 else "")
            out.update({(arch, version): pack for version in group})
    return out


def _compress(raw):
    # One solid stream with a window over all of it: the extension modules built for different
    # CPython versions differ little, and LZMA finds what they share.
    window = max(1 << 22, min(1 << 27, 1 << max(0, len(raw) - 1).bit_length()))
    return lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, filters=[
        {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": window}])


def add_store(pex_file, wheels):
    """Store WHEELS' files in PEX_FILE under bundle.ZIP_PREFIX (bundle.py reads them), with fixed
    dates and modes so that the same inputs give the same pex. Opened in append mode, zipfile
    writes the central directory anew, its offsets counting the boot script before the zip."""
    index, packs = make_store(wheels)
    entries = [(bundle.INDEX, index.dumps(), zipfile.ZIP_DEFLATED)]
    entries += [(bundle.ZIP_PREFIX + name, data, zipfile.ZIP_STORED) for name, data in sorted(packs.items())]
    with zipfile.ZipFile(pex_file, "a") as archive:
        for name, data, method in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = method
            archive.writestr(info, data)


def boot_pythons(build_targets):
    """The CPythons the boot looks for, in its order: those the payload carries wheels for,
    newest first, then the rest of BOOT_PYTHONS, newest first (pex's sh-boot then tries python3
    and python). On a worker whose Python is too old the job still starts, finds no wheels for
    it, and records why (bundle.BundleError, exit code 5)."""
    if build_targets:
        carried = sorted({python for python, _ in build_targets}, key=_version, reverse=True)
    else:
        carried = ["{}.{}".format(*sys.version_info[:2])]
    return carried + [python for python in sorted(BOOT_PYTHONS, key=_version, reverse=True)
                      if python not in carried]


def no_python_script():
    """payload/boot.sh filled in: the results document it writes when the boot finds no Python
    (luminance.core.results' own, as a printf format with START and COUNT as %s), the message, and
    the exit code."""
    message = "no python3 ({} or newer) on this worker".format(min(BOOT_PYTHONS, key=_version))
    marks = (987654321012, 987654321034)  # stand-ins for START and COUNT, replaced by %s
    text = results.dumps(results.new_document(results.Job(
        start=marks[0], count=marks[1], payload_version=luminance.__version__, complete=False,
        error=message)))
    text = text.replace("\\", "\\\\").replace("%", "%%")
    for mark in marks:
        assert text.count(str(mark)) == 1, mark
        text = text.replace(str(mark), "%s")
    with open(BOOT, encoding="utf-8") as stream:
        script = stream.read()
    for name, value in (("MESSAGE", message), ("RESULTS", text),
                        ("MAX_START", str(results.MAX_RECORDS - 1)),
                        ("EXIT_UNSUITABLE", str(EXIT_UNSUITABLE))):
        script = script.replace("@{}@".format(name), value.replace("'", "'\\''"))
    return script.encode("utf-8")


def replace_no_python(pex_file, script):
    """Put SCRIPT where pex's sh-boot prints its no-Python message and exits 1, in PEX_FILE."""
    with open(pex_file, "rb") as stream:
        data = stream.read()
    with zipfile.ZipFile(pex_file) as archive:
        first = min(info.header_offset for info in archive.infolist())
    boot = data[:first]
    start = boot.find(PEX_NO_PYTHON.encode())
    end = boot.find(PEX_NO_PYTHON_END.encode(), start)
    if start < 0 or end < 0 or boot.count(PEX_NO_PYTHON.encode()) != 1:
        raise BuildError("pex's --sh-boot script has no no-Python message where build.py expects "
                         "it (pex {}): payload/boot.sh cannot replace it".format(_pex_version()))
    boot = boot[:start] + script + boot[end + len(PEX_NO_PYTHON_END):]
    with open(pex_file, "wb") as stream:
        stream.write(boot + data[first:])


def stage_sources(directory, job=LUMINANCE):
    """Copy the luminance package (which reads the store) and JOB's (sources only) to DIRECTORY,
    for a reproducible pex."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, os.path.join(directory, "luminance"), ignore=ignore)
    if not job.is_luminance:
        shutil.copytree(job.package, os.path.join(directory, os.path.basename(os.path.abspath(job.package))),
                        ignore=ignore)


def pex_command(sources, output, build_targets, options=(), job=LUMINANCE):
    """pex's command: our code only (the wheels go in the store), booted by /bin/sh, for every
    CPython from 3.6 (one interpreter constraint each, in the boot's order of search), and
    OPTIONS (more of pex's own)."""
    command = [sys.executable, "-m", "pex", "--sh-boot", "--no-strip-pex-env", "--no-pypi",
               "--inject-python-args={}".format(" ".join(PYTHON_ARGS)), "--preamble-file", PREAMBLE,
               "--sources-directory", sources, "--output-file", output]
    if job.is_luminance:
        command += ["--entry-point", job.entry_point]
    else:  # the runner assembles the job's libraries from the store, then runs its entry point
        command += ["--entry-point", "luminance.runner:main",
                    "--inject-env", "PHOTODEMO_ENTRY_POINT={}".format(job.entry_point)]
    for python in boot_pythons(build_targets):
        command += ["--interpreter-constraint", "CPython=={}.*".format(python)]
    return command + list(options)


def _pex_version():
    try:
        from pex.version import __version__
    except ImportError:
        raise BuildError("pex is not installed in {} (run `make payload`, which sets up .venv)"
                         .format(sys.executable)) from None
    return __version__


def write_payload(path, build_targets, wheels, options=(), job=LUMINANCE):
    """The pex at PATH: pex's build of our code, the no-Python boot, then the store of WHEELS."""
    _pex_version()
    with tempfile.TemporaryDirectory(prefix="photodemo-build-") as tmp:
        sources = os.path.join(tmp, "src")
        stage_sources(sources, job)
        # pex's own caches for this build only: nothing from other builds leaks in.
        env = dict(os.environ, PEX_ROOT=os.path.join(tmp, "pex-root"))
        _run_env(pex_command(sources, path, build_targets, options, job), "building the pex", env)
    if job.is_luminance:  # the results file it writes is luminance's; another job keeps pex's message
        replace_no_python(path, no_python_script())
    add_store(path, wheels)
    os.chmod(path, 0o755)


def _version(python):
    return tuple(map(int, python.split(".")))


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(output, platform="all", wheelhouse=None, pythons=PYTHONS, arches=ARCHES, options=(),
          job=LUMINANCE):
    """Build the pex at OUTPUT; return its path. Raises BuildError."""
    wheelhouse = wheelhouse or os.path.join(HERE, "build", "wheels")
    build_targets = targets(platform, pythons, arches)
    wheels = {}
    for python, arch in build_targets or [(None, None)]:
        for path in download(wheelhouse, python, arch, job.requirements):
            wheels.setdefault(os.path.basename(path), path)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    partial = output + ".tmp"
    try:
        write_payload(partial, build_targets, [wheels[name] for name in sorted(wheels)], options, job)
        os.replace(partial, output)
    except OSError as exc:
        raise BuildError("{}: cannot write the payload: {}".format(
            output, exc.strerror or exc)) from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return output


def _some_of(allowed):
    """An argparse type: a comma-separated list of some of ALLOWED, as a tuple."""
    def parse(text):
        chosen = tuple(item.strip() for item in text.split(",") if item.strip())
        unknown = sorted(set(chosen) - set(allowed))
        if unknown or not chosen:
            raise argparse.ArgumentTypeError("takes some of {}; got {}".format(
                ",".join(allowed), ", ".join(unknown) or "nothing"))
        return chosen
    return parse


def parser():
    parser = luminance.core.command.Parser("build.py", "build.py", __doc__.split("\n\n")[0], EXIT_CODES)
    parser.add_argument("--platform", choices=("all", "current"), default="all",
                        help="'all': CPython {}-{} on manylinux x86_64 and aarch64 (the pex to "
                             "submit); 'current': only this Python, a quick build for tests "
                             "(default: all)".format(PYTHONS[0], PYTHONS[-1]))
    parser.add_argument("--python", dest="pythons", type=_some_of(PYTHONS), default=",".join(PYTHONS),
                        metavar="LIST",
                        help="with --platform all: CPython versions to carry wheels for; fewer "
                             "make a smaller pex with a faster cold start (default: %(default)s)")
    parser.add_argument("--arch", dest="arches", type=_some_of(ARCHES), default=",".join(ARCHES),
                        metavar="LIST",
                        help="with --platform all: machine architectures (default: %(default)s)")
    parser.add_argument("-o", "--output", default=os.path.join("dist", "luminance.pex"),
                        help="where to write the pex (default: dist/luminance.pex)")
    parser.add_argument("--wheelhouse", default=None,
                        help="where downloaded, hash-checked wheels are kept between builds "
                             "(default: build/wheels, a folder per target)")
    job = parser.add_argument_group("the job (luminance's by default; any other job is frozen the same way)")
    job.add_argument("--requirements", default=REQUIREMENTS, metavar="FILE",
                     help="its dependencies, pinned with hashes (pip-compile --generate-hashes); "
                          "their wheels go in the store (default: payload/requirements.txt)")
    job.add_argument("--package", default=PACKAGE, metavar="DIR",
                     help="its source package, a folder (default: payload/luminance)")
    job.add_argument("--entry-point", default="luminance", metavar="MODULE[:FUNCTION]",
                     help="what the pex runs once the libraries are on sys.path (default: luminance)")
    parser.add_argument("--pex-option", dest="options", action="append", default=[], metavar="ARG",
                        help="one more argument for pex's command line (repeat it: `--pex-option=--venv`); "
                             "bench.payload --options measures them (default: none)")
    return parser


def main(argv=None):
    return luminance.core.command.run(parser(), _main, argv)


def _main(args):
    job = Job(os.path.abspath(args.requirements), os.path.abspath(args.package), args.entry_point)
    path = build(args.output, args.platform, args.wheelhouse, args.pythons, args.arches, args.options, job)
    size = os.path.getsize(path)
    print("{}  {:.1f} MB  sha256 {}".format(path, size / 1e6, sha256(path)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
