"""The metrics computed pixel by pixel, independently of luminance.metrics: what its tests
compare the job's values with."""

import math


def srgb_linear(v):
    c = v / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def independent(pixels, metric):
    """The metric computed pixel by pixel from a list of per-pixel band tuples (0..255)."""
    n = len(pixels)
    bands = list(zip(*pixels))
    if metric == "perceived":
        rms = [math.sqrt(sum(v * v for v in band) / n) for band in bands]
        if len(rms) == 1:
            return rms[0] / 256
        return math.sqrt(0.241 * rms[0] ** 2 + 0.691 * rms[1] ** 2 + 0.068 * rms[2] ** 2) / 256
    if metric == "luma":
        if len(bands) == 1:
            return sum(bands[0]) / n / 255
        return sum(0.299 * r + 0.587 * g + 0.114 * b for r, g, b in pixels) / n / 255
    if len(bands) == 1:
        return sum(srgb_linear(v) for v in bands[0]) / n
    return sum(0.2126 * srgb_linear(r) + 0.7152 * srgb_linear(g) + 0.0722 * srgb_linear(b)
               for r, g, b in pixels) / n


def pixels_of(image):
    data = list(image.getdata())
    return [p if isinstance(p, tuple) else (p,) for p in data]
