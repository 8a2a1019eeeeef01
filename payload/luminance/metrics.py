"""The luminance metrics: decode a photo with Pillow and reduce it to one number in 0..1.

The metrics and their weights are defined in formulas.py: `perceived` (default, the tutorial's
"luminance2", kept bit-for-bit, over Pillow's ImageStat), `luma` and `relative`.

Every metric works on an 8-bit L or RGB image. Other modes are converted first, where the
tutorial crashed or printed nonsense: CMYK, YCbCr, P, RGBA, RGBX, LAB, HSV -> RGB; LA, 1 -> L;
PA -> RGB (alpha is ignored, never composited); 16-bit and 32-bit integer grayscale (I;16*, I)
-> L as round(v * 255/65535); float grayscale (F) -> L as round(v * 255) when its values are
within 0..1, else round(v).
"""

import io
import logging
import math
import time
import warnings
from contextlib import contextmanager
from typing import Iterator, NamedTuple, Optional, Tuple

from PIL import Image, ImageStat, features

from luminance.core import formats, formulas
from luminance.core.limits import Limits
from luminance.memory import UNLIMITED, Claim, Evicted, NeverFits, megabytes
from luminance.core.results import DEFAULT_METRIC, METRICS  # the names belong to the results schema

__all__ = ["METRICS", "DEFAULT_METRIC", "Measurement", "NotAnImage", "Limits", "Opened",
           "FORMATS", "measure", "luminance", "to_rgb_or_l", "decode_bytes"]

FORMATS = formats.PILLOW_IDS  # only these are opened (formats.py says why)
_FORMAT_NAMES = ", ".join(formats.NAMES)
# Pillow before 11.2 has no AVIF plugin, and Image.open raises KeyError for an id it lacks.
_OPENED = FORMATS if "avif" in features.modules else FORMATS[:-1]

# The job checks the pixel limit itself (Limits.max_pixels), so that its message quotes the
# job's limit: Pillow's own check only warns up to twice its limit, then quotes twice it.
Image.MAX_IMAGE_PIXELS = None
# Pillow warns and logs about damage it reads past (corrupt EXIF, a TIFF tag with too many
# entries). The photo still decodes, or fails as that photo's recorded failure; the job's stderr is
# one line per failed photo, which Python's warnings (two lines, once per place in Pillow) and the
# logging module's last-resort handler (a line per message) would break.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
logging.getLogger("PIL").addHandler(logging.NullHandler())
logging.getLogger("PIL").propagate = False

DECODE_BLOCK = 1 << 20  # bytes handed to the decoder at once; the deadline is checked between


class NotAnImage(Exception):
    """The bytes are not a photo the job decodes; the message says why (a permanent failure)."""


class Measurement(NamedTuple):
    luminance: float
    width: int
    height: int
    mode: str  # the mode of the file as decoded, before any conversion


def _srgb_to_linear(value: int) -> float:
    return formulas.srgb_to_linear(value / 255.0)


_LINEAR = [_srgb_to_linear(v) for v in range(256)]


def to_rgb_or_l(image: Image.Image) -> Image.Image:
    """IMAGE as an 8-bit L or RGB image (see the module docstring for each mode's rule)."""
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode in ("1", "LA"):
        return image.convert("L")
    if mode == "PA":
        return image.convert("RGBA").convert("RGB")
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I;16N, I
        scaled = image.convert("I").point(lambda v: v * (255 / 65535) + 0.5)
        return scaled.convert("L")
    if mode == "F":
        low, high = image.getextrema()
        scale = 255.0 if high <= 1.0 else 1.0
        return image.point(lambda v: v * scale + 0.5).convert("L")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise NotAnImage("unsupported image mode {} ({})".format(mode, exc)) from None


def luminance(image: Image.Image, metric: str = DEFAULT_METRIC) -> float:
    """The METRIC luminance, in 0..1, of an 8-bit L or RGB IMAGE."""
    if metric == "perceived":
        rms = ImageStat.Stat(image).rms
        if len(rms) == 1:
            return rms[0] / 256
        r, g, b = rms[:3]
        wr, wg, wb = formulas.PERCEIVED
        return math.sqrt(wr * r * r + wg * g * g + wb * b * b) / 256
    if metric == "luma":
        mean = ImageStat.Stat(image).mean
        if len(mean) == 1:
            return mean[0] / 255
        return sum(w * m for w, m in zip(formulas.LUMA, mean)) / 255
    if metric == "relative":
        # Y is linear in the linearized bands, so its mean is the weighted mean of each band's
        # linearized histogram: exact, and no per-pixel work in Python.
        histogram = image.histogram()
        count = image.width * image.height
        bands = [sum(n * _LINEAR[v] for v, n in enumerate(histogram[i:i + 256])) / count
                 for i in range(0, len(histogram), 256)]
        if len(bands) == 1:
            return bands[0]
        return sum(w * band for w, band in zip(formulas.RELATIVE, bands))
    raise ValueError("unknown metric {!r} (choose from {})".format(metric, ", ".join(METRICS)))


# Bytes per pixel of what a decode holds at its peak, beyond the image itself: what to_rgb_or_l
# makes on the way to L or RGB, and the buffers of decoders that hold a whole image of their own.
_STORED = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}  # else 4
_CONVERTED = {"L": 0, "RGB": 0, "1": 1, "LA": 1, "PA": 8, "F": 5}  # I*: 9; else 4 (an RGB copy)
_DECODER = {"JPEG2000": 6, "WEBP": 16, "AVIF": 16}  # JPEG 2000: per band (openjpeg's int32s)
_OVERHEAD = 16 << 20  # the decoder libraries' own buffers, malloc's slack


def decode_bytes(image: Image.Image) -> int:
    """About how many bytes decoding and measuring the opened IMAGE takes at its peak: a bound
    measured for each format (tests/test_metrics.py runs each in a process and reads its peak)."""
    mode, bands = image.mode, len(image.getbands())
    per_pixel = _STORED.get(mode, 4) + _CONVERTED.get(mode, 9 if mode.startswith("I") else 4)
    extra = _DECODER.get(image.format, 0)
    if image.format == "JPEG2000":
        extra *= bands
    elif image.format in ("JPEG", "MPO") and image.info.get("progressive"):
        extra = 3 * bands  # libjpeg keeps every DCT coefficient (two bytes each) for the scans
    elif image.format == "TIFF":
        extra = _STORED.get(mode, 4)  # libtiff may read a whole strip or tile first
    return image.width * image.height * (per_pixel + extra) + _OVERHEAD


class _Deadline(io.BytesIO):
    """A photo's bytes that stop being readable once its decoding thread has used its CPU time.

    Pillow's decoders read their input block by block (DECODE_BLOCK), so a decode that runs too
    long stops at its next block; the flag tells it apart from a broken file."""

    def __init__(self, data: bytes, seconds: float):
        super().__init__(data)
        self.seconds = seconds
        self.began: Optional[float] = None
        self.expired = False

    def read(self, size: Optional[int] = -1) -> bytes:
        if self.began is not None and time.thread_time() - self.began > self.seconds:
            self.expired = True
            raise NotAnImage("decoding took more than {:g} s of CPU (the job's limit)".format(
                self.seconds))
        return super().read(size)


def _check(image: Image.Image, data: bytes, limits: Limits) -> Tuple[int, str]:
    """(bytes its decode needs, a description) of an opened IMAGE within LIMITS, else NotAnImage."""
    pixels = image.width * image.height
    what = "{}x{} {} {}".format(image.width, image.height, image.mode, image.format)
    if pixels > limits.max_pixels:
        raise NotAnImage("image over the pixel limit: {} = {} pixels, the job's limit is {}".format(
            what, pixels, limits.max_pixels))
    if image.format in ("JPEG", "MPO"):
        scans = data.count(b"\xff\xda")  # SOS markers: 0xFF in entropy-coded data is escaped
        if scans > limits.max_scans:
            raise NotAnImage("JPEG with {} scans, the job's limit is {}".format(scans, limits.max_scans))
    return decode_bytes(image), what


class Opened:
    """A photo's bytes opened (only its header read) and checked against the limits: `need` is
    about what decoding and measuring it takes (decode_bytes). Opened where the photo arrived, so
    that its memory is claimed before it waits for a decoder; measured by a decoder thread."""

    def __init__(self, data: bytes, limits: Limits = Limits()):
        self.data, self.limits = data, limits
        self.stream = _Deadline(data, limits.decode_seconds)
        with self._failures():
            self.image = Image.open(self.stream, formats=_OPENED)
            self.mode = self.image.mode  # as decoded, before any conversion
            try:
                self.need, self.what = _check(self.image, data, limits)
            except BaseException:
                self.image.close()
                raise

    def claim(self, claim: Claim) -> None:
        """Grow CLAIM, which holds the photo's bytes, by what its decode needs (waiting for room).
        NotAnImage when it could never fit; memory.Evicted from the claim, as its grow raises."""
        try:
            claim.grow(self.need)
        except NeverFits as exc:
            self.close()
            raise NotAnImage("too big to decode in the job's memory: {} needs about {} MB with its "
                             "file, the job has {} MB for photos".format(
                                 self.what, megabytes(exc.need), megabytes(exc.total))) from None
        except Evicted:
            self.close()
            raise

    def measure(self, metric: str = DEFAULT_METRIC) -> Measurement:
        """Decode and measure the photo, then close it. Raises NotAnImage."""
        image = self.image
        try:
            with self._failures():
                self.stream.began = time.thread_time()
                image.decodermaxblock = DECODE_BLOCK
                image.load()
                value = luminance(to_rgb_or_l(image), metric)
                return Measurement(value, image.width, image.height, self.mode)
        finally:
            self.close()

    def close(self) -> None:
        self.image.close()

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """Whatever a decoder raises as NotAnImage: a crafted file may make any decoder raise any
        exception, and it is that photo's failure."""
        try:
            yield
        except NotAnImage:
            raise
        except Image.UnidentifiedImageError:
            raise NotAnImage("not an image in a supported photo format ({})".format(_FORMAT_NAMES)) from None
        except Exception as exc:
            if self.stream.expired:
                raise NotAnImage("decoding took more than {:g} s of CPU (the job's limit)".format(
                    self.limits.decode_seconds)) from None
            if isinstance(exc, (OSError, SyntaxError, ValueError, EOFError)):  # Pillow's decode errors
                raise NotAnImage("cannot decode image: {}".format(_first_sentence(exc))) from None
            raise NotAnImage("cannot decode image: {}: {}".format(
                type(exc).__name__, _first_sentence(exc))) from None


def measure(data: bytes, metric: str = DEFAULT_METRIC, limits: Limits = Limits(),
            claim: Optional[Claim] = None) -> Measurement:
    """Decode DATA (an image file's bytes) and measure it, its decode held in CLAIM (default:
    unbounded) while it runs. Raises NotAnImage, whatever went wrong."""
    opened = Opened(data, limits)
    claim = claim or UNLIMITED.claim()
    opened.claim(claim)
    try:
        return opened.measure(metric)
    finally:
        claim.shrink(opened.need)


def _first_sentence(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.split(". ")[0].rstrip(".")
