"""The job's command line in-process (luminance.cli.main) against a real HTTP server: its output
lines, its results file, bad input, and a rerun over an earlier results file."""

import json
import os

import pytest

import hostile
from luminance import cli
from luminance.core import limits, output, results
from luminance.core.errors import EXIT_OK, EXIT_TRANSIENT, EXIT_USAGE
from photodemo import images


@pytest.fixture
def site(server, tmp_path):
    """A server with three photos, and a manifest of them; (server, manifest path)."""
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        server.add("/{}.jpg".format(name), images.jpeg(40, 30, seed=seed))
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join("{} {}\n".format(server.url("/{}.jpg".format(name)), year)
                                for name, year in (("a", 1901), ("b", "?"), ("c", 1950))))
    return server, manifest


def run(tmp_path, manifest, *options, start=0, count=10):
    argv = [str(tmp_path / "results.json"), str(start), str(count), "--manifest", str(manifest),
            "--retries", "0", "--timeout", "5"] + list(options)
    return cli.main(argv)


def photos_printed(text):
    return [parsed for parsed in map(output.parse_photo_line, text.splitlines()) if parsed]


def test_a_job_prints_each_photo_and_writes_results(site, tmp_path, capsys):
    server, manifest = site
    assert run(tmp_path, manifest) == EXIT_OK
    out = capsys.readouterr().out
    document = results.read(str(tmp_path / "results.json"))
    assert [(p.year, round(p.luminance, 6)) for p in photos_printed(out)] == \
        [(e["year"], round(e["luminance"], 6)) for e in document["photos"]]
    assert [e["year"] for e in document["photos"]] == [1901, None, 1950]
    assert output.parse_footer(out.splitlines()[-1]).photos == 3
    assert document["job"]["complete"] is True and document["failures"] == []


def test_an_empty_results_path_is_a_usage_error_before_any_work(site, tmp_path, capsys):
    server, manifest = site
    assert cli.main(["", "0", "10", "--manifest", str(manifest)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == ("luminance.pex: error: RESULTS is empty: name the results file to write, "
                   "e.g. results-0.json\n")
    assert server.hits == {}


def test_a_bom_is_skipped_and_non_utf8_lines_are_malformed_records(site, tmp_path, capsys, monkeypatch):
    server, manifest = site
    data = b"\xef\xbb\xbf" + manifest.read_bytes() + b"http://h/caf\xe9.jpg 1900\n"
    manifest.write_bytes(data)
    with open(str(manifest), "rb") as stdin:  # the same bytes on standard input, as HTCondor gives them
        monkeypatch.setattr("sys.stdin", stdin)
        code = cli.main([str(tmp_path / "stdin.json"), "0", "10", "--retries", "0"])
    assert code == EXIT_OK
    assert run(tmp_path, manifest) == EXIT_OK
    for name in ("stdin.json", "results.json"):
        document = results.read(str(tmp_path / name))
        assert len(document["photos"]) == 3  # record 0 is a photo: the BOM is not part of its URL
        assert document["failures"] == [{
            "record": 3, "line": 4, "url": "http://h/caf\\xe9.jpg", "transient": False,
            "reason": "malformed manifest line: not UTF-8 (byte 0xe9 at column 13)"}]
    assert "stdin:4: http://h/caf\\xe9.jpg: malformed manifest line: not UTF-8" in capsys.readouterr().err


def test_the_pixel_limit_message_quotes_the_jobs_limit(site, tmp_path):
    server, manifest = site
    assert run(tmp_path, manifest, "--max-pixels", "1000") == EXIT_OK
    reasons = {f["reason"] for f in results.read(str(tmp_path / "results.json"))["failures"]}
    assert reasons == {"image over the pixel limit: 40x30 RGB JPEG = 1200 pixels, the job's limit is 1000"}


def test_the_jobs_memory_comes_from_the_htcondor_job_ad(site, tmp_path, monkeypatch):
    server, manifest = site
    server.add("/big.webp", hostile.webp(4000, 4000), content_type="image/webp")
    with open(str(manifest), "a") as stream:
        stream.write(server.url("/big.webp") + " 1960\n")
    ad = tmp_path / ".job.ad"
    ad.write_text('Cmd = "luminance.pex"\nRequestMemory = 300\nRequestCpus = 1\n')
    monkeypatch.setenv("_CONDOR_JOB_AD", str(ad))
    assert run(tmp_path, manifest) == EXIT_OK
    document = results.read(str(tmp_path / "results.json"))
    assert len(document["photos"]) == 3
    assert document["failures"][0]["reason"] == (
        "too big to decode in the job's memory: 4000x4000 RGB WEBP needs about 322 MB with "
        "its file, the job has {} MB for photos".format(300 - limits.BASE_MB))
    ad.write_text("RequestMemory = 2048\n")
    os.unlink(str(tmp_path / "results.json"))
    assert run(tmp_path, manifest) == EXIT_OK
    assert len(results.read(str(tmp_path / "results.json"))["photos"]) == 4


def test_a_rerun_during_a_storage_outage_keeps_the_photos_it_had(site, tmp_path, capsys):
    server, manifest = site
    server.add("/c.jpg", status=503, content_type="text/plain")
    assert run(tmp_path, manifest) == EXIT_TRANSIENT  # 2 photos + 1 transient failure
    first = results.read(str(tmp_path / "results.json"))
    assert len(first["photos"]) == 2 and len(first["failures"]) == 1
    for name in "abc":  # the storage is down now
        server.add("/{}.jpg".format(name), status=503, content_type="text/plain")
    hits = dict(server.hits)
    assert run(tmp_path, manifest) == EXIT_TRANSIENT
    second = results.read(str(tmp_path / "results.json"))
    assert second["photos"] == first["photos"]
    assert [f["record"] for f in second["failures"]] == [2]
    assert server.hits["/a.jpg"] == hits["/a.jpg"]  # kept photos are not fetched again
    out = capsys.readouterr().out
    assert len(photos_printed(out)) == 4  # each run printed both photos
    assert out.rstrip().endswith("/* 2 results kept from this job's earlier results file */")
    server.add("/c.jpg", images.jpeg(40, 30, seed=3))  # back: the rerun fills the gap
    server.add("/a.jpg", status=503, content_type="text/plain")
    assert run(tmp_path, manifest) == EXIT_OK
    assert [p["record"] for p in results.read(str(tmp_path / "results.json"))["photos"]] == [0, 1, 2]


@pytest.mark.parametrize("previous, note", [
    ("{not json", "corrupt results file"),
    (json.dumps({"schema": "photodemo-results/1", "job": {"start": 5, "count": 10, "metric": "perceived"},
                 "photos": [], "failures": []}), "the results of another job (start 5"),
    ("[" * 100000 + "]" * 100000, "ignoring the earlier results"),
])
def test_a_corrupt_or_foreign_earlier_results_file_is_a_note(site, tmp_path, capsys, previous, note):
    server, manifest = site
    (tmp_path / "results.json").write_text(previous)
    assert run(tmp_path, manifest, count=3) == EXIT_OK
    err = capsys.readouterr().err
    assert note in err and len([line for line in err.splitlines() if "note:" in line]) == 1
    assert len(results.read(str(tmp_path / "results.json"))["photos"]) == 3


def test_an_earlier_entry_for_another_url_is_not_kept(site, tmp_path):
    server, manifest = site
    assert run(tmp_path, manifest) == EXIT_OK
    document = results.read(str(tmp_path / "results.json"))
    document["photos"][0]["url"] = "http://elsewhere/other.jpg"
    document["photos"][0]["luminance"] = 0.999
    results.write(str(tmp_path / "results.json"), document)
    assert run(tmp_path, manifest) == EXIT_OK
    again = results.read(str(tmp_path / "results.json"))
    assert again["photos"][0]["url"].endswith("/a.jpg") and again["photos"][0]["luminance"] != 0.999


def test_an_earlier_photo_keeps_only_what_the_manifest_and_the_metric_allow(site, tmp_path):
    # A worker can write anything into its results file: the year comes from the manifest, and
    # a luminance outside 0..1 is measured again.
    server, manifest = site
    assert run(tmp_path, manifest) == EXIT_OK
    document = results.read(str(tmp_path / "results.json"))
    document["photos"][0]["year"] = 10 ** 20
    document["photos"][1]["luminance"] = 1e308
    results.write(str(tmp_path / "results.json"), document)
    hits = dict(server.hits)
    assert run(tmp_path, manifest) == EXIT_OK
    again = results.read(str(tmp_path / "results.json"))["photos"]
    assert again[0]["year"] == 1901 and 0 <= again[1]["luminance"] <= 1
    assert server.hits["/b.jpg"] == hits["/b.jpg"] + 1 and server.hits["/a.jpg"] == hits["/a.jpg"]


def test_a_manifest_named_in_latin1_is_named_in_utf8_results(site, tmp_path):
    server, manifest = site
    latin1 = os.path.join(str(tmp_path), os.fsdecode(b"caf\xe9.txt"))
    os.rename(str(manifest), latin1)
    assert run(tmp_path, latin1) == EXIT_OK
    document = results.read(str(tmp_path / "results.json"))
    assert document["job"]["manifest"].endswith("caf\\xe9.txt") and len(document["photos"]) == 3


# -- A rerun never sends back less than it was given: whatever ends the job, RESULTS keeps every
# entry of the chunk's earlier results file that HTCondor sent into the sandbox.

def _earlier_run(site, tmp_path):
    """A first run of records 0-2 (3 photos), and the records of its results file."""
    server, manifest = site
    assert run(tmp_path, manifest, count=3) == EXIT_OK
    return results.read(str(tmp_path / "results.json"))


def test_a_rerun_that_cannot_read_its_manifest_keeps_the_earlier_photos(site, tmp_path, capsys):
    first = _earlier_run(site, tmp_path)
    assert run(tmp_path, tmp_path / "missing.txt", count=3) == EXIT_USAGE
    again = results.read(str(tmp_path / "results.json"))
    assert again["photos"] == first["photos"]
    assert again["job"]["error"].startswith("{}: cannot read manifest".format(tmp_path / "missing.txt"))
    assert again["job"]["complete"] is False
    assert results.coverage(again).settled == 3


def test_a_rerun_stopped_by_sigterm_before_its_records_keeps_the_earlier_photos(site, tmp_path, capsys):
    import signal
    import threading
    first = _earlier_run(site, tmp_path)
    fifo = tmp_path / "manifest.fifo"
    os.mkfifo(str(fifo))  # no writer: the job waits opening it until the signal comes
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        code = run(tmp_path, fifo, count=3)
    finally:
        timer.cancel()
    assert code == 128 + signal.SIGTERM
    again = results.read(str(tmp_path / "results.json"))
    assert again["photos"] == first["photos"]
    assert again["job"]["error"] == "interrupted by SIGTERM before its records were analyzed"
    assert capsys.readouterr().err.endswith("luminance.pex: interrupted\n")


def test_a_bug_before_the_records_keeps_the_earlier_photos(site, tmp_path, capsys, monkeypatch):
    first = _earlier_run(site, tmp_path)

    def broken(*args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli.manifest, "read_records", broken)
    with pytest.raises(ZeroDivisionError):
        run(tmp_path, site[1], count=3)
    again = results.read(str(tmp_path / "results.json"))
    assert again["photos"] == first["photos"]
    assert again["job"]["error"] == "internal error: ZeroDivisionError: a bug"


def test_a_usage_error_leaves_the_earlier_results_file_as_it_was(site, tmp_path, capsys):
    _earlier_run(site, tmp_path)
    before = (tmp_path / "results.json").read_bytes()
    assert run(tmp_path, site[1], "--workers", "0", count=3) == EXIT_USAGE
    assert (tmp_path / "results.json").read_bytes() == before


def test_a_rerun_of_a_changed_manifest_keeps_only_the_earlier_entries_it_still_lists(site, tmp_path, capsys):
    server, manifest = site
    first = _earlier_run(site, tmp_path)
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[0], server.url("/gone.jpg") + " 1902", lines[2]]) + "\n")
    server.add("/gone.jpg", status=404, content_type="text/plain")
    assert run(tmp_path, manifest, count=3) == EXIT_OK
    again = results.read(str(tmp_path / "results.json"))
    assert [p["record"] for p in again["photos"]] == [0, 2] and again["photos"][0] == first["photos"][0]
    assert [(f["record"], f["url"]) for f in again["failures"]] == [(1, server.url("/gone.jpg"))]
