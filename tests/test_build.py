"""build.py's payload: a pex built by pex, its boot, and its store; the same inputs give the same bytes."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

import build
from luminance.core import bundle
from wheels import make_wheel


def test_the_boot_tries_the_carried_pythons_newest_first_then_older():
    names = build.boot_pythons([("3.9", "x86_64"), ("3.12", "aarch64"), ("3.12", "x86_64")])
    assert names == ["3.12", "3.9", "3.14", "3.13", "3.11", "3.10", "3.8", "3.7", "3.6"]
    assert build.boot_pythons([])[0] == "{}.{}".format(*sys.version_info[:2])
    command = build.pex_command("src", "out.pex", [("3.9", "x86_64")])
    constraints = [command[n + 1] for n, word in enumerate(command) if word == "--interpreter-constraint"]
    assert constraints[0] == "CPython==3.9.*" and constraints[-1] == "CPython==3.6.*"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two pexes built from the same inputs (our code, a store of one small wheel)."""
    tmp = tmp_path_factory.mktemp("tiny")
    wheel = make_wheel(tmp, "demo_h-1.0-py3-none-any.whl", {"demo_h.py": "VALUE = 1\n"})
    paths = [str(tmp / name) for name in ("a.pex", "b.pex")]
    for path in paths:
        build.write_payload(path, [], [wheel])
    return paths


def test_the_pex_is_reproducible_and_pexs_tools_read_it(tiny):
    first, second = tiny
    with open(first, "rb") as one, open(second, "rb") as two:
        assert one.read() == two.read()
    assert os.stat(first).st_mode & 0o111
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        info = json.loads(archive.read("PEX-INFO"))
        assert bundle.StoreIndex.read(archive).wheels.keys() == {"demo_h-1.0-py3-none-any.whl"}
    assert "luminance/cli.py" in names and "__main__.py" in names
    # The core subpackage travels with the runtime; the access point's own modules stay home.
    assert "luminance/core/__init__.py" in names and "luminance/core/results.py" in names
    assert "luminance/jobs.py" not in names and not [n for n in names if n.startswith("photodemo/")]
    assert info["entry_point"] == "luminance" and info["strip_pex_env"] is False
    assert info["requirements"] == [] and info["distributions"] == {}  # the store is ours
    tools = os.path.join(os.path.dirname(sys.executable), "pex-tools")
    proc = subprocess.run([tools, first, "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["interpreter_constraints"][0].startswith("CPython==")


def test_the_boot_is_posix_sh_and_ends_in_ours_without_python(tiny):
    with zipfile.ZipFile(tiny[0]) as archive:
        first = min(info.header_offset for info in archive.infolist())
    with open(tiny[0], "rb") as stream:
        script = stream.read(first)
    assert script.startswith(b"#!/bin/sh\n")
    assert build.PEX_NO_PYTHON.encode() not in script
    assert build.no_python_script() in script
    # dash is the strictest common /bin/sh; `sh -n` parses without running.
    for shell in ("dash", "bash"):
        proc = subprocess.run([shell, "-n"], input=script, stderr=subprocess.PIPE)
        assert proc.returncode == 0, (shell, proc.stderr)


def test_a_pex_whose_boot_is_not_what_build_expects_fails_the_build(tmp_path):
    odd = tmp_path / "odd.pex"
    with zipfile.ZipFile(str(odd), "w") as archive:
        archive.writestr("PEX-INFO", "{}")
    with pytest.raises(build.BuildError) as info:
        build.replace_no_python(str(odd), b"exit 5\n")
    assert "no no-Python message where build.py expects it" in str(info.value)


def test_build_freezes_another_job_that_runs_under_two_pythons(tmp_path):
    # A tiny job of its own: its package, its requirements (idna alone), its entry point.
    from test_pex import only_python, pyenv_python
    pythons = [python for python in (pyenv_python(9), pyenv_python(12)) if python]
    if len(pythons) < 2:
        pytest.skip("needs CPython 3.9 and 3.12 (pyenv)")
    package = tmp_path / "tinyjob"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import sys\nimport idna\n\n\ndef main():\n"
        "    print(idna.encode('b\\u00fccher.example').decode(), '%d.%d' % sys.version_info[:2])\n"
        "    return 3\n")
    requirements = tmp_path / "requirements.txt"
    with open(build.REQUIREMENTS) as stream:
        lines = stream.read().split("\n")
    start = next(n for n, line in enumerate(lines) if line.startswith("idna=="))
    requirements.write_text("\n".join(lines[start:start + 3]) + "\n")
    out = tmp_path / "tiny.pex"
    assert build.main(["--python", "3.9,3.12", "--arch", "x86_64", "--requirements", str(requirements),
                       "--package", str(package), "--entry-point", "tinyjob:main",
                       "--output", str(out)]) == 0
    with zipfile.ZipFile(str(out)) as archive:
        assert set(bundle.StoreIndex.read(archive).wheels) == {"idna-3.20-py3-none-any.whl"}
        assert "luminance/cli.py" in archive.namelist() and "tinyjob/__init__.py" in archive.namelist()
    for python in pythons:
        run = tmp_path / os.path.basename(os.path.dirname(os.path.dirname(python)))
        run.mkdir()
        proc = subprocess.run(["env", "-i", "PATH=" + only_python(run, python), "PEX_ROOT=.pex", str(out)],
                              cwd=str(run), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=120)
        version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
        assert (proc.returncode, proc.stdout, proc.stderr) == \
            (3, "xn--bcher-kva.example {}\n".format(version), "")
        assert os.listdir(str(run / ".pex" / "photodemo"))  # its libraries came from the store
