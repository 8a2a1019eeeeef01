"""A photo's year from its XML metadata sidecar: Dublin Core `dc:date`, MODS `dateCreated`/`dateIssued`.

Catalogue dates are messy; the year is the first 4-digit year in the text that a manifest accepts
(luminance.core.manifest: 1800 to next year; "Box 1234, 1925" -> 1925):

    "1925", "ca. 1925", "[1925?]", "1901-05-03", "May 3, 1901", "1925-1930"  -> 1925 / 1901
    "1890s" -> 1890;  "189-?" or "189X" (a decade, AACR2 and EDTF style) -> 1890
    "undated", "n.d.", "19th century", no date element at all -> None

When a record has several dates the most specific kind wins: a MODS date marked keyDate="yes",
then the date of creation (MODS dateCreated, dcterms:created), then the plain date (dc:date,
dcterms:date), then the date of issue (MODS dateIssued, dcterms:issued); document order breaks
ties, and a date that yields no year gives way to the next one.

Sidecars are untrusted input. They are parsed with expat directly rather than xml.etree, because
only a pyexpat handler can stop the parser at a DOCTYPE: ElementTree reports the DOCTYPE but lets
expat expand the entities declared in it ("billion laughs"). A DOCTYPE or ENTITY declaration is
refused, which also rules out external entities. Time and memory stay linear in the sidecar's
size, itself bounded: elements may nest MAX_DEPTH deep, date elements MAX_DATE_DEPTH deep inside
each other, and a date keeps its first MAX_DATE_CHARS characters (a date is a short text).
Whatever else a sidecar makes the parser raise (an encoding Python does not know) is a
MetadataError naming it: one bad sidecar is a warning for its photo.
"""

import re
from typing import Iterable, List, NamedTuple, Optional, Tuple
from xml.parsers import expat

from luminance.core.errors import PhotodemoError
from luminance.core.manifest import MIN_YEAR, max_year

__all__ = ["MetadataError", "Metadata", "year_from_text", "parse", "read", "MAX_BYTES", "MAX_DEPTH"]

DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
MODS = "http://www.loc.gov/mods/v3"
MAX_BYTES = 4 * 1024 * 1024  # sidecars are a few KB; a bigger file is not a sidecar
MAX_DEPTH = 256  # a MODS record nests about ten deep
MAX_DATE_DEPTH = 4
MAX_DATE_CHARS = 256

# (namespace, local name) -> rank; lower ranks win. "" is an element without a namespace:
# hand-written sidecars often leave the namespace out.
_RANKS = {
    (MODS, "dateCreated"): 1, ("", "dateCreated"): 1, (DCTERMS, "created"): 1,
    (DC, "date"): 2, (DCTERMS, "date"): 2, ("", "date"): 2,
    (MODS, "dateIssued"): 3, ("", "dateIssued"): 3, (DCTERMS, "issued"): 3,
}
_KEY_DATE_RANK = 0
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_DECADE = re.compile(r"(?<!\d)(\d{3})[-?xXu](?![\d])")
_NS_SEP = "\x1f"  # an expat namespace separator that cannot occur in a URI or a name


class MetadataError(PhotodemoError):
    """An XML sidecar that cannot be read: malformed, a DOCTYPE, too big, unreadable."""


class Metadata(NamedTuple):
    """What a sidecar says about dates: the year (None when unusable) and the date texts found."""

    year: Optional[int]
    dates: Tuple[str, ...]  # best first, as written (stripped); empty when the record has none


def year_from_text(text: str) -> Optional[int]:
    """The year a catalogue date means, or None when it names none (see the module docstring)."""
    for match in _YEAR.finditer(text):
        year = int(match.group(1))
        if MIN_YEAR <= year <= max_year():
            return year
    match = _DECADE.search(text)
    if match and MIN_YEAR <= int(match.group(1)) * 10 <= max_year():
        return int(match.group(1)) * 10
    return None


class _Refused(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def _collect(data: bytes) -> List[Tuple[int, bool, int, str]]:
    """(rank, is_end_point, order, text) of every date element in DATA; raises expat errors."""
    parser = expat.ParserCreate(namespace_separator=_NS_SEP)
    found: List[Tuple[int, bool, int, str]] = []
    open_dates: List[Tuple[int, bool, List[str]]] = []  # date elements being read (they may nest)
    depth_of: List[bool] = []  # per open element: is it a date element?

    def refuse_doctype(name, *_):
        raise _Refused("DOCTYPE declarations are not accepted (<!DOCTYPE {}>)".format(name))

    def refuse_entity(name, *_):
        raise _Refused("ENTITY declarations are not accepted (<!ENTITY {}>)".format(name))

    def start(tag, attributes):
        namespace, _, local = tag.rpartition(_NS_SEP)
        rank = _RANKS.get((namespace, local))
        if len(depth_of) >= MAX_DEPTH:
            raise _Refused("elements nested more than {} deep".format(MAX_DEPTH))
        if rank is not None and len(open_dates) >= MAX_DATE_DEPTH:
            raise _Refused("date elements nested more than {} deep".format(MAX_DATE_DEPTH))
        depth_of.append(rank is not None)
        if rank is not None:
            if attributes.get("keyDate") == "yes":
                rank = _KEY_DATE_RANK
            open_dates.append((rank, attributes.get("point") == "end", [], [0]))

    def end(tag):
        if depth_of.pop():
            rank, end_point, parts, _ = open_dates.pop()
            found.append((rank, end_point, len(found), " ".join("".join(parts).split())))

    def text(data):
        for _, _, parts, length in open_dates:
            if length[0] < MAX_DATE_CHARS:
                parts.append(data[:MAX_DATE_CHARS - length[0]])
                length[0] += len(parts[-1])

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.buffer_text = True  # one call per run of text, not one per line
    parser.Parse(data, True)
    return found


def parse(data: bytes, name: str = "<xml>") -> Metadata:
    """The dates in the XML document DATA; MetadataError naming NAME when it cannot be read."""
    if len(data) > MAX_BYTES:
        raise MetadataError("{}: too big for an XML sidecar ({} bytes; at most {})".format(
            name, len(data), MAX_BYTES))
    try:
        found = _collect(data)
    except _Refused as exc:
        raise MetadataError("{}: refused XML: {}".format(name, exc.what)) from None
    except expat.ExpatError as exc:
        raise MetadataError("{}: malformed XML (line {}): {}".format(
            name, exc.lineno, expat.ErrorString(exc.code))) from None
    except LookupError as exc:  # an encoding declared in the XML declaration that Python lacks
        raise MetadataError("{}: cannot read its XML: {}".format(name, exc)) from None
    except Exception as exc:  # whatever else crafted XML makes expat raise: this sidecar's problem
        raise MetadataError("{}: cannot read its XML: {}: {}".format(name, type(exc).__name__, exc)) from None
    dates = tuple(text for _, _, _, text in sorted(found) if text)
    return Metadata(_first_year(dates), dates)


def _first_year(dates: Iterable[str]) -> Optional[int]:
    for text in dates:
        year = year_from_text(text)
        if year is not None:
            return year
    return None


def read(path: str) -> Metadata:
    """The dates in the XML sidecar at PATH; MetadataError naming PATH when it cannot be read."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise MetadataError("{}: cannot read: {}".format(path, exc.strerror or exc)) from None
    return parse(data, path)
