"""Every command line behaves the same (luminance/core/command.py): --help, a one-line usage error, its
exit codes from one table, Ctrl-C, SIGTERM and a closed stdout. In-process through main([...]), and
as real processes, run the way a user runs them, for what only a process shows (signals, pipes)."""

import fcntl
import importlib
import importlib.util
import io
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from luminance.core import command
from luminance.core.errors import EXIT_BROKEN_PIPE, EXIT_MEANINGS, EXIT_USAGE, PhotodemoError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGTERMED = 128 + signal.SIGTERM


def _build_module():
    # build.py by its path: `import build` could find another `build` (pypa's) first.
    spec = importlib.util.spec_from_file_location("photodemo_build_py", os.path.join(ROOT, "build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _module(name):
    return _build_module() if name == "build.py" else importlib.import_module(name)


# (module, the name its messages start with, how a user runs it: the PROG its messages point to,
#  the command line a user types, from the clone)
COMMANDS = [
    ("luminance.cli", "luminance.pex", "luminance.pex", [sys.executable, "-m", "luminance"]),
    ("photodemo.submit", "submit", "./submit", [os.path.join(ROOT, "submit")]),
    ("photodemo.aggregate", "aggregate", "./aggregate", [os.path.join(ROOT, "aggregate")]),
    ("photodemo.mkmanifest", "make-manifest", "./make-manifest", [os.path.join(ROOT, "make-manifest")]),
    ("photodemo.demo", "demo", "python -m photodemo.demo", [sys.executable, "-m", "photodemo.demo"]),
    ("photodemo.archive", "archive", "python -m photodemo.archive",
     [sys.executable, "-m", "photodemo.archive"]),
    ("photodemo.federation", "federation", "python -m photodemo.federation",
     [sys.executable, "-m", "photodemo.federation"]),
    ("build.py", "build.py", "build.py", [sys.executable, os.path.join(ROOT, "build.py")]),
]
IDS = [name for _, name, _, _ in COMMANDS]
# What a command says when Ctrl-C or SIGTERM stops it: a server was asked to stop, nothing was cut.
INTERRUPTED = {"federation": "stopped"}


def process(argv, cwd=ROOT, **options):
    """A command started as a user starts it: `python -m photodemo.*` from the clone; the job as
    `python -m luminance`, as the pex runs it."""
    env = dict(os.environ)
    if argv[1:3] == ["-m", "luminance"]:
        env["PYTHONPATH"] = os.path.join(ROOT, "payload")
    elif argv[1:2] == ["-m"]:
        cwd = ROOT
    return subprocess.Popen(argv, cwd=str(cwd), env=env, universal_newlines=True, **options)


def exit_code_lines(help_text):
    """{code: its text, unwrapped} from the `exit codes:` section of a --help."""
    section = help_text.split("\nexit codes:\n", 1)[1]
    codes, current = {}, None
    for line in section.splitlines():
        found = re.match(r"  (\d+) +(.*)", line)
        if found:
            current = int(found.group(1))
            codes[current] = found.group(2)
        elif line.startswith("       ") and current is not None:
            codes[current] += " " + line.strip()
        else:
            break
    return codes


# -- the one bootstrap -----------------------------------------------------------------------------

BARE_PYTHON = os.path.join(sys.base_prefix, "bin", "python3")  # the .venv's base: no Pillow, no pex


@pytest.mark.parametrize("argv", [["submit"], ["aggregate"], ["make-manifest"], ["build.py"],
                                  ["-m", "photodemo.demo"], ["-m", "photodemo.archive"],
                                  ["-m", "photodemo.federation"]],
                         ids=lambda argv: argv[-1])
def test_every_command_runs_from_the_clone_on_a_bare_python(argv, tmp_path):
    # photodemo/__init__.py puts payload/ on sys.path: nothing installed, no PYTHONPATH, any cwd
    # (`python -m` runs from the clone, as the README says).
    script = argv[0] != "-m"
    command_line = [BARE_PYTHON, os.path.join(ROOT, argv[0])] if script else [BARE_PYTHON] + argv
    proc = subprocess.run(["env", "-i"] + command_line + ["--help"], cwd=str(tmp_path if script else ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert "\nexit codes:\n" in proc.stdout


# -- --help and usage errors, in-process -----------------------------------------------------------

@pytest.mark.parametrize("module, name, prog, argv", COMMANDS, ids=IDS)
def test_help_exits_0_and_lists_the_exit_codes_from_the_one_table(module, name, prog, argv, capsys):
    main = _module(module)
    assert main.main(["--help"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("usage: {} ".format(prog))
    listed = exit_code_lines(out)
    assert set(listed) == set(main.EXIT_CODES) | set(command.FRAME_CODES)
    for code, text in listed.items():
        detail = main.EXIT_CODES.get(code, "")
        assert text == EXIT_MEANINGS[code] + (": " + " ".join(detail.split()) if detail else "")


@pytest.mark.parametrize("module, name, prog, argv", COMMANDS, ids=IDS)
def test_a_usage_error_is_one_line_and_exit_2(module, name, prog, argv, capsys):
    main = _module(module)
    assert main.main(["--no-such-option", "x"]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert re.fullmatch(r"{}: error: [^\n]+ \(see {} --help\)\n".format(re.escape(name), re.escape(prog)),
                        err), err


def _bad_input(name, tmp_path):
    """A command line that gets as far as the command's own work and fails there, with what its
    one line says."""
    missing = str(tmp_path / "missing")
    (tmp_path / "payload.pex").write_text("")
    (tmp_path / "file").write_text("")
    return {
        "luminance.pex": (["results.json", "0", "1", "--manifest", missing],
                          missing + ": cannot read manifest: No such file or directory"),
        "submit": (["--dry-run", "--manifest", missing, "--payload", str(tmp_path / "payload.pex")],
                   missing + ": cannot read manifest: No such file or directory"),
        "aggregate": ([missing], missing + ": no such file or directory"),
        "make-manifest": ([missing], missing + ": not a directory"),
        "demo": (["--payload", missing, "--workdir", str(tmp_path / "work")],
                 missing + ": no payload; run `make payload` first"),
        "archive": ([str(tmp_path / "file"), "--count", "1"],
                    str(tmp_path / "file") + ": exists and is not an empty directory"),
        "federation": (["--directory", missing], missing + ": not a directory"),
    }[name]


@pytest.mark.parametrize("module, name, prog, argv", COMMANDS[:-1], ids=IDS[:-1])
def test_an_error_is_one_line_naming_the_input(module, name, prog, argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args, message = _bad_input(name, tmp_path)
    assert _module(module).main(args) == EXIT_USAGE
    assert capsys.readouterr().err == "{}: error: {}\n".format(name, message)


def test_the_job_in_process_exits_0_or_3_as_its_help_says(server, tmp_path, monkeypatch, capsys):
    # cli.main in this process, with the .venv's Pillow, against a real server: what the pex runs.
    from luminance import cli
    from luminance.core import results
    from photodemo import images
    monkeypatch.chdir(tmp_path)
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("{} 1900\n{} 1901\n".format(server.add("/a.jpg", images.jpeg()),
                                                     server.add("/gone.jpg", status=404)))
    assert cli.main(["results.json", "0", "2", "--manifest", str(manifest)]) == cli.EXIT_OK == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("[1900, ")
    busy = server.add("/busy.jpg", images.jpeg(), fail_first=100, fail_status=503)
    manifest.write_text("{} 1902\n".format(busy))
    assert cli.main(["results.json", "0", "1", "--manifest", str(manifest), "--retries", "0"]) == 3
    assert results.transient_failures(results.read("results.json"))
    assert "HTTP 503" in capsys.readouterr().err


def test_a_failed_build_step_is_one_line_and_exit_4(tmp_path, monkeypatch, capsys):
    build = _build_module()
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))  # pip cannot be run
    assert build.main(["--platform", "current", "--wheelhouse", str(tmp_path / "wheels"),
                       "--output", str(tmp_path / "x.pex")]) == build.EXIT_FAILED == 4
    err = capsys.readouterr().err
    assert err.startswith("build.py: error: downloading wheels for this Python: cannot run ")
    assert err.count("\n") == 1, err


# -- Ctrl-C, SIGTERM and a closed stdout, in-process -----------------------------------------------

class SignalOnWrite(io.StringIO):
    """A stdout that sends SIGNUM to this process when written to: the signal arrives while the
    command runs (here: printing its --help)."""

    def __init__(self, signum):
        super().__init__()
        self.signum = signum

    def write(self, text):
        os.kill(os.getpid(), self.signum)
        return super().write(text)


@pytest.fixture
def sigterm_caught(monkeypatch):
    """A SIGTERM handler of the test's own, so that a command without the frame's fails the test
    instead of killing it; the list of SIGTERMs it saw."""
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    yield seen
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("module, name, prog, argv", COMMANDS, ids=IDS)
def test_sigterm_stops_a_command_like_ctrl_c_with_143(module, name, prog, argv, sigterm_caught,
                                                     monkeypatch, capsys):
    main = _module(module)
    monkeypatch.setattr(sys, "stdout", SignalOnWrite(signal.SIGTERM))
    assert main.main(["--help"]) == SIGTERMED
    assert sigterm_caught == []  # the frame's handler took it, and put the test's back after
    assert re.fullmatch(r"{}: {}[^\n]*\n".format(re.escape(name), INTERRUPTED.get(name, "interrupted")),
                        capsys.readouterr().err)
    assert signal.getsignal(signal.SIGTERM) is not command._on_sigterm


def test_a_sigterm_noted_while_the_main_thread_waits_in_a_call_still_stops_it(sigterm_caught, capsys):
    # The race a loaded machine shows: a SIGTERM that Python notes but that interrupts no call of
    # the main thread (it came just before the call, or the kernel gave it to another thread,
    # as here, deterministically) must still stop a command that waits in a read for ever.
    import threading
    read, write = os.pipe()
    rescued = []

    def rescue():  # without the frame's watch, only this would end the read
        rescued.append(True)
        os.write(write, b"x")

    def body(args):
        def signal_another_thread():
            time.sleep(0.2)
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

        threading.Thread(target=signal_another_thread).start()
        timer = threading.Timer(10, rescue)
        timer.start()
        try:
            os.read(read, 1)
        finally:
            timer.cancel()
        return 0

    try:
        code = command.run(command.Parser("waiter", "waiter", "", {}), body, [])
    finally:
        os.close(read)
        os.close(write)
    assert (code, rescued) == (SIGTERMED, [])
    assert capsys.readouterr().err == "waiter: interrupted\n" and sigterm_caught == []


@pytest.mark.parametrize("module, name, prog, argv", COMMANDS, ids=IDS)
def test_ctrl_c_is_one_line_and_130(module, name, prog, argv, monkeypatch, capsys):
    main = _module(module)
    monkeypatch.setattr(sys, "stdout", SignalOnWrite(signal.SIGINT))
    assert main.main(["--help"]) == 130
    assert re.fullmatch(r"{}: {}[^\n]*\n".format(re.escape(name), INTERRUPTED.get(name, "interrupted")),
                        capsys.readouterr().err)


@pytest.mark.parametrize("module, name, prog, argv", COMMANDS, ids=IDS)
def test_a_closed_stdout_is_quiet_and_141(module, name, prog, argv, monkeypatch, capsys):
    main = _module(module)
    read, write = os.pipe()
    os.close(read)  # the reader has gone
    with open(write, "w") as stream:
        monkeypatch.setattr(sys, "stdout", stream)
        assert main.main(["--help"]) == EXIT_BROKEN_PIPE == 141
        monkeypatch.undo()
    assert capsys.readouterr().err == ""


# -- the frame itself ------------------------------------------------------------------------------

def frame(body, argv=()):
    return command.run(command.Parser("cmd", "./cmd", "A test command.", {0: "done"}), body, list(argv))


def test_a_second_sigterm_does_not_cut_the_cleanup_short(sigterm_caught, capsys):
    cleaned = []

    def body(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises in here
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # ignored: the cleanup below still runs
            time.sleep(0.05)
            cleaned.append(True)
        return 0

    assert frame(body) == SIGTERMED and cleaned == [True]
    assert sigterm_caught == []
    assert capsys.readouterr().err == "cmd: interrupted\n"


def test_a_body_returning_interrupted_gets_the_signal_that_stopped_it(sigterm_caught):
    def body(args):  # as ./submit --local: the runner catches the interruption, then reports it
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except KeyboardInterrupt:
            return 130
        return 0

    assert frame(body) == SIGTERMED
    assert frame(lambda args: 130) == 130  # no signal seen: Ctrl-C


def test_an_error_message_is_kept_on_one_line(capsys):
    def body(args):
        raise PhotodemoError("first\nsecond")

    assert frame(body) == EXIT_USAGE
    assert capsys.readouterr().err == "cmd: error: first second\n"


def test_a_broken_pipe_that_is_not_stdout_is_a_bug(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdout", open(str(tmp_path / "out"), "w"))

    def body(args):
        raise BrokenPipeError(32, "Broken pipe")  # a child's stdin, a socket: not the reader of stdout

    with pytest.raises(BrokenPipeError):
        frame(body)


def test_exit_codes_come_only_from_the_table():
    with pytest.raises(KeyError):
        command.exit_codes_help({99: "a code no table defines"})
    text = command.exit_codes_help({0: "done"})
    assert text.splitlines()[0] == "exit codes:"
    assert sorted(exit_code_lines("x\n" + text)) == [0, 1, 2, 130, 141]


# -- real processes --------------------------------------------------------------------------------

@pytest.mark.parametrize("module, name, prog, argv", COMMANDS, ids=IDS)
def test_a_process_whose_reader_left_exits_141_without_a_traceback(module, name, prog, argv):
    read, write = os.pipe()
    os.close(read)
    try:
        proc = process(argv + ["--help"], stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (EXIT_BROKEN_PIPE, "")


def test_aggregate_csv_into_head_exits_141(tmp_path):
    from luminance.core import results
    document = results.new_document({"host": "h", "start": 0, "count": 20000, "records": 20000,
                                     "complete": True})
    document["photos"] = [results.photo(i, i + 1, "http://h/p{}.jpg".format(i), 1900, 0.5, 1, 1, "L", 1)
                          for i in range(20000)]
    results.write(str(tmp_path / "results-0.json"), document)
    shell = "set -o pipefail; '{}' --csv '{}' | head -1".format(os.path.join(ROOT, "aggregate"), tmp_path)
    proc = subprocess.run(["bash", "-c", shell], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert proc.stdout.startswith("record,") and proc.stdout.count("\n") == 1
    assert (proc.returncode, proc.stderr) == (EXIT_BROKEN_PIPE, "")


def _blocked_on_fifo(name, tmp_path):
    """A command line of NAME that blocks reading a FIFO (tmp_path/fifo), before doing anything."""
    fifo = str(tmp_path / "fifo")
    payload = tmp_path / "payload.pex"
    payload.write_text("")
    if name == "demo":
        archive = tmp_path / "work" / "archive"
        archive.mkdir(parents=True)
        fifo = str(archive / ".photodemo-archive.json")  # the cached archive's stamp
    os.mkfifo(fifo)
    return fifo, {
        "luminance.pex": ["results.json", "0", "1", "--manifest", fifo],
        "submit": ["--dry-run", "--manifest", fifo, "--payload", str(payload)],
        "aggregate": ["--manifest", fifo, str(tmp_path)],  # a FIFO named results-*.json is refused unread
        "demo": ["--count", "1", "--payload", str(payload), "--workdir", str(tmp_path / "work")],
    }[name]


@pytest.mark.parametrize("module, name, prog, argv",
                         [c for c in COMMANDS if c[1] in ("luminance.pex", "submit", "aggregate", "demo")],
                         ids=["luminance.pex", "submit", "aggregate", "demo"])
def test_a_process_stopped_by_sigterm_says_so_and_exits_143(module, name, prog, argv, tmp_path):
    fifo, args = _blocked_on_fifo(name, tmp_path)
    proc = process(argv + args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    writer = _open_when_read(fifo, proc)  # the command has opened it: it now waits to read
    try:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == SIGTERMED, err
    assert re.fullmatch(r"{}: interrupted[^\n]*\n".format(re.escape(name)), err), err


def test_make_manifest_stopped_by_sigterm_while_writing_exits_143(tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    for i in range(2000):  # more than a pipe holds: it blocks writing, as into a stalled reader
        (archive / "photo-with-a-long-name-to-fill-the-pipe-{:05d}.jpg".format(i)).write_bytes(b"")
    proc = process([os.path.join(ROOT, "make-manifest"), str(archive)], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while _unread(proc.stdout) < 65536 and time.time() < deadline:  # the pipe is full
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (SIGTERMED, "make-manifest: interrupted\n")


def _open_when_read(fifo, proc):
    """FIFO opened for writing, once PROC has opened it for reading."""
    deadline = time.time() + 60
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError("never read {}: {}".format(fifo, proc.communicate())) from None
            time.sleep(0.02)


def _unread(stream):
    return struct.unpack("i", fcntl.ioctl(stream.fileno(), termios.FIONREAD, b"\0" * 4))[0]


def test_archive_stopped_by_sigterm_leaves_nothing_and_exits_143(tmp_path):
    out = tmp_path / "archive"
    proc = process([sys.executable, "-m", "photodemo.archive", str(out), "--count", "200", "--jobs", "1"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not any(name.endswith(".tmp") for name in os.listdir(str(tmp_path))) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # drawing
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (SIGTERMED, "archive: interrupted\n")
    assert os.listdir(str(tmp_path)) == []
