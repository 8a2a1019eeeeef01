"""What one photo may cost a job: pixels, decoding CPU time, JPEG scans, and the memory the
decoders share, with their defaults. Stdlib only (./submit states the defaults in its help).

The job's memory is HTCondor's `request_memory`, which the job ad in the sandbox carries
(`RequestMemory = 1024`, in MB, in the file named by $_CONDOR_JOB_AD); else the slot's `Memory`
from the machine ad ($_CONDOR_MACHINE_AD); else DEFAULT_MEMORY_MB. The decoders together may hold
all of it but RESERVE_MB, which is left for Python, the libraries and the photo bodies in flight.
"""

import os
import re
from typing import NamedTuple, Optional

__all__ = ["Limits", "DEFAULT_MAX_PIXELS", "DEFAULT_DECODE_SECONDS", "MAX_JPEG_SCANS",
           "DEFAULT_MEMORY_MB", "RESERVE_MB", "job_memory_mb", "decode_budget"]

DEFAULT_MAX_PIXELS = 89478485  # Pillow's decompression-bomb limit (a 1 GiB RGBA image / 3)
DEFAULT_DECODE_SECONDS = 30.0  # CPU seconds; a photo of the pixel limit decodes in a few
MAX_JPEG_SCANS = 100  # a progressive JPEG has about ten; each scan is a pass over the image
DEFAULT_MEMORY_MB = 1024  # HTCondor's usual request_memory, and ./submit's default
RESERVE_MB = 256
MIN_BUDGET_MB = 64

_INTEGER = re.compile(r"\s*(\d+)\s*$")


class Limits(NamedTuple):
    """What one photo's decode may take."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    decode_seconds: float = DEFAULT_DECODE_SECONDS  # CPU seconds of the decoding thread
    max_scans: int = MAX_JPEG_SCANS


def _ad_integer(path: Optional[str], attribute: str) -> Optional[int]:
    """ATTRIBUTE of the ClassAd file at PATH when it is a plain integer (not an expression)."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                name, _, value = line.partition("=")
                if name.strip().lower() == attribute.lower():
                    match = _INTEGER.match(value)
                    return int(match.group(1)) if match and int(match.group(1)) > 0 else None
    except OSError:
        return None
    return None


def job_memory_mb() -> int:
    """The memory this job has, in MB (see the module docstring)."""
    return (_ad_integer(os.environ.get("_CONDOR_JOB_AD"), "RequestMemory")
            or _ad_integer(os.environ.get("_CONDOR_MACHINE_AD"), "Memory")
            or DEFAULT_MEMORY_MB)


def decode_budget(memory_mb: int) -> int:
    """Bytes all decoders together may hold in a job of MEMORY_MB."""
    return max(MIN_BUDGET_MB, memory_mb - RESERVE_MB) << 20
