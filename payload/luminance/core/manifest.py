"""The manifest: one photo per line, `URL YEAR`, the one definition shared by payload, submit and aggregate.

Format (compatible with the tutorial's manifest.txt):

- a record is a line `URL YEAR` (whitespace-separated); YEAR is an integer from MIN_YEAR (1800)
  to next year, or `?`, `unknown` or `n.d.` for an unknown year (kept, year None);
- the manifest is UTF-8 text; a byte-order mark at its start is skipped;
- blank lines and lines starting with `#` are skipped and are not records;
- a malformed line (one field, three fields, a bad or implausible year, an unsupported URL
  scheme, bytes that are not UTF-8) is still a record: it keeps its number, and a job reports
  it as a failure naming its line;
- URLs are `http://`, `https://`, `file://`, a plain local path, or an object of a Pelican
  federation: `osdf:///ospool/...` (the OSDF; `stash:///` its older name), `pelican://HOST/...`.
  When HTCondor transferred a chunk's federation objects into its job's sandbox (./submit
  --transfer-osdf), the job reads each from the file named `sandbox_name(url)` there.

Records are numbered from 0 in manifest order; a job's START and COUNT count records, not lines.
A manifest *slice* (what ./submit --split gives each job) begins with an offset directive
`#@photodemo offset record=R line=L`, so the records it holds keep their numbers and line numbers
in the whole manifest.
"""

import datetime
import os
import re
from typing import IO, Iterable, Iterator, List, NamedTuple, Optional

from luminance.core.errors import ManifestError

__all__ = ["Record", "parse_year", "MIN_YEAR", "max_year", "UNDECODABLE", "printable", "parse_line",
           "iter_records", "read_records", "count_records", "format_record",
           "offset_directive", "sandbox_name", "UNKNOWN_YEARS", "SCHEMES", "FEDERATION_SCHEMES"]

UNKNOWN_YEARS = ("?", "unknown", "n.d.")
FEDERATION_SCHEMES = ("osdf", "pelican", "stash")  # objects of a Pelican federation: pelican.py
SCHEMES = ("http", "https", "file") + FEDERATION_SCHEMES
MIN_YEAR = 1800  # before photography; a year outside MIN_YEAR..max_year() is a typo or an attack
# Manifests are read with this error handler: a byte that is not UTF-8 survives as a lone
# surrogate, so that its line becomes a malformed record (and a slice copies it verbatim).
UNDECODABLE = "surrogateescape"
_BOM = "\ufeff"
OFFSET_PREFIX = "#@photodemo offset"
_OFFSET_RE = re.compile(r"#@photodemo offset record=(\d+) line=(\d+)\s*$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# What a transferred object's URL may hold: it is written in a submit file (where `,` separates,
# `$` expands, quotes and `#` mean something), and HTCondor names the file after the URL's text,
# so a percent-escape, a query or a non-ASCII letter would leave the job guessing the name.
_TRANSFERABLE_URL = re.compile(r"^[A-Za-z]+://[A-Za-z0-9._+@~/:-]*$")


class Record(NamedTuple):
    """One manifest record. `error` says why the line is malformed; None for a good record."""

    index: int  # type: ignore[assignment]  # 0-based record number in the whole manifest; hides tuple.index
    line: int  # 1-based line number in the whole manifest
    url: Optional[str]
    year: Optional[int]
    error: Optional[str] = None


def max_year() -> int:
    """The latest plausible year: next year (a photo dated by a clock a little ahead)."""
    return datetime.date.today().year + 1


def parse_year(text: str) -> Optional[int]:
    """The year of a YEAR field: an int, or None for an unknown year. Raises ValueError."""
    if text.lower() in UNKNOWN_YEARS:
        return None
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError("bad year {!r}".format(text[:40]))
    if len(text) > 6 or not MIN_YEAR <= int(text) <= max_year():
        raise ValueError("implausible year {} (not in {}..{})".format(
            text if len(text) <= 12 else text[:12] + "...", MIN_YEAR, max_year()))
    return int(text)


def _not_utf8(text: str) -> Optional[str]:
    """Why TEXT (read with UNDECODABLE) is not UTF-8, or None when it is."""
    for column, char in enumerate(text, start=1):
        if "\udc80" <= char <= "\udcff":
            return "not UTF-8 (byte 0x{:02x} at column {})".format(ord(char) - 0xdc00, column)
    return None


def printable(text: str) -> str:
    """TEXT with its undecodable bytes as \\xNN escapes: safe to print and to write as JSON."""
    return text.encode("utf-8", UNDECODABLE).decode("utf-8", "backslashreplace")


def parse_line(text: str, index: int, line: int) -> Optional[Record]:
    """The record on one manifest line, or None for a blank or comment line."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    undecodable = _not_utf8(stripped)
    if undecodable:
        return Record(index, line, printable(stripped.split()[0]), None, undecodable)
    fields = stripped.split()
    if len(fields) != 2:
        what = "one field" if len(fields) == 1 else "{} fields".format(len(fields))
        return Record(index, line, fields[0], None, "expected 'URL YEAR', got {}".format(what))
    url, year_text = fields
    match = _SCHEME_RE.match(url)
    if match and match.group(1).lower() not in SCHEMES:
        return Record(index, line, url, None, "unsupported URL scheme {!r}".format(match.group(1)))
    try:
        year = parse_year(year_text)
    except ValueError as exc:
        return Record(index, line, url, None, str(exc))
    return Record(index, line, url, year)


def iter_records(lines: Iterable[str]) -> Iterator[Record]:
    """Every record of a manifest (or manifest slice), in order, with global numbers."""
    index, offset = 0, 0
    for line, text in enumerate(lines, start=1):
        if line == 1 or line + offset == 1:  # the manifest's first line, also in a slice
            text = text[1:] if text.startswith(_BOM) else text
        if line == 1 and text.startswith(OFFSET_PREFIX):
            match = _OFFSET_RE.match(text.strip())
            if match:
                # A slice: its line 2 is line L of the whole manifest and holds record R (or the
                # blank/comment lines before it, copied verbatim so line numbers stay true).
                index, offset = int(match.group(1)), int(match.group(2)) - 2
                continue
        record = parse_line(text, index, line + offset)
        if record is not None:
            yield record
            index += 1


def read_records(stream: IO[str], start: int = 0, count: Optional[int] = None) -> List[Record]:
    """Records START .. START+COUNT-1 of a manifest stream (fewer where the manifest ends first)."""
    records = []
    stop = None if count is None else start + count
    for record in iter_records(stream):
        if stop is not None and record.index >= stop:
            break
        if record.index >= start:
            records.append(record)
    return records


def open_manifest(path: str) -> IO[str]:
    """Open a manifest file for reading, or raise ManifestError naming it."""
    try:
        if os.path.isdir(path):
            raise ManifestError("{}: is a directory, not a manifest".format(path))
        return open(path, encoding="utf-8", errors=UNDECODABLE, newline=None)
    except OSError as exc:
        raise ManifestError("{}: cannot read manifest: {}".format(path, exc.strerror or exc)) from None


def count_records(path: str) -> int:
    """How many records (not lines) a manifest file holds."""
    with open_manifest(path) as stream:
        return sum(1 for _ in iter_records(stream))


def format_record(url: str, year: Optional[int]) -> str:
    """One manifest line (with newline) for URL and YEAR; None is written as `?`."""
    if not url or any(c.isspace() for c in url):
        raise ValueError("a manifest URL must be non-empty and free of whitespace: {!r}".format(url))
    return "{} {}\n".format(url, "?" if year is None else year)


def offset_directive(index: int, line: int) -> str:
    """The first line of a manifest slice whose first record is INDEX on LINE of the whole manifest."""
    return "{} record={} line={}\n".format(OFFSET_PREFIX, index, line)


def sandbox_name(url: str) -> str:
    """The file name HTCondor gives the federation object at URL when it transfers it into a job's
    sandbox: the last component of its path (HTCondor cannot rename a transferred URL). Raises
    ValueError saying why URL cannot be transferred under a name the job can know."""
    match = _SCHEME_RE.match(url)
    if not match or match.group(1).lower() not in FEDERATION_SCHEMES:
        raise ValueError("not an object of a Pelican federation ({})".format(
            ", ".join(s + "://" for s in FEDERATION_SCHEMES)))
    if not _TRANSFERABLE_URL.match(url):
        raise ValueError("only letters, digits and . _ + @ ~ - / : can be transferred by name "
                         "(no percent-escapes, query, spaces or other characters)")
    name = url.rsplit("/", 1)[1]
    if not name or name in (".", "..") or ":" in name:
        raise ValueError("no file name at the end of the URL")
    if name.startswith((".", "_", "-")):
        raise ValueError("a file name starting with '{}' could be one of HTCondor's own in the "
                         "sandbox".format(name[0]))
    return name
