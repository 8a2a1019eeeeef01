"""make-manifest: photos + XML sidecars -> `URL YEAR` records, sorted, with every problem named."""

import os
import pathlib
import subprocess
import sys

import pytest

from luminance.core import manifest
from luminance.fetch import Fetcher
from luminance.core.manifest import iter_records
from photodemo import archive, images, metadata, mkmanifest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "make-manifest")


def dc(date=None):
    element = "<dc:date>{}</dc:date>".format(date) if date is not None else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
            "\n  <dc:title>t</dc:title>\n  {}\n</metadata>\n".format(element))


def make_archive(root, files):
    """FILES: {relative path: text or bytes}."""
    for path, content in files.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            full.write_bytes(content)
        else:
            full.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def photos(tmp_path):
    return make_archive(tmp_path / "photos", {
        "series1/b.jpg": b"jpeg", "series1/b.xml": dc("ca. 1925"),
        "series1/a.jpg": b"jpeg", "series1/a.xml": dc("1901-05-03"),
        "series10/c.JPG": b"jpeg", "series10/c.XML": dc("1890s"),
        "series2/d e.jpeg": b"jpeg", "series2/d e.jpeg.xml": dc("1950"),
        "series2/nodate.png": b"png", "series2/nodate.xml": dc(),
        "series2/undated.tif": b"tif", "series2/undated.xml": dc("undated"),
        "series2/noxml.jpg": b"jpeg",
        "series2/broken.jpg": b"jpeg",
        "series2/broken.xml": '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">\n<dc:date>1925</dc:dat>\n',
        "series2/notes.txt": "not a photo", "series2/lone.xml": dc("1999"),
        ".hidden/x.jpg": b"jpeg", "series2/.y.jpg": b"jpeg",
    })


def run_main(args, capsys):
    code = mkmanifest.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_records_sorted_quoted_and_dated(photos, capsys):
    code, out, err = run_main([photos, "--base-url", "http://127.0.0.1:8000/arch/"], capsys)
    assert code == 0
    base = "http://127.0.0.1:8000/arch/"
    assert out.splitlines() == [  # sorted path part by path part, as strings
        base + "series1/a.jpg 1901",
        base + "series1/b.jpg 1925",
        base + "series10/c.JPG 1890",
        base + "series2/broken.jpg ?",
        base + "series2/d%20e.jpeg 1950",
        base + "series2/nodate.png ?",
        base + "series2/noxml.jpg ?",
        base + "series2/undated.tif ?",
    ]
    records = list(iter_records(out.splitlines(keepends=True)))
    assert [r.error for r in records] == [None] * 8
    assert {r.url.rsplit("/", 1)[1]: r.year for r in records}["c.JPG"] == 1890


@pytest.mark.parametrize("base, first", [
    ("osdf:///", "osdf:///series1/a.jpg"),  # the federation's root alone
    ("osdf:///ospool/uw-shared/public/P//", "osdf:///ospool/uw-shared/public/P/series1/a.jpg"),
    ("pelican://fed.example.org/", "pelican://fed.example.org/series1/a.jpg"),
    ("file:///", "file:///series1/a.jpg"),
])
def test_a_base_url_of_a_root_keeps_its_slashes(photos, capsys, base, first):
    code, out, _ = run_main([photos, "--base-url", base], capsys)
    assert code == 0 and out.splitlines()[0] == first + " 1901"


def test_each_undated_photo_is_named_on_stderr(photos, capsys):
    code, _, err = run_main([photos, "--base-url", "http://h/"], capsys)
    assert code == 0
    lines = err.splitlines()
    broken = os.path.join(str(photos), "series2", "broken.xml")
    assert ("make-manifest: warning: {}: malformed XML (line 2): mismatched tag; written with year ?"
            .format(broken)) in lines
    assert any("series2/noxml.jpg: no XML sidecar" in line for line in lines)
    assert any("series2/nodate.xml: no date element" in line for line in lines)
    assert any("series2/undated.xml: no year from 1800 to {} in its date 'undated'".format(
        manifest.max_year()) in line for line in lines)
    assert lines[-1] == "make-manifest: 8 photos, 4 dated, 4 undated (written with year ?)"


def test_skip_undated_leaves_them_out(photos, capsys):
    code, out, err = run_main([photos, "--base-url", "http://h", "--skip-undated"], capsys)
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()] == ["1901", "1925", "1890", "1950"]
    assert out.startswith("http://h/series1/a.jpg 1901\n")
    assert "left out (--skip-undated)" in err


def test_default_urls_are_the_photos_file_urls(photos, capsys):
    code, out, _ = run_main([photos], capsys)
    assert code == 0
    first = out.splitlines()[0].split()[0]
    assert first == pathlib.Path(str(photos / "series1" / "a.jpg")).resolve().as_uri()
    assert " " not in out.replace(" ?\n", "\n").replace(" 1", "\n")  # spaces quoted: d%20e.jpeg


def test_output_file_is_written_whole(photos, tmp_path, capsys):
    target = tmp_path / "manifest.txt"
    target.write_text("old\n")
    code, out, _ = run_main([photos, "--base-url", "https://h", "--output", target], capsys)
    assert code == 0 and out == ""
    assert len(target.read_text().splitlines()) == 8
    assert sorted(os.listdir(str(tmp_path))) == ["manifest.txt", "photos"]  # no temporary left


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "missing: not a directory"),
    (["{empty}"], "empty: no photos found"),
    (["{photos}", "--base-url", "ftp://h/"], "not a URL the payload fetches"),
    (["{photos}", "--base-url", "http://h/a b"], "cannot hold whitespace"),
    (["{photos}", "--output", "{missing}/m.txt"], "m.txt: cannot write"),
])
def test_usage_errors_are_one_line_exit_2(photos, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    names = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "photos": photos}
    code, out, err = run_main([a.format(**names) for a in args], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("make-manifest: error: ") and message in err
    assert not (tmp_path / "missing").exists()


def test_generated_archive_round_trip(tmp_path, capsys):
    specs = archive.generate(str(tmp_path / "a"), count=8, seed=4, jobs=1)
    code, out, _ = run_main([tmp_path / "a", "--base-url", "http://h/x"], capsys)
    assert code == 0
    records = list(iter_records(out.splitlines(keepends=True)))
    assert [r.url for r in records] == ["http://h/x/{}.jpg".format(s.path) for s in specs]
    assert [r.year for r in records] == [metadata.year_from_text(s.date or "") for s in specs]


def test_the_script_runs_on_a_bare_python(photos, tmp_path):
    # As a user runs it: from anywhere, through its shebang, with no PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([SCRIPT, str(photos), "--base-url", "http://h/"], cwd=str(tmp_path), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "http://h/series1/a.jpg 1901"
    help_text = subprocess.run([sys.executable, SCRIPT, "--help"], stdout=subprocess.PIPE,
                               universal_newlines=True).stdout
    for option in ("--base-url", "--output", "--skip-undated", "exit codes:", "default"):
        assert option in help_text


def test_a_sidecar_in_an_unknown_encoding_is_a_warning_for_its_photo(photos, capsys):
    (photos / "series1" / "b.xml").write_text(
        '<?xml version="1.0" encoding="x-no-such"?><r><date>1925</date></r>')
    assert mkmanifest.main([str(photos), "--base-url", "http://h/"]) == 0
    out, err = capsys.readouterr()
    assert "http://h/series1/b.jpg ?\n" in out and "http://h/series1/a.jpg 1901\n" in out
    assert "series1/b.xml: cannot read its XML: unknown encoding: x-no-such; written with year ?" in err


LATIN1 = b"caf\xe9.jpg"  # a Latin-1 file name, not UTF-8


@pytest.fixture
def latin1_photo(photos):
    name = os.fsdecode(LATIN1)
    jpeg = images.jpeg(16, 16)
    (photos / "series1" / name).write_bytes(jpeg)
    (photos / "series1" / os.fsdecode(b"caf\xe9.xml")).write_text(dc("1930"))
    return jpeg


def test_a_latin1_file_name_is_percent_encoded_with_base_url(photos, latin1_photo, capsys):
    assert mkmanifest.main([str(photos), "--base-url", "http://h/photos"]) == 0
    assert "http://h/photos/series1/caf%E9.jpg 1930\n" in capsys.readouterr().out


def test_a_latin1_file_name_gives_a_file_url_the_job_can_open(photos, latin1_photo, capsys):
    assert mkmanifest.main([str(photos)]) == 0
    url = next(line.split()[0] for line in capsys.readouterr().out.splitlines() if "caf" in line)
    assert url.endswith("/series1/caf%E9.jpg")
    assert Fetcher().get(url).data == latin1_photo


def nested(tag, depth, text="1925"):
    return "<{0}>".format(tag) * depth + text + "</{0}>".format(tag) * depth


def peak_memory(function, *args):
    """(FUNCTION's result or exception, the most memory Python objects took while it ran)."""
    import tracemalloc
    tracemalloc.start()
    try:
        try:
            outcome = function(*args)
        except Exception as exc:  # noqa: BLE001 -- handed back to the test
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("xml, why", [
    ("<r>{}</r>".format(nested("date", 20000)), "date elements nested more than {} deep".format(
        metadata.MAX_DATE_DEPTH)),
    ("<r>{}</r>".format(nested("div", 20000)),
     "elements nested more than {} deep".format(metadata.MAX_DEPTH)),
])
def test_deeply_nested_xml_is_refused_in_bounded_memory(xml, why):
    # 20,000 nested date elements: time and memory must stay linear in the depth.
    data = xml.encode()
    refused, peak = peak_memory(metadata.parse, data, "deep.xml")
    assert isinstance(refused, metadata.MetadataError) and str(refused) == "deep.xml: refused XML: " + why
    assert peak < 8 << 20


def test_a_long_date_text_is_cut_not_copied_per_level():
    data = "<r>{}</r>".format(nested("date", metadata.MAX_DATE_DEPTH, "ca. 1925 " + "x " * 500000)).encode()
    found, peak = peak_memory(metadata.parse, data)
    assert found.year == 1925 and peak < 4 << 20


def test_every_format_the_job_decodes_is_listed(tmp_path):
    # luminance.core.formats is the one list: a JPEG 2000 or AVIF scan the job decodes is in the manifest.
    names = ["a.jp2", "b.AVIF", "c.jpg", "d.tiff", "e.webp", "f.j2k", "g.txt", "h.eps", "i.xml"]
    root = make_archive(tmp_path / "photos", {name: b"x" for name in names})
    assert mkmanifest.find_photos(str(root)) == ["a.jp2", "b.AVIF", "c.jpg", "d.tiff", "e.webp", "f.j2k"]
