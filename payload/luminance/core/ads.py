"""The ClassAd files HTCondor puts in a job's sandbox: the job ad ($_CONDOR_JOB_AD) and the
machine ad ($_CONDOR_MACHINE_AD), one `Name = value` a line. Stdlib only.

Only plain values are read (a number, a quoted string); an expression is the job's business, not
ours to evaluate, and reads as absent, like a missing file or attribute.
"""

import os
import re
from typing import Optional

__all__ = ["JOB_AD", "MACHINE_AD", "value", "integer", "string"]

JOB_AD = "_CONDOR_JOB_AD"
MACHINE_AD = "_CONDOR_MACHINE_AD"

_INTEGER = re.compile(r"\s*(\d+)\s*$")
_STRING = re.compile(r'\s*"([^"\\]*)"\s*$')


def value(ad: str, *names: str) -> Optional[str]:
    """The text after `=` of the first of NAMES (ClassAd names ignore case) in the ad whose file
    the environment variable AD names; None when there is no such file or attribute."""
    path = os.environ.get(ad)
    if not path:
        return None
    wanted = {name.lower() for name in names}
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                name, equals, text = line.partition("=")
                if equals and name.strip().lower() in wanted:
                    return text.strip()
    except OSError:
        return None
    return None


def integer(ad: str, name: str) -> Optional[int]:
    """NAME of AD when it is a positive integer, not an expression."""
    match = _INTEGER.match(value(ad, name) or "")
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def string(ad: str, *names: str) -> Optional[str]:
    """The first of NAMES in AD, when it is a non-empty quoted string."""
    match = _STRING.match(value(ad, *names) or "")
    return match.group(1) if match and match.group(1) else None
