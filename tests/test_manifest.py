"""The manifest format: records, comments, malformed lines, slices."""

import io

import pytest

from luminance.core import manifest
from luminance.core.errors import ManifestError

TEXT = """\
# the tutorial's archive
http://h/a.jpg 1880

http://h/b.jpg ?
http://h/c.jpg   1919   extra
justonefield
http://h/d.jpg l9O1
ftp://h/e.jpg 1900
file:///data/f.jpg n.d.
/data/g.jpg unknown
  # indented comment
https://h/h.jpg 2001
"""


def test_records_are_numbered_without_comments_or_blanks():
    records = list(manifest.iter_records(io.StringIO(TEXT)))
    assert [r.index for r in records] == list(range(9))
    assert [r.line for r in records] == [2, 4, 5, 6, 7, 8, 9, 10, 12]
    assert records[0] == manifest.Record(0, 2, "http://h/a.jpg", 1880, None)


def test_unknown_years_are_kept_as_none():
    records = list(manifest.iter_records(io.StringIO(TEXT)))
    by_url = {r.url: r for r in records}
    for url in ("http://h/b.jpg", "file:///data/f.jpg", "/data/g.jpg"):
        assert by_url[url].year is None and by_url[url].error is None


@pytest.mark.parametrize("line, error", [
    ("http://h/c.jpg   1919   extra", "expected 'URL YEAR', got 3 fields"),
    ("justonefield", "expected 'URL YEAR', got one field"),
    ("http://h/d.jpg l9O1", "bad year 'l9O1'"),
    ("ftp://h/e.jpg 1900", "unsupported URL scheme 'ftp'"),
])
def test_malformed_lines_are_failed_records_with_a_reason(line, error):
    record = manifest.parse_line(line, 7, 12)
    assert (record.index, record.line, record.error) == (7, 12, error)


def test_read_records_takes_start_and_count_in_records_not_lines():
    records = manifest.read_records(io.StringIO(TEXT), start=2, count=3)
    assert [(r.index, r.line) for r in records] == [(2, 5), (3, 6), (4, 7)]
    assert manifest.read_records(io.StringIO(TEXT), start=8, count=5)[-1].url == "https://h/h.jpg"
    assert manifest.read_records(io.StringIO(TEXT), start=50, count=5) == []


def test_a_slice_keeps_global_record_and_line_numbers():
    lines = TEXT.splitlines(keepends=True)
    # Records 2..4 start on line 5 of the whole manifest.
    slice_text = manifest.offset_directive(2, 5) + "".join(lines[4:7])
    records = manifest.read_records(io.StringIO(slice_text), start=2, count=3)
    assert [(r.index, r.line, r.url) for r in records] == [
        (2, 5, "http://h/c.jpg"), (3, 6, "justonefield"), (4, 7, "http://h/d.jpg")]


def test_count_records_and_format_round_trip(tmp_path):
    path = tmp_path / "manifest.txt"
    path.write_text(TEXT)
    assert manifest.count_records(str(path)) == 9
    line = manifest.format_record("http://h/x y.jpg".replace(" ", "%20"), None)
    assert manifest.parse_line(line, 0, 1) == manifest.Record(0, 1, "http://h/x%20y.jpg", None, None)
    with pytest.raises(ValueError):
        manifest.format_record("http://h/x y.jpg", 1900)


def test_unreadable_manifest_is_one_line_error_naming_it(tmp_path):
    path = str(tmp_path / "nope.txt")
    with pytest.raises(ManifestError) as refused:
        manifest.count_records(path)
    assert str(refused.value) == path + ": cannot read manifest: No such file or directory"


@pytest.mark.parametrize("url, name", [
    ("osdf:///ospool/ap20/data/alice/photos/apf1-00001r.jpg", "apf1-00001r.jpg"),
    ("osdf://ospool/ap20/data/alice/a.jpg", "a.jpg"),  # the two-slash form users type
    ("stash:///ospool/x/IMG_0001.JPG", "IMG_0001.JPG"),
    ("pelican://fed.example.org:8443/ns/v1.2/photo+1@2x~.png", "photo+1@2x~.png"),
])
def test_a_transferred_object_is_in_the_sandbox_under_its_last_path_component(url, name):
    assert manifest.sandbox_name(url) == name


@pytest.mark.parametrize("url, why", [
    ("http://h/a.jpg", "not an object of a Pelican federation"),
    ("/data/a.jpg", "not an object of a Pelican federation"),
    ("osdf:///ospool/a%20b.jpg", "no percent-escapes"),
    ("osdf:///ospool/a.jpg?v=2", "no percent-escapes, query"),
    ("osdf:///ospool/$(x).jpg", "no percent-escapes"),
    ("osdf:///ospool/a,b.jpg", "no percent-escapes"),
    ("osdf:///ospool/caf\u00e9.jpg", "no percent-escapes"),
    ("osdf:///ospool/photos/", "no file name"),
    ("osdf:///ospool/photos/..", "no file name"),
    ("osdf:///ospool/.job.ad", "HTCondor's own"),
    ("osdf:///ospool/_condor_stdin", "HTCondor's own"),
])
def test_an_object_whose_sandbox_name_the_job_could_not_know_is_refused(url, why):
    with pytest.raises(ValueError, match=why.replace("?", r"\?").replace("$", r"\$")):
        manifest.sandbox_name(url)


def test_a_byte_order_mark_is_skipped():
    records = list(manifest.iter_records(io.StringIO("\ufeffhttp://h/a.jpg 1901\nhttp://h/b.jpg 1902\n")))
    assert [(r.url, r.year, r.error) for r in records] == [("http://h/a.jpg", 1901, None),
                                                           ("http://h/b.jpg", 1902, None)]
    sliced = "\ufeff" + manifest.offset_directive(7, 9) + "http://h/a.jpg 1901\n"
    assert [(r.index, r.line) for r in manifest.iter_records(io.StringIO(sliced))] == [(7, 9)]


def test_a_line_that_is_not_utf8_is_a_malformed_record_naming_its_byte(tmp_path):
    path = tmp_path / "manifest.txt"
    path.write_bytes(b"http://h/a.jpg 1901\nhttp://h/caf\xe9.jpg 1902\nhttp://h/b.jpg 1903\n")
    with manifest.open_manifest(str(path)) as stream:
        records = manifest.read_records(stream)
    assert [r.error for r in records] == [None, "not UTF-8 (byte 0xe9 at column 13)", None]
    assert records[1].url == "http://h/caf\\xe9.jpg" and records[1].line == 2
    assert manifest.count_records(str(path)) == 3


@pytest.mark.parametrize("text, why", [
    ("1799", "implausible year 1799"),
    (str(manifest.max_year() + 1), "implausible year {}".format(manifest.max_year() + 1)),
    ("100000000000000000000", "implausible year 100000000000..."),
    ("-1900", "implausible year -1900"),
])
def test_an_implausible_year_is_a_malformed_line(text, why):
    record = manifest.parse_line("http://h/a.jpg " + text, 0, 1)
    assert record.year is None and record.error == "{} (not in 1800..{})".format(why, manifest.max_year())


@pytest.mark.parametrize("text", ["1800", "1925", str(manifest.max_year())])
def test_plausible_years(text):
    assert manifest.parse_line("http://h/a.jpg " + text, 0, 1).year == int(text)
