"""make-manifest: a manifest (`URL YEAR` per photo) from a directory of photos with XML sidecars.

    make-manifest ARCHIVE [--base-url URL] [--output FILE] [--skip-undated]

Each photo (a file of a format the job decodes, by its extension in any case: luminance.core.formats)
takes its year from the sidecar next to it: `NAME.xml` (or `NAME.jpg.xml`), read by photodemo.metadata.
Its URL is the base URL plus its path below ARCHIVE, each part URL-quoted; without --base-url it
is the photo's own file:// URL. A photo without a sidecar, with a malformed one or without a
usable date is named on stderr and written with `?` as its year (or left out with
--skip-undated); nothing else is lost. Records come in sorted path order, so the same archive
always gives the same manifest. Hidden files and directories (names starting with '.') are skipped.
"""

import argparse
import os
import pathlib
import sys
import urllib.parse
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from luminance.core import command, files, formats
from luminance.core.errors import EXIT_OK, EXIT_USAGE, UsageError
from luminance.core.manifest import MIN_YEAR, SCHEMES, format_record, max_year, printable
from photodemo import metadata

__all__ = ["Photo", "find_photos", "sidecar_for", "photo_url", "scan", "manifest_text",
           "write_atomically", "main"]

PROG = "make-manifest"

EXIT_CODES = {
    EXIT_OK: "manifest written (undated photos are reported on stderr, not errors)",
    EXIT_USAGE: "ARCHIVE missing or without photos, bad --base-url, unwritable --output",
}


class Photo(NamedTuple):
    """One photo of the archive, as it goes into the manifest."""

    path: str  # below the archive, with '/'
    url: str
    year: Optional[int]
    problem: Optional[str]  # why the year is unknown (no sidecar, malformed, no date); None if dated


def find_photos(root: str) -> List[str]:
    """Paths (with '/') of the photos below ROOT, sorted part by part, hidden names skipped."""
    found = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [name for name in subdirs if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in formats.EXTENSIONS:
                found.append(os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/"))
    return sorted(found, key=lambda path: path.split("/"))


def sidecar_for(root: str, path: str) -> Optional[str]:
    """The XML sidecar of the photo at PATH below ROOT: NAME.xml, NAME.XML or NAME.jpg.xml."""
    photo = os.path.join(root, *path.split("/"))
    stem = os.path.splitext(photo)[0]
    for candidate in (stem + ".xml", stem + ".XML", photo + ".xml"):
        if os.path.isfile(candidate):
            return candidate
    return None


def photo_url(root: str, path: str, base_url: Optional[str]) -> str:
    """The URL of the photo at PATH below ROOT: BASE_URL/quoted/path, or its file:// URL."""
    if base_url is None:
        return pathlib.Path(os.path.abspath(os.path.join(root, *path.split("/")))).as_uri()
    # A name's bytes are quoted, not its text: a name that is not UTF-8 (Latin-1 from an old
    # archive) keeps its bytes, as the file:// URL does (pathlib quotes the bytes too).
    quoted = "/".join(urllib.parse.quote(os.fsencode(part), safe="") for part in path.split("/"))
    # Only the path's trailing slashes go: osdf:/// (the whole federation) keeps its "://".
    scheme, separator, rest = base_url.partition("://")
    return scheme + separator + rest.rstrip("/") + "/" + quoted


def check_base_url(base_url: str) -> str:
    """BASE_URL if the manifest and the payload can use it, else UsageError."""
    scheme = urllib.parse.urlsplit(base_url).scheme.lower()
    if scheme not in SCHEMES or "://" not in base_url:
        raise UsageError("--base-url {!r}: not a URL the payload fetches ({})".format(
            base_url, ", ".join(s + "://" for s in SCHEMES)))
    if any(c.isspace() for c in base_url):
        raise UsageError("--base-url {!r}: a manifest URL cannot hold whitespace".format(base_url))
    return base_url


def _describe(path: str) -> Tuple[Optional[int], Optional[str]]:
    """(year, problem) of the sidecar at PATH."""
    try:
        found = metadata.read(path)
    except metadata.MetadataError as exc:
        return None, str(exc)
    if found.year is not None:
        return found.year, None
    if found.dates:
        return None, "{}: no year from {} to {} in its date {!r}".format(
            path, MIN_YEAR, max_year(), found.dates[0][:80])
    return None, "{}: no date element (dc:date, dateCreated, dateIssued)".format(path)


def scan(root: str, base_url: Optional[str] = None) -> List[Photo]:
    """Every photo below ROOT with its URL and year (None, with the problem, when unknown)."""
    if not os.path.isdir(root):
        raise UsageError("{}: not a directory".format(root))
    photos = []
    for path in find_photos(root):
        sidecar = sidecar_for(root, path)
        if sidecar is None:
            year, problem = None, "{}: no XML sidecar".format(os.path.join(root, path))
        else:
            year, problem = _describe(sidecar)
        photos.append(Photo(path, photo_url(root, path, base_url), year, problem))
    if not photos:
        raise UsageError("{}: no photos found ({} files)".format(root, formats.named("or")))
    return photos


def manifest_text(photos: Sequence[Photo], skip_undated: bool = False) -> str:
    """The manifest for PHOTOS: one `URL YEAR` record each (undated ones `?`, or left out)."""
    return "".join(format_record(photo.url, photo.year) for photo in photos
                   if photo.year is not None or not skip_undated)


def write_atomically(path: str, text: str) -> None:
    """Write TEXT to PATH through a temporary file renamed into place: never half a file."""
    try:
        files.write_atomically(path, text)
    except OSError as exc:
        raise UsageError("{}: cannot write: {}".format(path, exc.strerror or exc)) from None


def report(photos: Sequence[Photo], skip_undated: bool, warn: Callable[[str], None]) -> None:
    """One warning per undated photo, then a one-line count."""
    fate = "left out (--skip-undated)" if skip_undated else "written with year ?"
    undated = [photo for photo in photos if photo.year is None]
    for photo in undated:
        warn("warning: {}; {}".format(photo.problem, fate))
    summary = "{} photo{}, {} dated".format(len(photos), "" if len(photos) == 1 else "s",
                                          len(photos) - len(undated))
    if undated:
        summary += ", {} undated ({})".format(len(undated), fate)
    warn(summary)


def make_parser() -> argparse.ArgumentParser:
    parser = command.Parser(
        PROG, "./" + PROG,
        description="Write a photodemo manifest (one 'URL YEAR' line per photo) for a directory\n"
                    "of photos with XML metadata sidecars (Dublin Core dc:date, MODS\n"
                    "dateCreated/dateIssued). Photos without a usable year are named on stderr.",
        exit_codes=EXIT_CODES)
    parser.add_argument("archive", metavar="ARCHIVE", help="directory of photos and their NAME.xml sidecars")
    parser.add_argument("--base-url", metavar="URL", default=None,
                        help="URL where ARCHIVE is served; a photo's URL is URL/its/path "
                             "(default: each photo's file:// URL)")
    parser.add_argument("--output", "-o", metavar="FILE", default=None,
                        help="write the manifest to FILE, atomically (default: standard output)")
    parser.add_argument("--skip-undated", action="store_true",
                        help="leave out photos without a usable year instead of writing '?' "
                             "(default: write them with '?')")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    return command.run(make_parser(), _main, argv)


def _warn(message: str) -> None:  # a file name that is not UTF-8 shows its bytes as \xNN
    sys.stderr.write("{}: {}\n".format(PROG, printable(message)))


def _main(args: argparse.Namespace) -> int:
    base_url = None if args.base_url is None else check_base_url(args.base_url)
    photos = scan(args.archive, base_url)
    text = manifest_text(photos, args.skip_undated)
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomically(args.output, text)
    report(photos, args.skip_undated, _warn)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
