"""Command-line value types, shared by the job's command line (cli.py) and ./submit, so that both
word a bad value the same way; and durations as every command and the page show them. Stdlib only."""

import argparse
from typing import Callable, Optional

__all__ = ["whole_number", "seconds", "duration"]


def whole_number(minimum: int, maximum: Optional[int] = None) -> Callable[[str], int]:
    """An argparse type: an integer of at least MINIMUM (and at most MAXIMUM)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("{!r} is not a whole number".format(text)) from None
        if maximum is not None and not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError("must be {}..{}, got {}".format(minimum, maximum, value))
        if value < minimum:
            raise argparse.ArgumentTypeError("must be at least {}, got {}".format(minimum, value))
        return value
    return parse


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number of seconds: {!r}".format(text)) from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("must be more than 0 seconds, got {}".format(text))
    return value


def duration(value: float) -> str:
    """VALUE seconds for a reader: 4.2 s, 3 min 05 s, 2 h 10 min."""
    value = float(value)
    if value < 60:
        return "{:.1f} s".format(value)
    minutes, rest = divmod(int(round(value)), 60)
    if minutes < 60:
        return "{} min {:02d} s".format(minutes, rest)
    hours, minutes = divmod(minutes, 60)
    return "{} h {:02d} min".format(hours, minutes)
