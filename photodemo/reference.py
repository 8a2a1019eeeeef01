"""The command reference, docs/reference.md, written from what every command's `--help` prints.

    .venv/bin/python -m photodemo.reference            # rewrite docs/reference.md
    .venv/bin/python -m photodemo.reference --check    # exit 4 when it differs from the parsers

Each command runs as a user runs it, in a child process, so the page is exactly what `--help`
prints: the options, their defaults and the exit codes come from the parsers and nowhere else.
tests/test_reference.py fails when the committed page differs from what the parsers print.
"""

import argparse
import difflib
import os
import re
import subprocess
import sys
from typing import List, NamedTuple, Optional, Sequence

from luminance.core import command, files
from luminance.core.errors import EXIT_FAILED, EXIT_OK, PhotodemoError, UsageError

__all__ = ["COMMANDS", "Command", "HelpFailed", "render", "differences", "written_with",
           "main"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join("docs", "reference.md")
PROG = "reference"
REGENERATE = ".venv/bin/python -m photodemo.reference"
# argparse wraps help text to the terminal's width (COLUMNS); the page is written at one width,
# whatever terminal the generator or the test runs in.
COLUMNS = 100


class HelpFailed(PhotodemoError):
    """A command's --help did not exit 0: the page cannot be written from it."""

    exit_code = EXIT_FAILED


class Command(NamedTuple):
    """One command of the reference: its heading, what it is for, and how it is run."""
    title: str
    summary: str
    argv: Sequence[str]  # "{python}" is this interpreter; run from the clone's root


COMMANDS = (
    Command("luminance.pex", "The job: one chunk of the manifest, on a worker.",
            ("{python}", "-c", "import sys, photodemo; from luminance.cli import main; "
                               "sys.exit(main())", "--help")),
    Command("./submit", "Cut the manifest into chunks and run a job per chunk, on HTCondor or here.",
            ("{python}", "submit", "--help")),
    Command("./aggregate", "Every results file into one page, or a CSV or JSON export.",
            ("{python}", "aggregate", "--help")),
    Command("./make-manifest", "A manifest from an archive's photos and their XML sidecars.",
            ("{python}", "make-manifest", "--help")),
    Command("build.py", "Freeze the job and its libraries into dist/luminance.pex (`make payload`).",
            ("{python}", "build.py", "--help")),
    Command("python -m photodemo.demo", "The whole pipeline on this machine (`make demo`).",
            ("{python}", "-m", "photodemo.demo", "--help")),
    Command("python -m photodemo.archive", "The sample archive `make demo` analyzes.",
            ("{python}", "-m", "photodemo.archive", "--help")),
)

HEADER = """\
# Command reference

<!-- Written by `{regenerate}` from each command's --help, as CPython {python}'s argparse
prints it; edit the parsers, not this page. -->

Every command shares one frame (`payload/luminance/core/command.py`): `--help` prints the options,
their defaults and the exit codes; a usage error is one line, `NAME: error: MESSAGE (see PROG
--help)`, exit 2; any other error is one line naming the input; 1 means a bug (a traceback);
Ctrl-C exits 130, SIGTERM 143 (the same cleanup, finished work kept); a reader that leaves early
(`| head`) ends the command quietly with 141.

{contents}
"""


def help_text(cmd: Command) -> str:
    """What CMD's --help prints, run from the clone's root at the page's width."""
    env = dict(os.environ, COLUMNS=str(COLUMNS), NO_COLOR="1", PYTHON_COLORS="0")
    env.pop("FORCE_COLOR", None)
    argv = [sys.executable if part == "{python}" else part for part in cmd.argv]
    done = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True)
    if done.returncode != EXIT_OK:
        last = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise HelpFailed("{}: --help exited {}: {}".format(cmd.title, done.returncode, last[0]))
    return done.stdout


def _anchor(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation other than - and _ dropped."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def render() -> str:
    """The whole page, from every command's --help as this Python runs it."""
    contents = "\n".join("- [`{}`](#{}): {}".format(c.title, _anchor(c.title), c.summary)
                         for c in COMMANDS)
    sections = []
    for cmd in COMMANDS:
        text = help_text(cmd).rstrip("\n")
        sections.append("## {}\n\n{}\n\n```text\n{}\n```\n".format(cmd.title, cmd.summary, text))
    return (HEADER.format(regenerate=REGENERATE, python=python_version(), contents=contents)
            + "\n" + "\n".join(sections))


def python_version() -> str:
    """This Python's major.minor: argparse lays help out differently from one version to the next."""
    return "{}.{}".format(*sys.version_info)


def written_with(page: str) -> Optional[str]:
    """The CPython version whose argparse wrote PAGE, from its header; None when it names none."""
    found = re.search(r"as CPython (\d+\.\d+)'s argparse", page)
    return found.group(1) if found else None


def differences(written: str, printed: str) -> List[str]:
    """The lines of a unified diff from the committed page to what the parsers print."""
    return list(difflib.unified_diff(written.splitlines(), printed.splitlines(),
                                     "docs/reference.md (committed)", "the parsers' --help",
                                     lineterm="", n=1))


EXIT_CODES = {
    EXIT_OK: "the page is written, or with --check matches the parsers",
    EXIT_FAILED: "a command's --help failed (its last stderr line is named), or with --check the "
                 "page differs from the parsers (the diff is printed)",
}


def parser() -> command.Parser:
    p = command.Parser(PROG, "python -m photodemo.reference",
                       "Write docs/reference.md from the --help of every photodemo command.",
                       EXIT_CODES)
    p.add_argument("--check", action="store_true",
                   help="write nothing; print how the page differs from the parsers' --help "
                        "(default: off)")
    p.add_argument("--output", metavar="FILE", default=os.path.join(ROOT, PAGE),
                   help="the page to write or check (default: docs/reference.md)")
    return p


def _main(args: argparse.Namespace) -> int:
    printed = render()
    if not args.check:
        files.write_atomically(args.output, printed)
        return EXIT_OK
    try:
        with open(args.output, encoding="utf-8") as page:
            written = page.read()
    except OSError as exc:
        raise UsageError("{}: {}".format(args.output, exc.strerror)) from None
    diff = differences(written, printed)
    if diff:
        print("\n".join(diff))
        print("{}: differs from the parsers; regenerate with `{}`".format(PAGE, REGENERATE),
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    return command.run(parser(), _main, argv)


if __name__ == "__main__":
    sys.exit(main())
