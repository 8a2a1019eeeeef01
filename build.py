#!/usr/bin/env python3
"""Freeze the luminance job, Pillow and requests into one executable: dist/luminance.pex.

The pex carries wheels for CPython 3.9-3.14 on manylinux x86_64 and aarch64, so one file runs on
any worker's `python3` with nothing installed. It boots through /bin/sh (`--sh-boot`), which
finds a python3 even when HTCondor gives the job no PATH. Every wheel is downloaded with
`pip download --require-hashes` against payload/requirements.txt, so what goes into the pex is
exactly what the hashes pin. The wheels travel stored in the pex file, outside what pex unpacks,
and the job unpacks only those that fit its Python (payload/luminance/bundle.py): pex would
install all twelve platforms' Pillows on every job's first start.

Usage: build.py [--platform all|current] [--python 3.9,...] [--arch x86_64,aarch64] [--output FILE]
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "payload", "luminance")
REQUIREMENTS = os.path.join(HERE, "payload", "requirements.txt")
import photodemo  # noqa: E402,F401  (the one bootstrap: makes payload/luminance importable)
import luminance.command  # noqa: E402  (not `command`: the build steps' command lines are)
from luminance.bundle import ZIP_PREFIX  # noqa: E402  (the payload reads the wheels from there)
from luminance.errors import EXIT_FAILED, EXIT_OK, PhotodemoError  # noqa: E402

PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
ARCHES = ("x86_64", "aarch64")
# Pillow 11.3.0 ships manylinux2014 (glibc 2.17) wheels: the widest reach among OSPool workers.
MANYLINUX = ("manylinux2014_{}", "manylinux_2_17_{}", "manylinux_2_28_{}")
EXIT_CODES = {EXIT_OK: "built", EXIT_FAILED: "pip or pex"}


class BuildError(PhotodemoError):
    """A build step failed; the message says which and why, in one line."""

    exit_code = EXIT_FAILED


def targets(platform, pythons=PYTHONS, arches=ARCHES):
    """(python, arch) pairs to build for: the chosen ones, or none for 'current'."""
    if platform == "current":
        return []
    return [(python, arch) for python in pythons for arch in arches]


def _run(command, what):
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
    except OSError as exc:
        raise BuildError("{}: cannot run {}: {}".format(what, command[0], exc)) from None
    if proc.returncode != 0:
        lines = [line for line in proc.stdout.splitlines() if line.strip()
                 and "is ignored: it is neither a file nor a directory" not in line]
        raise BuildError("{} failed (exit {}): {}".format(
            what, proc.returncode, " | ".join(lines[-6:]) or "no output"))
    return proc.stdout


def download(wheelhouse, python=None, arch=None):
    """Fetch the pinned wheels for one target (or this interpreter), hash-checked; their paths.

    Each target has a folder of its own under WHEELHOUSE, so that the pex holds exactly the
    wheels of the targets asked for, whatever was built before."""
    wheelhouse = os.path.join(wheelhouse, "cp{}-{}".format(python.replace(".", ""), arch)
                              if python else "current")
    os.makedirs(wheelhouse, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--require-hashes", "--no-deps", "--only-binary=:all:", "--dest", wheelhouse,
               "--requirement", REQUIREMENTS]
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
    return sorted(os.path.join(wheelhouse, name) for name in os.listdir(wheelhouse)
                  if name.endswith(".whl"))


def stage_sources(directory):
    """Copy the luminance package (sources only) to DIRECTORY, for a reproducible pex."""
    shutil.copytree(PACKAGE, os.path.join(directory, "luminance"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_wheels"))


def add_wheels(pex_file, wheels):
    """Store WHEELS in PEX_FILE under bundle.ZIP_PREFIX: as they are (they are zips already),
    with fixed dates and modes so that the same inputs give the same pex."""
    with zipfile.ZipFile(pex_file, "a", compression=zipfile.ZIP_STORED) as archive:
        for wheel in wheels:
            info = zipfile.ZipInfo(ZIP_PREFIX + os.path.basename(wheel), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with open(wheel, "rb") as stream:
                archive.writestr(info, stream.read())


def pex_command(sources, output, build_targets):
    command = [sys.executable, "-m", "pex", "--sh-boot", "--no-pypi", "--sources-directory", sources,
               "--entry-point", "luminance", "--output-file", output]
    if build_targets:
        versions = sorted({python for python, _ in build_targets},
                          key=lambda version: tuple(map(int, version.split("."))))
        command += ["--interpreter-constraint", "CPython>={},<3.{}".format(
            versions[0], int(versions[-1].split(".")[1]) + 1)]
    else:
        command += ["--interpreter-constraint", "CPython=={}.{}.*".format(*sys.version_info[:2])]
    return command


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(output, platform="all", wheelhouse=None, pythons=PYTHONS, arches=ARCHES):
    """Build the pex at OUTPUT; return its path. Raises BuildError."""
    try:
        import pex  # noqa: F401  (only to say clearly when the build tool is missing)
    except ImportError:
        raise BuildError("pex is not installed in {} (run `make payload`, which sets up .venv)"
                         .format(sys.executable)) from None
    wheelhouse = wheelhouse or os.path.join(HERE, "build", "wheels")
    build_targets = targets(platform, pythons, arches)
    wheels = {}
    for python, arch in build_targets or [(None, None)]:
        for path in download(wheelhouse, python, arch):
            wheels.setdefault(os.path.basename(path), path)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="photodemo-build-") as tmp:
        sources = os.path.join(tmp, "src")
        stage_sources(sources)
        partial = os.path.join(tmp, "luminance.pex")
        _run(pex_command(sources, partial, build_targets), "building the pex")
        add_wheels(partial, [wheels[name] for name in sorted(wheels)])
        shutil.move(partial, output + ".tmp")
        os.replace(output + ".tmp", output)
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
    parser = luminance.command.Parser("build.py", "build.py", __doc__.split("\n\n")[0], EXIT_CODES)
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
    return parser


def main(argv=None):
    return luminance.command.run(parser(), _main, argv)


def _main(args):
    path = build(args.output, args.platform, args.wheelhouse, args.pythons, args.arches)
    size = os.path.getsize(path)
    print("{}  {:.1f} MB  sha256 {}".format(path, size / 1e6, sha256(path)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
