"""The job's printed output, the one definition its writer (cli.py) and its readers share.

stdout, as the tutorial's luminance2 printed it, between comment lines:

    /* Running on host: HOST */
    [YEAR, LUMINANCE],            one per photo, in manifest order (YEAR `null` when unknown)
    /* N photos analyzed in S.SSs (R.RR/s) */
    /* N records failed: P permanently, T transiently */     (only when some failed)
    /* N results kept from this job's earlier results file */ (only when some were kept)

stderr: one line per failed record, `MANIFEST:LINE: URL: REASON`, ` (transient)` appended for a
failure worth retrying (URL is `-` when the line had none). Stdlib only.
"""

import re
from typing import Dict, List, NamedTuple, Optional

__all__ = ["header", "photo_line", "failure_line", "footer", "parse_photo_line",
           "parse_failure_line", "parse_footer", "PhotoLine", "FailureLine", "Footer"]

_PHOTO = re.compile(r"\[(null|-?\d+), (\d+(?:\.\d+)?)\],$")
_FAILURE = re.compile(r"([^:\s]+):(\d+): (\S+): (.*?)( \(transient\))?$")
_ANALYZED = re.compile(r"/\* (\d+) photos analyzed in (\d+(?:\.\d+)?)s \((\d+(?:\.\d+)?)/s\) \*/$")
TRANSIENT_MARK = " (transient)"


class PhotoLine(NamedTuple):
    year: Optional[int]
    luminance: float


class FailureLine(NamedTuple):
    source: str
    line: int
    url: Optional[str]
    reason: str
    transient: bool


class Footer(NamedTuple):
    photos: int
    elapsed: float
    rate: float


def header(host: str) -> str:
    return "/* Running on host: {} */".format(host)


def photo_line(year: Optional[int], luminance: float) -> str:
    return "[{}, {:.6f}],".format("null" if year is None else year, luminance)


def failure_line(source: str, entry: Dict) -> str:
    """The stderr line of a failure entry (results.failure) of the manifest named SOURCE."""
    return "{}:{}: {}: {}{}".format(source, entry["line"], entry["url"] or "-", entry["reason"],
                                    TRANSIENT_MARK if entry["transient"] else "")


def footer(photos: int, elapsed: float, failures: int, transient: int, kept: int = 0) -> List[str]:
    lines = ["/* {} photos analyzed in {:.2f}s ({:.2f}/s) */".format(
        photos, elapsed, photos / elapsed if elapsed else 0.0)]
    if failures:
        lines.append("/* {} records failed: {} permanently, {} transiently */".format(
            failures, failures - transient, transient))
    if kept:
        lines.append("/* {} results kept from this job's earlier results file */".format(kept))
    return lines


def parse_photo_line(text: str) -> Optional[PhotoLine]:
    """The photo on one stdout line, or None when the line is not a photo's."""
    match = _PHOTO.match(text.strip())
    if not match:
        return None
    year = None if match.group(1) == "null" else int(match.group(1))
    return PhotoLine(year, float(match.group(2)))


def parse_failure_line(text: str) -> Optional[FailureLine]:
    """The failure on one stderr line, or None when the line is not a failure's."""
    match = _FAILURE.match(text.rstrip("\n"))
    if not match:
        return None
    source, line, url, reason, transient = match.groups()
    return FailureLine(source, int(line), None if url == "-" else url, reason, bool(transient))


def parse_footer(text: str) -> Optional[Footer]:
    """The `photos analyzed` footer line's numbers, or None for any other line."""
    match = _ANALYZED.match(text.strip())
    if not match:
        return None
    return Footer(int(match.group(1)), float(match.group(2)), float(match.group(3)))
