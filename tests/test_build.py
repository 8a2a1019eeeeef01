"""build.py's payload: a /bin/sh boot, then a zip CPython runs; the same inputs give the same bytes."""

import os
import subprocess
import sys
import zipfile

import build
from test_bundle import make_wheel


def test_the_boot_tries_the_carried_pythons_newest_first_then_older_then_python3():
    names = build.boot_pythons([("3.9", "x86_64"), ("3.12", "aarch64"), ("3.12", "x86_64")])
    assert names == ["python3.12", "python3.9", "python3.14", "python3.13", "python3.11",
                     "python3.10", "python3.8", "python3.7", "python3.6", "python3"]
    this = "python{}.{}".format(*sys.version_info[:2])
    assert build.boot_pythons([])[0] == this and build.boot_pythons([])[-1] == "python3"


def test_the_payload_is_reproducible_and_runs_from_its_zip(tmp_path):
    wheel = make_wheel(tmp_path, "demo_h-1.0-py3-none-any.whl", {"demo_h.py": "VALUE = 1\n"})
    first, second = str(tmp_path / "a.pex"), str(tmp_path / "b.pex")
    for path in (first, second):
        build.write_payload(path, [], [wheel])
    with open(first, "rb") as one, open(second, "rb") as two:
        assert one.read() == two.read()
    assert os.stat(first).st_mode & 0o111
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert names[0] == "__main__.py" and "luminance/cli.py" in names
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    # Our code runs from the zip (zipimport), with no site-packages: nothing of it is unpacked.
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    code = ("import sys, luminance.bundle as b; print(b.__loader__.archive, b._running_payload(),"
            " any('site-packages' in p for p in sys.path))")
    proc = subprocess.run(["env", "-i", "PEX_ROOT=.pex", sys.executable, "-S", "-c",
                           "import sys; sys.path.insert(0, {!r}); ".format(first) + code],
                          cwd=str(sandbox), stdout=subprocess.PIPE, universal_newlines=True)
    assert proc.stdout.split() == [first, first, "False"]
    proc = subprocess.run(["env", "-i", "PEX_ROOT=.pex", first, "--version"], cwd=str(sandbox),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert (proc.returncode, proc.stdout.split()[0]) == (0, "luminance.pex"), proc.stderr
    assert os.listdir(str(sandbox)) == []  # --version unpacks nothing, and writes no bytecode


def test_the_boot_is_posix_sh():
    # dash is the strictest common /bin/sh; `sh -n` parses without running.
    script = build.boot_script(build.boot_pythons([("3.9", "x86_64")]))
    for shell in ("dash", "bash"):
        proc = subprocess.run([shell, "-n"], input=script, stderr=subprocess.PIPE)
        assert proc.returncode == 0, (shell, proc.stderr)
