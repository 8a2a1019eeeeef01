"""What one photo may cost a job: its download (bytes, time, retries), pixels, decoding CPU time,
JPEG scans, and the memory the decoders share, with their defaults. Stdlib only (./submit states the
defaults in its help).

The job's memory is HTCondor's `request_memory`, which the job ad in the sandbox carries
(`RequestMemory = 1024`, in MB, in the file named by $_CONDOR_JOB_AD); else the slot's `Memory`
from the machine ad ($_CONDOR_MACHINE_AD); else DEFAULT_MEMORY_MB. What the photos hold (bodies
being fetched, waiting for a decoder, decompressed, and decodes: memory.py) may be all of it but
BASE_MB, what the job holds before any photo (docs/memory.md).
"""

from typing import NamedTuple

from luminance.core import ads

__all__ = ["Limits", "DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "DEFAULT_DEADLINE", "DEFAULT_RETRIES",
           "DEFAULT_MAX_PIXELS", "DEFAULT_DECODE_SECONDS", "MAX_JPEG_SCANS",
           "DEFAULT_MEMORY_MB", "BASE_MB", "job_memory_mb", "photo_budget"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # one photo's body
DEFAULT_TIMEOUT = 30.0  # seconds to connect, and between two reads of one response
# One photo's whole download (its tries; a federation's discovery, director, caches): a 64 MiB
# photo at 250 kB/s still arrives.
DEFAULT_DEADLINE = 300.0
DEFAULT_RETRIES = 4  # of a transient failure, with exponential backoff
DEFAULT_MAX_PIXELS = 89478485  # Pillow's decompression-bomb limit (a 1 GiB RGBA image / 3)
DEFAULT_DECODE_SECONDS = 30.0  # CPU seconds; a photo of the pixel limit decodes in a few
MAX_JPEG_SCANS = 100  # a progressive JPEG has about ten; each scan is a pass over the image
DEFAULT_MEMORY_MB = 1024  # HTCondor's usual request_memory, and ./submit's default
# The job before its photos: the interpreter, Pillow and requests imported, the fetch and decoder
# threads, malloc's arenas. The largest peak RSS measured of a job of small photos, with room for
# a Python or a Pillow that takes more (docs/memory.md; `make bench` measures it).
BASE_MB = 112
MIN_PHOTOS_MB = 16  # the photos' share when --memory leaves less: small photos still go through


class Limits(NamedTuple):
    """What one photo's decode may take."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    decode_seconds: float = DEFAULT_DECODE_SECONDS  # CPU seconds of the decoding thread
    max_scans: int = MAX_JPEG_SCANS


def job_memory_mb() -> int:
    """The memory this job has, in MB (see the module docstring)."""
    return (ads.integer(ads.JOB_AD, "RequestMemory") or ads.integer(ads.MACHINE_AD, "Memory")
            or DEFAULT_MEMORY_MB)


def photo_budget(memory_mb: int) -> int:
    """Bytes all photos together may hold in a job of MEMORY_MB."""
    return max(MIN_PHOTOS_MB, memory_mb - BASE_MB) << 20
