"""Each metric against an independent per-pixel computation, and every image mode we convert."""

import io
import json
import math
import os
import random
import subprocess
import sys
import time

import pytest
from PIL import Image

import hostile
from pixels import independent, pixels_of
from conftest import ROOT
from luminance import memory, metrics
from photodemo import images


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


def test_pixel_limit_is_the_jobs_and_quoted():
    # No warning filter: the job's own check is the one that runs, whatever Pillow's limit is.
    limits = metrics.Limits(max_pixels=1000)
    with pytest.raises(metrics.NotAnImage, match=r"over the pixel limit: 40x30 RGB JPEG = 1200 "
                                                 r"pixels, the job's limit is 1000$"):
        metrics.measure(images.jpeg(40, 30), limits=limits)  # over the limit, under twice it
    with pytest.raises(metrics.NotAnImage, match="the job's limit is 1000$"):
        metrics.measure(images.jpeg(80, 60), limits=limits)  # above twice it: Pillow's would say 2000
    assert metrics.measure(images.jpeg(40, 25), limits=limits).width == 40  # 1000: at the limit


# Hostile input: whatever the bytes, measure returns a Measurement or raises NotAnImage.

@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's, about the damage; see below
def test_fuzzed_files_of_every_format_never_escape():
    # A fixed-seed fuzzing pass: mutants of small valid files of every format the job decodes,
    # and of formats it refuses (whose decoders raised ZeroDivisionError, IndexError,
    # NotImplementedError on such files).
    rng = random.Random(14)
    escaped = {}
    limits = metrics.Limits(max_pixels=4_000_000, decode_seconds=2.0)
    for name, data in hostile.seeds().items():
        for mutant in hostile.mutants(data, rng, 250):
            try:
                metrics.measure(mutant, limits=limits)
            except metrics.NotAnImage as exc:
                assert str(exc)
            except Exception as exc:  # noqa: BLE001 -- what the test looks for
                escaped.setdefault((name, type(exc).__name__), str(exc))
    assert not escaped


def test_an_unexpected_decoder_exception_names_its_type(monkeypatch):
    # A bug in a plugin is that photo's failure, with the exception's type in the reason.
    from PIL import JpegImagePlugin

    def broken(self):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load_prepare", broken)
    with pytest.raises(metrics.NotAnImage, match="^cannot decode image: ZeroDivisionError: "):
        metrics.measure(images.jpeg(16, 16))


@pytest.mark.parametrize("name", ["jpeg", "jpeg-progressive", "png-16bit", "tiff-lzw", "jp2", "j2k",
                                  "webp", "gif", "bmp", "avif"])
def test_archive_formats_are_decoded(name):
    seeds = hostile.seeds()
    if name not in seeds:
        pytest.skip("this Pillow has no {}".format(name))
    assert metrics.measure(seeds[name]).width == 24


@pytest.mark.parametrize("name", ["dds", "qoi", "blp", "tga", "ico"])
def test_other_formats_are_refused(name):
    with pytest.raises(metrics.NotAnImage, match="not an image in a supported photo format"):
        metrics.measure(hostile.seeds()[name])


def test_eps_never_starts_ghostscript(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin
    marker = tmp_path / "gs-ran"
    gs = tmp_path / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text("#!/bin/sh\ntouch '{}'\nexit 1\n".format(marker))
    gs.chmod(0o755)
    monkeypatch.setenv("PATH", "{}:{}".format(gs.parent, os.environ.get("PATH", "")))
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # Pillow looks gs up once, then caches
    monkeypatch.setattr(EpsImagePlugin, "gs_windows_binary", None)
    eps = images.encode(images.photo(16, 16), "EPS")
    with pytest.raises(metrics.NotAnImage, match="not an image in a supported photo format"):
        metrics.measure(eps)
    assert not marker.exists()


def test_a_jpeg_with_too_many_scans_is_refused_before_decoding():
    data = hostile.progressive_jpeg(metrics.Limits().max_scans + 1)
    began = time.process_time()
    with pytest.raises(metrics.NotAnImage, match=r"^JPEG with 101 scans, the job's limit is 100$"):
        metrics.measure(data)
    assert metrics.measure(hostile.progressive_jpeg(metrics.Limits().max_scans)).width == 32
    assert time.process_time() - began < 5  # a generous bound: refusing costs no decoding


def test_decoding_stops_at_its_cpu_deadline():
    # 1 MiB blocks: the deadline is checked before each; this PNG is a few of them.
    data = images.encode(Image.effect_noise((1200, 1200), 80).convert("RGB"), "PNG", compress_level=0)
    assert len(data) > 3 * metrics.DECODE_BLOCK
    with pytest.raises(metrics.NotAnImage, match=r"^decoding took more than 1e-06 s of CPU"):
        metrics.measure(data, limits=metrics.Limits(decode_seconds=1e-6))
    assert metrics.measure(data).width == 1200


def test_a_decode_claims_its_need_and_gives_it_back():
    data = images.jpeg(400, 300)
    budget = memory.Budget(64 << 20)
    with budget.claim() as claim:
        assert metrics.measure(data, claim=claim).width == 400
        assert claim.held == 0
    opened = metrics.Opened(data)
    assert budget.peak == opened.need == metrics.decode_bytes(opened.image)
    opened.close()
    small = memory.Budget(opened.need - 1)
    with pytest.raises(metrics.NotAnImage, match=r"^too big to decode in the job's memory: 400x300 "
                                                 r"RGB JPEG needs about 17 MB with its file, the job "
                                                 r"has 17 MB for photos$"):
        metrics.measure(data, claim=small.claim())
    assert small.used == 0


_PEAK = """
import json, sys
from luminance import memory, metrics

def high_water_mark():  # this process's peak RSS in bytes (ru_maxrss would count the parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) * 1024

data = open(sys.argv[1], "rb").read()
from PIL import Image
import io
estimate = metrics.decode_bytes(Image.open(io.BytesIO(data)))
before = high_water_mark()
try:
    outcome = "measured {}".format(metrics.measure(data, claim=memory.Budget(int(sys.argv[2])).claim()).width)
except metrics.NotAnImage as exc:
    outcome = str(exc)
print(json.dumps({"outcome": outcome, "estimate": estimate, "grew": high_water_mark() - before}))
"""

MIB = 1 << 20


def decode_in_a_process(path, budget):
    """measure() in a fresh process (its own peak RSS): outcome, estimate, peak RSS growth."""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "payload"))
    proc = subprocess.run([sys.executable, "-c", _PEAK, str(path), str(budget)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("kind, make", [
    ("JPEG 2000, 445 bytes", lambda: hostile.j2k(3000, 3000)),
    ("WebP, 38 bytes", lambda: hostile.webp(4000, 4000)),
    ("16-bit grey PNG", lambda: hostile.png(4000, 4000, 16, 0)),
    ("RGBA PNG", lambda: hostile.png(4500, 4500, 8, 6)),
    ("progressive JPEG", lambda: images.encode(Image.effect_noise((3800, 3800), 60).convert("RGB"),
                                               "JPEG", progressive=True, subsampling=0)),
])
def test_a_decode_stays_within_the_memory_budget(kind, make, tmp_path):
    # Small files that decode to far more than their size. Under a 128 MiB budget each is
    # refused before its decoder allocates; under 1 GiB each is decoded, and the process grew by
    # no more than the estimate it reserved: so the decoders together never pass their budget.
    path = tmp_path / "photo"
    path.write_bytes(make())
    refused = decode_in_a_process(path, 128 * MIB)
    assert refused["outcome"].startswith("too big to decode in the job's memory"), refused
    assert refused["grew"] < 16 * MIB, refused
    decoded = decode_in_a_process(path, 1024 * MIB)
    assert decoded["outcome"].startswith("measured"), decoded
    assert 128 * MIB < decoded["grew"] <= decoded["estimate"], decoded


def test_pillow_warnings_on_damaged_files_stay_off_the_jobs_stderr():
    # A job's stderr is one line per failed photo: Pillow's warnings about damage it reads past
    # (corrupt EXIF, odd TIFF tags) must not add lines. In a fresh process, as a job imports it
    # (pytest collects imports inside its own warning filters, so this is not seen in-process).
    script = """
import random, sys
sys.path[:0] = [{tests!r}]
import photodemo, hostile
from luminance import memory, metrics
rng = random.Random(14)
limits = metrics.Limits(max_pixels=4_000_000, decode_seconds=2.0)
for data in [hostile.seeds()["tiff"]]:
    for mutant in hostile.mutants(data, rng, 250):
        try:
            metrics.measure(mutant, limits=limits)
        except metrics.NotAnImage:
            pass
""".format(tests=os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
