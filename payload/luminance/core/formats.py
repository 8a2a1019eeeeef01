"""The photo formats the job decodes, defined once: Pillow's id, the name people know, the file
names that hold them.

The job opens only these (metrics.py hands Pillow the ids), ./make-manifest lists only files
with these extensions, and the job's --help and the docs name them from here. Stdlib only:
./make-manifest runs on a bare python3.
"""

from typing import NamedTuple, Tuple

__all__ = ["Format", "FORMATS", "PILLOW_IDS", "NAMES", "EXTENSIONS", "named"]


class Format(NamedTuple):
    """One photo format."""

    pillow: str  # Pillow's format id: what Image.open(formats=...) takes
    name: str  # the format's name for people
    extensions: Tuple[str, ...]  # lower case, as Pillow registers them for the format


# Archive formats only: every other format Pillow knows is refused before its plugin sees more
# than the first bytes (EPS runs Ghostscript on what the server sent, and rarely used plugins are
# where crafted files find bugs). AVIF stays last: Pillow before 11.2 has no plugin for it.
FORMATS = (
    Format("JPEG", "JPEG", (".jpg", ".jpeg", ".jpe", ".jfif")),
    Format("PNG", "PNG", (".png", ".apng")),
    Format("TIFF", "TIFF", (".tif", ".tiff")),
    Format("JPEG2000", "JPEG 2000", (".jp2", ".j2k", ".j2c", ".jpc", ".jpf", ".jpx")),
    Format("WEBP", "WebP", (".webp",)),
    Format("GIF", "GIF", (".gif",)),
    Format("BMP", "BMP", (".bmp",)),
    Format("AVIF", "AVIF", (".avif", ".avifs")),
)
PILLOW_IDS = tuple(f.pillow for f in FORMATS)
NAMES = tuple(f.name for f in FORMATS)
EXTENSIONS = tuple(extension for f in FORMATS for extension in f.extensions)


def named(conjunction: str = "and") -> str:
    """The formats' names as a sentence lists them: `JPEG, PNG, ... BMP and AVIF`."""
    return "{} {} {}".format(", ".join(NAMES[:-1]), conjunction, NAMES[-1])
