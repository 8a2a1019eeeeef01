"""Command-line value types shared by the job and ./submit: what they accept and how they word a refusal."""

import argparse

import pytest

from luminance.core.arguments import duration, seconds, whole_number


@pytest.mark.parametrize("text, value", [("0", 0), ("7", 7), (" 12 ", 12), ("+3", 3)])
def test_whole_number_accepts(text, value):
    assert whole_number(0)(text) == value


@pytest.mark.parametrize("minimum, text, message", [
    (0, "-1", "must be at least 0, got -1"),
    (1, "0", "must be at least 1, got 0"),
    (0, "1.5", "'1.5' is not a whole number"),
    (0, "", "'' is not a whole number"),
    (0, "ten", "'ten' is not a whole number"),
])
def test_whole_number_refuses(minimum, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        whole_number(minimum)(text)
    assert str(refused.value) == message


@pytest.mark.parametrize("text, value", [("30", 30.0), ("0.5", 0.5), ("1e-6", 1e-6)])
def test_seconds_accepts(text, value):
    assert seconds(text) == value


@pytest.mark.parametrize("text, message", [
    ("0", "must be more than 0 seconds, got 0"),
    ("-1", "must be more than 0 seconds, got -1"),
    ("inf", "must be more than 0 seconds, got inf"),
    ("nan", "must be more than 0 seconds, got nan"),
    ("soon", "not a number of seconds: 'soon'"),
])
def test_seconds_refuses(text, message):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        seconds(text)
    assert str(refused.value) == message


def test_a_bad_value_is_a_one_line_usage_error_of_the_job(capsys):
    from luminance import cli
    assert cli.main(["results.json", "0", "-5"]) == 2
    assert capsys.readouterr().err == ("luminance.pex: error: argument COUNT: must be at least 0, "
                                       "got -5 (see luminance.pex --help)\n")


@pytest.mark.parametrize("value, text", [(0, "0.0 s"), (4.24, "4.2 s"), (59.94, "59.9 s"), (60, "1 min 00 s"),
                                         (185.4, "3 min 05 s"), (3599.6, "1 h 00 min"),
                                         (3600, "1 h 00 min"), (7830, "2 h 10 min")])
def test_durations_as_commands_and_the_page_show_them(value, text):
    assert duration(value) == text
