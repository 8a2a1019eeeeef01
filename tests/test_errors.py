"""The one exception family and the exit codes every command documents (errors.py)."""

import signal

import pytest

from luminance.core import errors


def test_every_exit_code_is_distinct_and_has_a_meaning():
    codes = {name: value for name, value in vars(errors).items()
             if name.startswith("EXIT_") and isinstance(value, int)}
    assert len(set(codes.values())) == len(codes)
    assert set(errors.EXIT_MEANINGS) == set(codes.values())
    assert all(meaning and "\n" not in meaning for meaning in errors.EXIT_MEANINGS.values())


def test_signal_codes_are_what_a_shell_reports():
    assert errors.EXIT_INTERRUPTED == 128 + signal.SIGINT
    assert errors.EXIT_BROKEN_PIPE == 128 + signal.SIGPIPE


@pytest.mark.parametrize("error", [errors.UsageError, errors.ManifestError, errors.ResultsError])
def test_every_user_error_is_a_photodemo_error_and_a_usage_exit(error):
    assert issubclass(error, errors.PhotodemoError)
    assert error("x").exit_code == errors.EXIT_USAGE
