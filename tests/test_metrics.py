"""Each metric against an independent per-pixel computation, and every image mode we convert."""

import io
import math

import pytest
from PIL import Image

from luminance import metrics
from photodemo import images


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


@pytest.mark.parametrize("metric", metrics.METRICS)
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_metric_matches_independent_computation(metric, mode):
    data = images.jpeg(80, 60, mode=mode, seed=3)
    decoded = Image.open(io.BytesIO(data))
    measured = metrics.measure(data, metric)
    assert measured.luminance == pytest.approx(independent(pixels_of(decoded), metric), abs=1e-9)
    assert (measured.width, measured.height, measured.mode) == (80, 60, mode)
    assert 0 <= measured.luminance <= 1


def test_perceived_is_the_tutorials_formula_at_six_decimals():
    # luminance2 from the tutorial, verbatim in substance: ImageStat rms, the 0.241/0.691/0.068 mix.
    from PIL import ImageStat
    data = images.jpeg(120, 90, seed=11)
    image = Image.open(io.BytesIO(data))
    r, g, b = ImageStat.Stat(image).rms
    tutorial = "%f" % (math.sqrt(0.241 * r ** 2 + 0.691 * g ** 2 + 0.068 * b ** 2) / 256)
    assert "%f" % metrics.measure(data).luminance == tutorial


@pytest.mark.parametrize("mode, fmt, as_rgb_or_l", [
    ("CMYK", "JPEG", lambda im: im.convert("RGB")),
    ("P", "PNG", lambda im: im.convert("RGB")),
    ("RGBA", "PNG", lambda im: Image.merge("RGB", im.split()[:3])),
    ("LA", "PNG", lambda im: im.split()[0]),
    ("1", "PNG", lambda im: im.convert("L")),
    ("I;16", "PNG", lambda im: Image.frombytes("L", im.size, bytes(
        min(255, int(v * 255 / 65535 + 0.5)) for v in im.getdata()))),
])
@pytest.mark.parametrize("metric", ["perceived", "luma"])
def test_other_modes_are_converted_first(mode, fmt, as_rgb_or_l, metric):
    data = images.encode(images.photo(48, 32, mode=mode, seed=5), fmt)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == mode
    expected = independent(pixels_of(as_rgb_or_l(decoded)), metric)
    measured = metrics.measure(data, metric)
    assert measured.luminance == pytest.approx(expected, abs=1e-9)
    assert measured.mode == mode


def test_float_images_in_unit_range_are_scaled_to_8_bit():
    image = Image.new("F", (2, 2))
    image.putdata([0.0, 0.25, 0.5, 1.0])
    assert metrics.luminance(metrics.to_rgb_or_l(image)) == pytest.approx(
        math.sqrt((0 + 64 ** 2 + 128 ** 2 + 255 ** 2) / 4) / 256)


def test_not_an_image():
    with pytest.raises(metrics.NotAnImage, match="not an image"):
        metrics.measure(b"<html><body>Not found</body></html>")


def test_truncated_jpeg_is_not_measured():
    data = images.jpeg(200, 150)
    with pytest.raises(metrics.NotAnImage, match="truncated"):
        metrics.measure(data[: len(data) // 2])


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pixel_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(metrics.NotAnImage, match="over the pixel limit"):
        metrics.measure(images.jpeg(40, 30))  # 1200 pixels: over the limit, under twice it
    with pytest.raises(metrics.NotAnImage, match="over the pixel limit"):
        metrics.measure(images.jpeg(80, 60))  # Pillow's hard error above twice the limit
