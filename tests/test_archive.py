"""The sample archive generator: the tutorial's year distribution, deterministic bytes, photos that
look like varied scans whose luminance rises with the year, and sidecars the metadata reader reads."""

import collections
import hashlib
import math
import os
import re

import pytest
from PIL import Image, ImageStat

from photodemo import archive, metadata


def luminance(image):
    """The tutorial's metric: RMS per band, weighted for colour."""
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    rms = ImageStat.Stat(image).rms
    if len(rms) == 1:
        return rms[0] / 256
    return math.sqrt(0.241 * rms[0] ** 2 + 0.691 * rms[1] ** 2 + 0.068 * rms[2] ** 2) / 256


def digest(directory):
    """{relative path: sha256} of every file below DIRECTORY."""
    found = {}
    for parent, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(parent, name)
            with open(path, "rb") as stream:
                found[os.path.relpath(path, directory)] = hashlib.sha256(stream.read()).hexdigest()
    return found


def test_years_file_is_the_tutorial_distribution():
    rows = archive.load_years()
    assert sum(n for _, _, n in rows) == archive.MAX_COUNT == 5576
    years = [year for _, year, _ in rows]
    assert min(years) == 1860 and max(years) == 2001
    assert {series for series, _, _ in rows} == {"series1", "series6", "series7"}
    per_year = collections.Counter()
    for _, year, n in rows:
        per_year[year] += n
    assert per_year[1992] == 384 and per_year[1901] == 256  # the peaks of the real manifest


def test_all_photos_reproduce_the_distribution_exactly():
    specs = archive.plan(archive.MAX_COUNT, seed=3)
    drawn = collections.Counter((spec.path.split("/")[0], spec.year) for spec in specs)
    assert drawn == collections.Counter({(s, y): n for s, y, n in archive.load_years()})
    assert len({spec.path for spec in specs}) == len(specs)


def test_plan_is_deterministic_sorted_and_laid_out_like_the_tutorial():
    specs = archive.plan(300, seed=7)
    assert specs == archive.plan(300, seed=7)
    assert specs != archive.plan(300, seed=8)
    assert [spec.path for spec in specs] == sorted(spec.path for spec in specs)
    for spec in specs:
        assert re.fullmatch(r"series(\d)/apf\1-\d{5}(-\d{3})?r", spec.path), spec.path
        assert spec.identifier == spec.path.split("/")[1]
        assert 0.9e6 <= spec.width * spec.height <= 5.1e6
    # A sample, not the first N: years spread over the whole range.
    assert min(spec.year for spec in specs) < 1900 and max(spec.year for spec in specs) > 1990


def test_dates_are_messy_like_a_catalogue():
    dates = [spec.date for spec in archive.plan(300, seed=1)]
    assert None in dates  # at least one photo without a date
    assert any(d and re.fullmatch(r"(ca\.|circa|c\.) \d{4}", d) for d in dates)
    assert any(d and re.fullmatch(r"\d{3}0s", d) for d in dates)
    assert any(d and re.fullmatch(r"\d{4}-\d\d-\d\d", d) for d in dates)
    assert sum(1 for d in dates if d and re.fullmatch(r"\d{4}", d)) > 150
    assert archive.plan(2, seed=1)[0].date is None or archive.plan(2, seed=1)[1].date is None


def test_looks_sizes_and_encodings_vary():
    specs = archive.plan(1000, seed=1)
    looks = collections.Counter(spec.look for spec in specs)
    assert set(looks) == {"gray", "sepia", "colour"}
    assert all(spec.look != "colour" for spec in specs if spec.year < 1938)
    assert 0 < sum(spec.cmyk for spec in specs) < 100
    assert 100 < sum(spec.progressive for spec in specs) < 500
    megapixels = [spec.width * spec.height / 1e6 for spec in specs]
    assert min(megapixels) < 1.5 and max(megapixels) > 4


def test_bad_counts_are_refused(capsys):
    for count in (0, archive.MAX_COUNT + 1):
        with pytest.raises(ValueError):
            archive.plan(count)
        assert archive.main(["unused", "--count", str(count)]) == 2
        assert capsys.readouterr().err == (
            "archive: error: argument --count: must be 1..{}, got {} (see python -m "
            "photodemo.archive --help)\n".format(archive.MAX_COUNT, count))


def small(spec, **changes):
    """SPEC drawn small, so tests stay fast; the look is the same at any size."""
    return spec._replace(**dict({"width": 320, "height": 240}, **changes))


def test_photos_have_the_planned_mode_size_and_encoding(tmp_path):
    spec = small(archive.plan(50, seed=2)[0])
    cases = {"gray": ("L", False), "sepia": ("RGB", False), "colour": ("RGB", True)}
    for look, (mode, progressive) in cases.items():
        case = spec._replace(path="s/" + look, look=look, progressive=progressive, year=1950)
        with Image.open(archive.write_photo(str(tmp_path), case)) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", mode, (320, 240))
            assert bool(image.info.get("progressive")) == progressive
            assert "exif" not in image.info  # no timestamps
    with Image.open(archive.write_photo(str(tmp_path), spec._replace(path="s/cmyk", cmyk=True))) as image:
        assert image.mode == "CMYK"
    big = spec._replace(path="s/big", width=2400, height=1800)
    with Image.open(archive.write_photo(str(tmp_path), big)) as image:
        assert image.size == (2400, 1800)


def test_photos_have_structure_and_sepia_is_brown():
    spec = small(archive.plan(50, seed=2)[0], cmyk=False)
    for seed in range(8):
        image = archive.render(spec._replace(seed=seed, look="gray"))
        assert ImageStat.Stat(image).stddev[0] > 8, "flat, not a scene"
        # Grain: neighbouring pixels differ even in smooth areas.
        assert len(set(image.crop((0, 0, 40, 40)).getdata())) > 10
    red, green, blue = ImageStat.Stat(archive.render(spec._replace(look="sepia"))).mean
    assert red > green > blue


def test_luminance_rises_with_the_year():
    spec = small(archive.plan(50, seed=2)[0], width=160, height=120, cmyk=False)

    def mean_luminance(year):
        values = [luminance(archive.render(spec._replace(year=year, seed=seed, look=look)))
                  for seed in range(12) for look in ("gray", "sepia")]
        return sum(values) / len(values)

    old, middle, recent = mean_luminance(1870), mean_luminance(1935), mean_luminance(1995)
    assert old + 0.04 < middle < recent - 0.04, (old, middle, recent)


def test_sidecar_is_dublin_core_that_metadata_reads_back():
    for spec in archive.plan(300, seed=1):
        text = archive.sidecar_xml(spec)
        found = metadata.parse(text.encode("utf-8"), spec.path)
        assert "<dc:identifier>{}</dc:identifier>".format(spec.identifier) in text
        if spec.date is None:
            assert "<dc:date>" not in text and found.year is None
        else:
            assert found.dates == (spec.date,)
            assert found.year == metadata.year_from_text(spec.date)
            if found.year is not None:
                assert found.year in (spec.year, spec.year // 10 * 10)
    ampersand = archive.plan(1, seed=1)[0]._replace(title="Visitors & guests <1900>")
    assert "Visitors &amp; guests &lt;1900&gt;" in archive.sidecar_xml(ampersand)


def test_generate_is_deterministic_whatever_the_parallelism(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    specs = archive.generate(str(first), count=6, seed=11, jobs=1)
    archive.generate(str(second), count=6, seed=11, jobs=2)
    files = digest(str(first))
    assert files == digest(str(second))
    assert len(files) == 2 * 6 + 1
    for spec in specs:
        assert spec.path + ".jpg" in {p.replace(os.sep, "/") for p in files}
        assert spec.path + ".xml" in {p.replace(os.sep, "/") for p in files}
    stamp = {"generator": archive.GENERATOR_VERSION, "count": 6, "seed": 11}
    assert archive.read_stamp(str(first)) == stamp


def test_main_writes_an_archive_and_refuses_a_non_empty_outdir(tmp_path, capsys):
    out = tmp_path / "archive"
    assert archive.main([str(out), "--count", "3", "--seed", "5", "--jobs", "1"]) == 0
    assert "3 photos" in capsys.readouterr().out
    assert len(list(out.glob("series*/*.jpg"))) == 3
    assert archive.main([str(out), "--count", "3"]) == 2
    assert "not an empty directory" in capsys.readouterr().err


def test_an_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing(outdir, spec):
        calls.append(spec)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(outdir, spec)

    original = archive.write_photo
    monkeypatch.setattr(archive, "write_photo", failing)
    with pytest.raises(KeyboardInterrupt):
        archive.generate(str(tmp_path / "archive"), count=5, seed=1, jobs=1)
    assert os.listdir(str(tmp_path)) == []
