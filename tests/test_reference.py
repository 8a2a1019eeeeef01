"""docs/reference.md against what the commands' parsers print (photodemo/reference.py)."""

import os
import sys

import pytest

from luminance.core.errors import EXIT_FAILED, EXIT_OK
from photodemo import reference


def _committed() -> str:
    with open(os.path.join(reference.ROOT, reference.PAGE), encoding="utf-8") as page:
        return page.read()


def test_the_committed_reference_is_what_the_parsers_print():
    committed = _committed()
    python = "{}.{}".format(*sys.version_info)
    written_with = reference.written_with(committed)
    printed = reference.render()
    if printed != committed and written_with != python:
        pytest.skip("docs/reference.md was written with CPython {}'s argparse, whose layout differs "
                    "from {}'s; the check runs on {}".format(written_with, python, written_with))
    diff = reference.differences(committed, printed)
    assert not diff, "docs/reference.md differs from the parsers' --help; regenerate it with `{}`:\n{}" \
        .format(reference.REGENERATE, "\n".join(diff))


def test_every_command_has_its_section_with_usage_options_and_exit_codes():
    page = reference.render()
    sections = page.split("\n## ")[1:]
    assert [section.split("\n", 1)[0] for section in sections] == [c.title for c in reference.COMMANDS]
    for section in sections:
        assert "usage: " in section and "-h, --help" in section and "\nexit codes:\n" in section


def test_check_names_the_difference_and_how_to_regenerate(tmp_path, capsys):
    stale = tmp_path / "reference.md"
    stale.write_text(reference.render().replace("\nusage: ", "\nUsage: ", 1))
    assert reference.main(["--check", "--output", str(stale)]) == EXIT_FAILED
    out, err = capsys.readouterr()
    assert "\n-Usage: luminance.pex " in out and "\n+usage: luminance.pex " in out
    assert reference.REGENERATE in err


def test_writing_then_checking_agrees(tmp_path):
    page = tmp_path / "reference.md"
    assert reference.main(["--output", str(page)]) == EXIT_OK
    assert reference.main(["--check", "--output", str(page)]) == EXIT_OK


def test_a_failing_help_is_named():
    broken = reference.Command("broken", "a command whose --help fails",
                               ("{python}", "-c", "import sys; sys.exit('no such option')"))
    with pytest.raises(reference.HelpFailed, match="broken: --help exited 1: no such option"):
        reference.help_text(broken)
