"""The sample archive: N synthetic archive photos (JPEG) with one Dublin Core XML sidecar each.

    python -m photodemo.archive OUTDIR [--count 300] [--seed 1] [--jobs N]

Laid out like the tutorial's archive (`series1/apf1-00001r.jpg` + `series1/apf1-00001r.xml`),
with the series and years of the tutorial's 5,576-photo manifest (photodemo/years.txt): a sample
of N of them, all of them at N = 5,576. The photos look like scans of old prints: 1-5 megapixels,
grayscale, sepia or colour (colour only after the 1930s), baseline or progressive, a few CMYK, with
gradients, vignetting, shapes, grain, dust and scratches, and an exposure that rises with the year
(older prints are darker), so the demo's scatter plot shows a trend through the noise. Some
sidecar dates are messy the way catalogues are ("ca. 1925", "1890s", "1901-05-03", none at all).

Deterministic: the same count, seed and Pillow give the same bytes (every random draw comes from
random.Random(seed); no timestamps are written). Drawing happens at low resolution and is scaled
up, so 300 photos take well under a minute.
"""

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

from luminance.core import command
from luminance.core.arguments import whole_number
from luminance.core.errors import EXIT_OK, EXIT_USAGE, UsageError

__all__ = ["PhotoSpec", "load_years", "plan", "render", "sidecar_xml", "write_photo", "generate",
           "read_stamp", "main", "DEFAULT_COUNT", "DEFAULT_SEED", "MAX_COUNT", "STAMP_NAME",
           "GENERATOR_VERSION"]

HERE = os.path.dirname(os.path.abspath(__file__))
YEARS_FILE = os.path.join(HERE, "years.txt")
DEFAULT_COUNT = 300
DEFAULT_SEED = 1
MAX_COUNT = 5576  # the tutorial's manifest: a bigger sample would repeat its photos
STAMP_NAME = ".photodemo-archive.json"
# Bump whenever a change makes the same seed draw different photos, so cached archives
# (make demo's demo/archive) are regenerated instead of silently reused.
GENERATOR_VERSION = 1
JPEG_QUALITY = 80
BASE_WIDTH = 240  # drawing resolution before the scale-up to 1-5 megapixels
DC_NS = "http://purl.org/dc/elements/1.1/"

EXIT_CODES = {EXIT_OK: "archive written", EXIT_USAGE: "bad option, OUTDIR not empty or not writable"}


class PhotoSpec(NamedTuple):
    """Everything that decides one photo and its sidecar; render(spec) draws the same pixels each time."""

    path: str  # relative, with '/': series1/apf1-00001r (no extension)
    identifier: str
    title: str
    year: int  # the year the picture was "taken": drives its exposure
    date: Optional[str]  # dc:date as catalogued (messy on purpose); None: no dc:date element
    look: str  # gray | sepia | colour
    cmyk: bool
    progressive: bool
    width: int
    height: int
    seed: int


def load_years(path: str = YEARS_FILE) -> List[Tuple[str, int, int]]:
    """(series, year, count) rows of the tutorial manifest's distribution."""
    rows = []
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.strip() and not line.startswith("#"):
                series, year, count = line.split()
                rows.append((series, int(year), int(count)))
    return rows


# -- planning: which photos, named how, dated how -------------------------------------------------

_PLACES = ("Cobb Hall", "Harper Library", "the Main Quadrangle", "Hull Gate", "Bartlett Gymnasium",
           "Mandel Hall", "Rockefeller Chapel", "the Midway Plaisance", "Ryerson Laboratory",
           "Stagg Field", "Ida Noyes Hall", "the Oriental Institute", "Botany Pond",
           "the Reynolds Club", "Kent Chemical Laboratory", "Swift Hall", "Regenstein Library")
_SUBJECTS = ("Students in front of {p}", "{p}, exterior", "{p}, interior view", "Faculty at {p}",
             "Commencement procession near {p}", "Football team at {p}", "Construction of {p}",
             "View of {p} from the south", "Snow on {p}", "Visitors & guests at {p}",
             "Reception in {p}", "Laboratory class, {p}", "Portrait taken at {p}")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def _catalogue_date(rng: random.Random, year: int) -> Optional[str]:
    """How a cataloguer wrote YEAR: mostly plain, sometimes approximate, a decade, or a full date."""
    roll = rng.random()
    if roll < 0.62:
        return str(year)
    if roll < 0.70:
        return rng.choice(("ca. {}", "circa {}", "[{}?]", "c. {}")).format(year)
    if roll < 0.75:
        return "{}s".format(year // 10 * 10)
    if roll < 0.90:
        return "{}-{:02d}-{:02d}".format(year, rng.randint(1, 12), rng.randint(1, 28))
    if roll < 0.95:
        return "{} {}, {}".format(rng.choice(_MONTHS), rng.randint(1, 28), year)
    if roll < 0.985:
        return "{}-{:02d}".format(year, rng.randint(1, 12))
    return rng.choice((None, "undated", "n.d."))


def _look(rng: random.Random, year: int) -> str:
    """Colour film is rare before the 1940s and the rule after the 1970s; sepia toning is old."""
    colour = min(max((year - 1938) / 40, 0.0), 0.9)
    if rng.random() < colour:
        return "colour"
    sepia = 0.65 if year < 1915 else 0.3 if year < 1945 else 0.08
    return "sepia" if rng.random() < sepia else "gray"


def _size(rng: random.Random) -> Tuple[int, int]:
    """1-5 megapixels, mostly small like web derivatives; print formats, portrait or landscape."""
    megapixels = rng.triangular(1.0, 5.0, 1.4)
    aspect = rng.choice((1.25, 1.33, 1.4, 1.5, 1.5, 1.0))
    long_side = math.sqrt(megapixels * 1e6 * aspect)
    width, height = int(long_side), int(long_side / aspect)
    return (width, height) if rng.random() < 0.65 else (height, width)


def plan(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED,
         years: Optional[Sequence[Tuple[str, int, int]]] = None) -> List[PhotoSpec]:
    """The COUNT photos of the archive for SEED, sorted by path: a sample of the tutorial's photos."""
    rows = load_years() if years is None else years
    population = [(series, year) for series, year, n in rows for _ in range(n)]
    if not 1 <= count <= len(population):
        raise ValueError("count must be 1..{}, got {}".format(len(population), count))
    rng = random.Random(seed)
    chosen = rng.sample(population, count)
    by_series: Dict[str, List[int]] = {}
    for series, year in chosen:
        by_series.setdefault(series, []).append(year)
    undated = rng.randrange(count) if count > 1 else -1  # at least one photo the catalogue never dated
    specs = []
    number = 0
    for series in sorted(by_series):
        prefix = "apf" + series[len("series"):]
        item, parts, part = 0, 0, 0
        for year in by_series[series]:
            if part < parts:  # the next print of a multi-part item: apf7-06046-002r
                part += 1
                name = "{}-{:05d}-{:03d}r".format(prefix, item, part)
            else:
                item += rng.randint(1, 4)
                parts = rng.randint(2, 4) if rng.random() < 0.08 else 0
                part = 1 if parts else 0
                name = ("{}-{:05d}-001r" if parts else "{}-{:05d}r").format(prefix, item)
            title = rng.choice(_SUBJECTS).format(p=rng.choice(_PLACES))
            date = None if number == undated else _catalogue_date(rng, year)
            width, height = _size(rng)
            specs.append(PhotoSpec(
                path="{}/{}".format(series, name), identifier=name, title=title, year=year,
                date=date, look=_look(rng, year), cmyk=rng.random() < 0.03,
                progressive=rng.random() < 0.3, width=width, height=height,
                seed=rng.getrandbits(64)))
            number += 1
    return sorted(specs, key=lambda spec: spec.path)


# -- drawing ---------------------------------------------------------------------------------------

def _exposure(rng: random.Random, year: int) -> float:
    """Target mean brightness (0-1): dark old prints, brighter modern ones, plus print-to-print noise."""
    trend = 0.28 + 0.34 * (year - 1860) / (2001 - 1860)
    return min(max(trend + rng.gauss(0, 0.06), 0.1), 0.85)


def _scene(rng: random.Random, size: Tuple[int, int], colour: bool):
    """A small drawing of a building, a portrait, a group or a landscape, in RGB."""
    from PIL import ImageDraw

    def tone(gray: int, hue: Tuple[int, int, int]) -> Tuple[int, int, int]:
        if not colour:
            return (gray, gray, gray)
        jitter = rng.randint(-20, 20)
        return tuple(min(max(c + jitter, 0), 255) for c in hue)

    image, horizon = _backdrop(rng, size, tone)
    draw = ImageDraw.Draw(image)
    kind = rng.choice(("building", "building", "portrait", "group", "landscape"))
    _DRAW[kind](rng, tone, image, draw, horizon)
    return image


def _backdrop(rng: random.Random, size: Tuple[int, int], tone):
    """A sky and the ground, each a vertical gradient, and where they meet: (image, horizon)."""
    from PIL import Image

    width, height = size
    horizon = int(height * rng.uniform(0.45, 0.7))
    sky = Image.linear_gradient("L").resize((width, horizon))
    image = Image.new("RGB", size, tone(90, (80, 90, 70)))
    sky_top = tone(rng.randint(150, 230), (120, 160, 215))
    sky_bottom = tone(rng.randint(120, 200), (200, 215, 230))
    image.paste(Image.merge("RGB", [sky.point(lambda v, a=a, b=b: a + (b - a) * v // 255)
                                    for a, b in zip(sky_top, sky_bottom)]), (0, 0))
    ground = Image.linear_gradient("L").resize((width, height - horizon))
    ground_top = tone(rng.randint(70, 130), (90, 110, 60))
    ground_bottom = tone(rng.randint(30, 90), (60, 70, 40))
    image.paste(Image.merge("RGB", [ground.point(lambda v, a=a, b=b: a + (b - a) * v // 255)
                                    for a, b in zip(ground_top, ground_bottom)]), (0, horizon))
    return image, horizon


def _building(rng: random.Random, tone, image, draw, horizon: int) -> None:
    width, height = image.size
    for _ in range(rng.randint(1, 3)):
        left = rng.randint(-width // 5, width * 3 // 4)
        right = left + rng.randint(width // 4, width * 2 // 3)
        top = rng.randint(height // 8, horizon - height // 10)
        wall = tone(rng.randint(60, 170), rng.choice(((150, 80, 60), (170, 160, 140), (120, 110, 100))))
        draw.rectangle((left, top, right, horizon + height // 20), fill=wall)
        if rng.random() < 0.5:  # a gable or a tower
            draw.polygon(((left, top), (right, top), ((left + right) // 2, top - height // 8)),
                         fill=tone(rng.randint(40, 100), (90, 60, 50)))
        window = tone(rng.randint(10, 60), (40, 40, 50))
        step_x, step_y = rng.randint(8, 16), rng.randint(10, 18)
        for y in range(top + 6, horizon - 6, step_y):
            for x in range(left + 5, right - 5, step_x):
                draw.rectangle((x, y, x + step_x // 3, y + step_y // 2), fill=window)


def _portrait(rng: random.Random, tone, image, draw, horizon: int) -> None:
    width, height = size = image.size
    image.paste(tone(rng.randint(90, 200), (150, 140, 120)), (0, 0) + size)
    cx, cy, r = width // 2 + rng.randint(-width // 10, width // 10), height * 2 // 5, min(size) // 6
    draw.polygon(((cx - 3 * r, height), (cx - r, cy + r), (cx + r, cy + r), (cx + 3 * r, height)),
                 fill=tone(rng.randint(15, 70), (40, 40, 60)))
    skin, hair = tone(rng.randint(150, 220), (220, 180, 150)), tone(rng.randint(20, 80), (60, 40, 30))
    draw.ellipse((cx - r, cy - int(1.3 * r), cx + r, cy + int(1.1 * r)), fill=skin)
    draw.chord((cx - r, cy - int(1.4 * r), cx + r, cy + r // 2), 180, 360, fill=hair)


def _group(rng: random.Random, tone, image, draw, horizon: int) -> None:
    width = image.size[0]
    people = rng.randint(4, 12)
    r = max(width // (people * 3), 3)
    for row in range(rng.randint(1, 3)):
        base = horizon + row * 3 * r
        for i in range(people):
            cx = int((i + 0.5 + rng.uniform(-0.2, 0.2)) * width / people)
            coat = tone(rng.randint(10, 90), rng.choice(((40, 40, 60), (90, 70, 50), (160, 40, 40))))
            draw.rectangle((cx - int(1.3 * r), base, cx + int(1.3 * r), base + 4 * r), fill=coat)
            skin = tone(rng.randint(140, 220), (220, 180, 150))
            draw.ellipse((cx - r, base - 2 * r, cx + r, base), fill=skin)


def _landscape(rng: random.Random, tone, image, draw, horizon: int) -> None:
    width, height = image.size
    for _ in range(rng.randint(3, 9)):
        cx, r = rng.randint(0, width), rng.randint(height // 14, height // 5)
        draw.line((cx, horizon, cx, horizon - r), fill=tone(40, (70, 50, 30)), width=max(r // 6, 1))
        draw.ellipse((cx - r, horizon - 2 * r, cx + r, horizon - r // 3),
                     fill=tone(rng.randint(30, 110), (50, 100, 40)))
    draw.polygon(((width // 2, height), (width // 2 + width // 5, height), (width // 2 + 4, horizon),
                  (width // 2 - 4, horizon)), fill=tone(rng.randint(120, 180), (170, 150, 120)))


_DRAW = {"building": _building, "portrait": _portrait, "group": _group, "landscape": _landscape}


def _vignette(size: Tuple[int, int], strength: float):
    """A multiplier image: 255 in the middle, darker toward the corners as old lenses and prints are."""
    from PIL import Image

    radial = Image.radial_gradient("L").resize(size)  # 0 at the centre, 255 at the rim
    return radial.point(lambda v: int(255 - strength * min(v, 255) ** 2 / 255))


def _expose(image, target: float):
    """IMAGE with a gamma curve that brings its mean brightness to TARGET (0-1)."""
    from PIL import ImageStat

    mean = ImageStat.Stat(image.convert("L")).mean[0] / 255
    mean = min(max(mean, 0.02), 0.98)
    gamma = math.log(target) / math.log(mean)
    lut = [int(255 * (v / 255) ** gamma + 0.5) for v in range(256)]
    return image.point(lut * len(image.getbands()))


def render(spec: PhotoSpec):
    """The photo SPEC describes, as a Pillow image in its final mode (L, RGB or CMYK)."""
    from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

    rng = random.Random(spec.seed)
    width, height = spec.width, spec.height
    small = (BASE_WIDTH, max(int(BASE_WIDTH * height / width), 8))
    image = _scene(rng, small, spec.look == "colour")
    # Uneven development and stains: blotches a few cells across, blended in.
    blotches = Image.frombytes("L", (7, 5), rng.randbytes(35)).resize(small, Image.BICUBIC)
    if image.mode == "RGB":
        blotches = Image.merge("RGB", [blotches] * 3)
    image = Image.blend(image, blotches, rng.uniform(0.05, 0.2))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    if spec.look == "colour" and spec.year < 1990:  # faded dyes: a colour cast
        cast = [rng.uniform(0.85, 1.1) for _ in range(3)]
        image = Image.merge("RGB", [band.point(lambda v, k=k: min(int(v * k), 255))
                                    for band, k in zip(image.split(), cast)])
    if spec.look != "colour":
        image = image.convert("L")
    # Old prints lose contrast: pull the tones toward a middle gray before exposing.
    fade = min(max((1950 - spec.year) / 300, 0.0), 0.35) + rng.uniform(0, 0.1)
    image = Image.blend(image, Image.new(image.mode, small, (128,) * len(image.getbands())), fade)
    vignette = _vignette(small, rng.uniform(0.15, 0.6))
    if image.mode == "RGB":
        vignette = Image.merge("RGB", [vignette] * 3)
    image = ImageChops.multiply(image, vignette)
    image = _expose(image, _exposure(rng, spec.year))
    image = image.resize((width, height), Image.BICUBIC)

    # Film grain: uniform noise at half resolution, scaled up (grain clumps), added signed.
    amplitude = rng.randint(6, 16) if spec.year < 1950 else rng.randint(3, 9)
    half = (max(width // 2, 1), max(height // 2, 1))
    grain = Image.frombytes("L", half, rng.randbytes(half[0] * half[1]))
    grain = grain.point(lambda v: v * 2 * amplitude // 255).resize((width, height), Image.BILINEAR)
    if image.mode == "RGB":
        grain = Image.merge("RGB", [grain] * 3)
    image = ImageChops.add(image, grain, 1.0, -amplitude)

    draw = ImageDraw.Draw(image)  # dust and scratches on the print or the scanner glass
    white, black = (255,) * len(image.getbands()), (0,) * len(image.getbands())
    scratch = (rng.randint(170, 230),) * len(image.getbands())
    for _ in range(rng.randint(0, 12)):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randint(1, 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.choice((white, black)))
    for _ in range(rng.randint(0, 3) if spec.year < 1960 else 0):
        x = rng.randrange(width)
        draw.line((x, 0, x + rng.randint(-width // 20, width // 20), height), fill=scratch, width=1)

    if spec.look == "sepia":
        image = ImageOps.colorize(image, black=(rng.randint(30, 50), rng.randint(18, 28), 10),
                                  white=(255, rng.randint(236, 246), rng.randint(200, 220)))
    if rng.random() < 0.25:  # scanned with the print's white border
        border = max(width, height) // rng.randint(25, 60)
        image = ImageOps.expand(image, border, fill=(244, 240, 228) if image.mode == "RGB" else 240)
        image = image.resize((width, height), Image.BILINEAR)
    if spec.cmyk:
        image = image.convert("RGB").convert("CMYK")
    return image


# -- writing ----------------------------------------------------------------------------------------

def sidecar_xml(spec: PhotoSpec) -> str:
    """The Dublin Core record of SPEC's photo."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<metadata xmlns:dc="{}">'.format(DC_NS),
             "  <dc:identifier>{}</dc:identifier>".format(escape(spec.identifier)),
             "  <dc:title>{}</dc:title>".format(escape(spec.title))]
    if spec.date is not None:
        lines.append("  <dc:date>{}</dc:date>".format(escape(spec.date)))
    lines += ["  <dc:type>StillImage</dc:type>",
              "  <dc:format>image/jpeg</dc:format>",
              "  <dc:source>photodemo sample archive, {}</dc:source>".format(
                  escape(spec.path.split("/")[0])),
              "  <dc:rights>Synthetic image drawn by photodemo.archive; no rights reserved.</dc:rights>",
              "</metadata>", ""]
    return "\n".join(lines)


def write_photo(outdir: str, spec: PhotoSpec) -> str:
    """Write SPEC's JPEG and XML sidecar under OUTDIR; return the JPEG's path."""
    base = os.path.join(outdir, *spec.path.split("/"))
    os.makedirs(os.path.dirname(base), exist_ok=True)
    image = render(spec)
    image.save(base + ".jpg", "JPEG", quality=JPEG_QUALITY, progressive=spec.progressive,
               optimize=spec.progressive)
    with open(base + ".xml", "w", encoding="utf-8", newline="\n") as stream:
        stream.write(sidecar_xml(spec))
    return base + ".jpg"


def _write_all(outdir: str, specs: Sequence[PhotoSpec], jobs: int,
               progress: Optional[Callable[[int, int], None]]) -> None:
    if jobs <= 1:
        for done, spec in enumerate(specs, start=1):
            write_photo(outdir, spec)
            if progress:
                progress(done, len(specs))
        return
    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(write_photo, outdir, spec) for spec in specs]
        for done, future in enumerate(futures, start=1):
            future.result()
            if progress:
                progress(done, len(specs))
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C or a failure: draw no more photos
        raise
    pool.shutdown()


def read_stamp(outdir: str) -> Optional[Dict[str, int]]:
    """What made the archive in OUTDIR ({generator, count, seed}), or None when it has no stamp."""
    try:
        with open(os.path.join(outdir, STAMP_NAME), encoding="utf-8") as stream:
            stamp = json.load(stream)
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def generate(outdir: str, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED,
             jobs: Optional[int] = None,
             progress: Optional[Callable[[int, int], None]] = None) -> List[PhotoSpec]:
    """Write the archive into OUTDIR (absent or empty): all or nothing, stamped last.

    Photos are drawn into a temporary sibling directory renamed into place at the end, so an
    interrupted run leaves no half archive that a cache could mistake for a whole one.
    """
    specs = plan(count, seed)
    outdir = os.path.abspath(outdir)
    if os.path.exists(outdir):
        if not os.path.isdir(outdir) or os.listdir(outdir):
            raise FileExistsError("{}: exists and is not an empty directory".format(outdir))
    parent = os.path.dirname(outdir)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".{}.".format(os.path.basename(outdir)), suffix=".tmp", dir=parent)
    try:
        jobs = jobs or min(os.cpu_count() or 1, 8)
        _write_all(work, specs, jobs, progress)
        with open(os.path.join(work, STAMP_NAME), "w", encoding="utf-8") as stream:
            json.dump({"generator": GENERATOR_VERSION, "count": count, "seed": seed}, stream)
            stream.write("\n")
        os.chmod(work, 0o755)  # mkdtemp's 0700 would hide the archive from a web server's user
        if os.path.isdir(outdir):
            os.rmdir(outdir)
        os.rename(work, outdir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return specs


def _progress_printer(stream) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if stream.isatty():
            stream.write("\rarchive: {}/{} photos".format(done, total) + ("\n" if done == total else ""))
            stream.flush()
        elif done == total or done % 100 == 0:
            stream.write("archive: {}/{} photos\n".format(done, total))
    return show


def parser() -> argparse.ArgumentParser:
    parser = command.Parser(
        "archive", "python -m photodemo.archive",
        description="Write a sample photo archive: JPEG scans with Dublin Core XML sidecars,\n"
                    "years distributed like the tutorial's manifest.",
        exit_codes=EXIT_CODES)
    parser.add_argument("outdir", metavar="OUTDIR",
                        help="where to write the archive (must not exist, or be empty)")
    parser.add_argument("--count", type=whole_number(1, MAX_COUNT), default=DEFAULT_COUNT, metavar="N",
                        help="number of photos, 1..{} (default: %(default)s)".format(MAX_COUNT))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                        help="random seed: the same seed gives the same archive (default: %(default)s)")
    parser.add_argument("--jobs", type=whole_number(1), default=None, metavar="N",
                        help="photos drawn at once (default: the CPU count, at most 8)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    return command.run(parser(), _main, argv)


def _main(args: argparse.Namespace) -> int:
    try:
        specs = generate(args.outdir, args.count, args.seed, args.jobs, _progress_printer(sys.stderr))
    except (FileExistsError, PermissionError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError("{}: {}".format(args.outdir, exc.strerror or exc)) from None
    undated = sum(1 for spec in specs if spec.date is None)
    print("{}: {} photos with XML sidecars ({} without a date), seed {}".format(
        args.outdir, len(specs), undated, args.seed))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
