"""make-manifest: photos + XML sidecars -> `URL YEAR` records, sorted, with every problem named."""

import os
import pathlib
import subprocess
import sys

import pytest

from luminance.manifest import iter_records
from photodemo import archive, metadata, mkmanifest

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
    assert any("series2/undated.xml: no year in its date 'undated'" in line for line in lines)
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
