"""The luminance metrics: decode a photo with Pillow and reduce it to one number in 0..1.

- `perceived` (default, the tutorial's "luminance2", kept bit-for-bit): per-band RMS of all
  pixels as Pillow's ImageStat computes it; one band: rms/256; RGB:
  sqrt(0.241 r^2 + 0.691 g^2 + 0.068 b^2)/256.
- `luma`: mean ITU-R BT.601 luma, (0.299 R + 0.587 G + 0.114 B)/255 (one band: mean/255).
- `relative`: mean CIE relative luminance Y of linearized sRGB, 0.2126 R + 0.7152 G + 0.0722 B
  after the sRGB transfer function is undone (one band: the band linearized).

Every metric works on an 8-bit L or RGB image. Other modes are converted first, where the
tutorial crashed or printed nonsense: CMYK, YCbCr, P, RGBA, RGBX, LAB, HSV -> RGB; LA, 1 -> L;
PA -> RGB (alpha is ignored, never composited); 16-bit and 32-bit integer grayscale (I;16*, I)
-> L as round(v * 255/65535); float grayscale (F) -> L as round(v * 255) when its values are
within 0..1, else round(v).
"""

import io
import math
import warnings
from typing import NamedTuple

from PIL import Image, ImageStat

from luminance.results import DEFAULT_METRIC, METRICS  # the names belong to the results schema

__all__ = ["METRICS", "DEFAULT_METRIC", "Measurement", "NotAnImage", "measure", "luminance",
           "to_rgb_or_l"]

# A decompression bomb is an error, not a warning: one such photo must not exhaust a worker.
warnings.simplefilter("error", Image.DecompressionBombWarning)


class NotAnImage(Exception):
    """The bytes are not a photo Pillow can decode; the message says why (a permanent failure)."""


class Measurement(NamedTuple):
    luminance: float
    width: int
    height: int
    mode: str  # the mode of the file as decoded, before any conversion


def _srgb_to_linear(value: int) -> float:
    c = value / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


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
        return math.sqrt(0.241 * r * r + 0.691 * g * g + 0.068 * b * b) / 256
    if metric == "luma":
        mean = ImageStat.Stat(image).mean
        if len(mean) == 1:
            return mean[0] / 255
        return (0.299 * mean[0] + 0.587 * mean[1] + 0.114 * mean[2]) / 255
    if metric == "relative":
        # Y is linear in the linearized bands, so its mean is the weighted mean of each band's
        # linearized histogram: exact, and no per-pixel work in Python.
        histogram = image.histogram()
        count = image.width * image.height
        bands = [sum(n * _LINEAR[v] for v, n in enumerate(histogram[i:i + 256])) / count
                 for i in range(0, len(histogram), 256)]
        if len(bands) == 1:
            return bands[0]
        return 0.2126 * bands[0] + 0.7152 * bands[1] + 0.0722 * bands[2]
    raise ValueError("unknown metric {!r} (choose from {})".format(metric, ", ".join(METRICS)))


def measure(data: bytes, metric: str = DEFAULT_METRIC) -> Measurement:
    """Decode DATA (an image file's bytes) and measure it. Raises NotAnImage."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            mode = image.mode
            limit = Image.MAX_IMAGE_PIXELS
            if limit and image.width * image.height > limit:
                # Pillow only warns between the limit and twice it; a job refuses the photo.
                raise Image.DecompressionBombError("{}x{} = {} pixels exceeds the limit of {}".format(
                    image.width, image.height, image.width * image.height, limit))
            # Hand the decoder the whole file in one call: one GIL release for the whole decode,
            # instead of one per 64 KiB block, each of which must win the GIL back from the
            # fetch threads.
            image.decodermaxblock = max(len(data), 65536)
            image.load()
            value = luminance(to_rgb_or_l(image), metric)
            return Measurement(value, image.width, image.height, mode)
    except Image.UnidentifiedImageError:
        raise NotAnImage("not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise NotAnImage("image over the pixel limit: {}".format(_first_sentence(exc))) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise NotAnImage("cannot decode image: {}".format(_first_sentence(exc))) from None


def _first_sentence(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.split(". ")[0].rstrip(".")
