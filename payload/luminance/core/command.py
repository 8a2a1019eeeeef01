"""The command-line frame every photodemo command shares: help, one-line errors, exit codes, signals.

Every entry point (the job in the pex, ./submit, ./aggregate, ./make-manifest, build.py,
`python -m photodemo.demo` and `python -m photodemo.archive`) is `main(argv=None) -> int`, written
as `command.run(parser, body, argv)` with a `command.Parser`. The frame then owns what a user sees
whatever the command:

  --help, --version      printed on stdout; exit 0
  a bad command line     one stderr line `NAME: error: MESSAGE (see PROG --help)`; exit 2
  a PhotodemoError       one stderr line `NAME: error: MESSAGE`; exit its exit_code
  Ctrl-C                 one stderr line `NAME: interrupted`; exit 130
  SIGTERM                raised as Ctrl-C is (Terminated), so the same cleanup runs; exit 143,
                         even when it comes as the command enters a blocking call (_Watch).
                         Later SIGTERMs are ignored until main returns: they must not cut the
                         cleanup short (HTCondor sends SIGKILL after its grace period anyway)
  stdout's reader gone   (`| head`) nothing more is written, no traceback; exit 141
  a bug                  Python's traceback; exit 1

and every --help ends with the command's exit codes, each explained by errors.EXIT_MEANINGS.
Stdlib only: the job runs it on CPython 3.9-3.14, ./submit and ./aggregate on a bare python3.
"""

import argparse
import os
import select
import signal
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Sequence, Tuple

if TYPE_CHECKING:  # typing.NoReturn is from 3.6.2; the payload starts on any 3.6
    from typing import NoReturn

from luminance.core.errors import (EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_MEANINGS,
                                   EXIT_USAGE, PhotodemoError, UsageError)

__all__ = ["Parser", "Terminated", "run", "interrupted_code", "exit_codes_help", "FRAME_CODES"]

# Any command can end with these, whatever it does: they are listed in every --help.
FRAME_CODES = (EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE)
HELP_WIDTH = 92

_signals: List[int] = []  # the signals that stopped the running command, first first


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `finally` and `except KeyboardInterrupt` runs."""


def exit_codes_help(codes: Mapping[int, str]) -> str:
    """The `exit codes:` section of a --help: CODES (each with what it means for this command, or
    "") and the frame's own, each explained by errors.EXIT_MEANINGS."""
    details = dict.fromkeys(FRAME_CODES, "")
    details.update(codes)
    lines = ["exit codes:"]
    for code in sorted(details):
        text = EXIT_MEANINGS[code] + (": " + details[code] if details[code] else "")
        lines += textwrap.wrap(text, HELP_WIDTH, initial_indent="  {:<5}".format(code),
                               subsequent_indent=" " * 7, break_on_hyphens=False)
    return "\n".join(lines)


class Parser(argparse.ArgumentParser):
    """argparse with the frame's help and usage errors.

    NAME starts every message line (`submit: error: ...`); PROG is how a user runs the command
    (`./submit`); EXIT_CODES maps each code the command itself returns to what it means there.
    Descriptions and epilogs are printed as written.
    """

    def __init__(self, name: str, prog: str, description: str, exit_codes: Mapping[int, str],
                 epilog: str = "", **options: Any) -> None:
        self.name = name
        codes = exit_codes_help(exit_codes)
        # allow_abbrev=False: a prefix such as `--dry` is refused, not taken for an option, so
        # that what ./submit records and reuses (submit.json) is always an option's full name.
        super().__init__(prog=prog, description=description, allow_abbrev=False,
                         epilog=epilog.rstrip("\n") + "\n\n" + codes if epilog else codes,
                         formatter_class=argparse.RawDescriptionHelpFormatter, **options)

    def error(self, message: str) -> "NoReturn":
        """A usage error as one line, instead of argparse's usage text and SystemExit(2)."""
        raise UsageError("{} (see {} --help)".format(message, self.prog))

    def _print_message(self, message: Optional[str], file: Any = None) -> None:
        # What --help and --version print. argparse (3.11+) drops an OSError here, which would
        # make `--help` into a closed pipe exit 0; the frame reports it like any other write.
        if message:
            (file or sys.stderr).write(message)


def interrupted_code() -> int:
    """128 + the signal that interrupted the running command: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (_signals[0] if _signals else signal.SIGINT)


def run(parser: Parser, body: Callable[[argparse.Namespace], int],
        argv: Optional[Sequence[str]] = None, interrupted: str = "interrupted") -> int:
    """Parse ARGV (default: sys.argv[1:]) with PARSER, return BODY(args)'s exit code, and report
    whatever ends it early as the module docstring says. INTERRUPTED is the line after `NAME: `
    when Ctrl-C or SIGTERM stops the command."""
    del _signals[:]
    previous, watch = _catch_sigterm()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help or --version, already printed
            code = exc.code if isinstance(exc.code, int) else EXIT_USAGE if exc.code else 0
        else:
            code = body(args)
        sys.stdout.flush()  # a reader that left shows here, not as a warning at interpreter exit
        return interrupted_code() if code == EXIT_INTERRUPTED else code
    except PhotodemoError as exc:
        _say(parser.name, "error: " + " ".join(str(exc).splitlines()))
        return exc.exit_code
    except KeyboardInterrupt:
        _say(parser.name, interrupted)
        return interrupted_code()
    except BrokenPipeError:
        if not _stdout_gone():
            raise  # another pipe: a bug, worth its traceback
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if watch is not None:
            watch.stop()


def _on_sigterm(signum: int, frame: Any) -> None:
    if _signals:
        return  # the watch's repeat of a SIGTERM already raised: the cleanup goes on
    _signals.append(signum)
    signal.signal(signum, signal.SIG_IGN)
    raise Terminated()


class _Watch:
    """Makes sure a SIGTERM reaches the main thread while it waits in a system call.

    Python runs a handler only between bytecodes, and a blocked call learns of a signal only by
    failing with EINTR. A SIGTERM that comes after the interpreter's last check but before the
    main thread enters a blocking call (read() on a FIFO just opened), or that the kernel gives
    to another thread, is noted and never acted on: the command waits for ever. Python writes
    the number of every caught signal to the wakeup fd; this thread reads it and sends SIGTERM
    to the main thread itself, again every REPEAT seconds, until the handler has run."""

    REPEAT = 0.05

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        try:
            os.set_blocking(self._write, False)  # as set_wakeup_fd requires
            self._previous = signal.set_wakeup_fd(self._write)
        except (OSError, ValueError):
            os.close(self._read)
            os.close(self._write)
            raise
        self._stopped = threading.Event()
        self._main = threading.get_ident()  # the main thread: set_wakeup_fd succeeds only there
        threading.Thread(target=self._run, name="sigterm-watch", daemon=True).start()

    def _run(self) -> None:
        try:
            while True:
                numbers = os.read(self._read, 64)
                if not numbers:
                    return  # stop() closed the pipe
                while signal.SIGTERM in numbers and not _signals and not self._stopped.is_set():
                    signal.pthread_kill(self._main, signal.SIGTERM)
                    self._stopped.wait(self.REPEAT)
        except OSError:
            pass
        finally:
            os.close(self._read)

    def stop(self) -> None:
        self._stopped.set()
        signal.set_wakeup_fd(self._previous)
        os.close(self._write)


def _catch_sigterm() -> Tuple[Optional[Any], Optional[_Watch]]:
    """Install the SIGTERM handler and its watch; the previous handler and the watch, or None
    where signals cannot be handled (a thread other than the main one: a test calling main()
    from a thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None, None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return previous, _Watch()
    except (OSError, ValueError):  # no pipe left: the handler alone, as good as Python's own
        return previous, None


def _say(name: str, line: str) -> None:
    try:
        sys.stdout.flush()  # what was printed before comes before the message
    except BrokenPipeError:
        _discard_stdout()
    except (OSError, ValueError):
        pass
    print("{}: {}".format(name, line), file=sys.stderr, flush=True)


def _stdout_gone() -> bool:
    """Whether stdout is a pipe or socket whose reader has gone, which a BrokenPipeError from
    writing it means; True when it cannot be told (stdout replaced by an object without a file)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that what is still buffered goes nowhere when Python exits,
    instead of raising BrokenPipeError again there (Python's documented recipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
