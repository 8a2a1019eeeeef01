"""Running one job in-process (luminance.analysis): manifest order, interruption, kept entries, and
whatever one photo raises staying that photo's failure. Against a real HTTP server."""

import threading

import hostile
from luminance import analysis, memory, metrics
from luminance.core import results
from luminance.fetch import Fetcher
from luminance.core.manifest import Record
from photodemo import images


def records_for(server, paths, start=0):
    return [Record(start + i, start + i + 1, server.url(path), 1900 + i) for i, path in enumerate(paths)]


def run_job(records, **options):
    reported = []
    entries, complete = analysis.run(records, Fetcher(timeout=5, retries=0), "perceived", workers=8,
                                cpus=2, report=reported.append, **options)
    assert reported == entries
    return entries, complete


def test_entries_come_in_manifest_order_whatever_finishes_first(server):
    server.add("/slow.jpg", images.jpeg(32, 24, seed=1), delay=0.5)
    for name in "abcde":
        server.add("/{}.jpg".format(name), images.jpeg(32, 24, seed=ord(name)))
    records = records_for(server, ["/slow.jpg", "/a.jpg", "/b.jpg", "/c.jpg", "/d.jpg", "/e.jpg"], start=40)
    entries, complete = run_job(records)
    assert complete
    assert [entry["record"] for entry in entries] == list(range(40, 46))
    assert all("luminance" in entry for entry in entries)


def test_an_interrupted_job_keeps_what_finished_and_marks_the_rest_transient(server, monkeypatch):
    server.add("/a.jpg", images.jpeg(32, 24, seed=1))
    server.add("/b.jpg", images.jpeg(32, 24, seed=2))
    server.add("/stuck.jpg", images.jpeg(32, 24, seed=3), delay=3)
    records = records_for(server, ["/a.jpg", "/b.jpg", "/stuck.jpg"])
    reported = []
    both_done = threading.Event()

    def report(entry):
        reported.append(entry)
        if len(reported) == 1:
            both_done.wait(5)
            raise KeyboardInterrupt  # what the job's SIGTERM handler raises

    original = analysis.analyze

    def analyze(record, *args):
        entry = original(record, *args)
        if record.index == 1:
            both_done.set()
        return entry

    monkeypatch.setattr(analysis, "analyze", analyze)
    entries, complete = analysis.run(records, Fetcher(timeout=5, retries=0), "perceived", 8, 2, report)
    assert not complete
    assert [entry["record"] for entry in entries] == [0, 1, 2]
    assert "luminance" in entries[0] and "luminance" in entries[1]  # finished: kept
    assert entries[2]["reason"] == analysis.INTERRUPTED and entries[2]["transient"] is True


def test_known_entries_are_reported_in_place_and_not_fetched_again(server):
    server.add("/a.jpg", images.jpeg(32, 24, seed=1))
    server.add("/b.jpg", images.jpeg(32, 24, seed=2))
    records = records_for(server, ["/a.jpg", "/b.jpg"])
    kept = {0: {"record": 0, "line": 1, "url": records[0].url, "year": 1900, "luminance": 0.5,
                "width": 1, "height": 1, "mode": "L", "bytes": 9}}
    entries, complete = run_job(records, known=kept)
    assert complete and entries[0] is kept[0] and entries[1]["record"] == 1
    assert server.hits.get("/a.jpg") is None and server.hits["/b.jpg"] == 1


def test_a_url_that_makes_the_fetch_raise_is_that_photos_failure(tmp_path, server, monkeypatch):
    # An escaped NUL in a file:// URL makes open() raise ValueError, which must not end the job:
    # whatever a fetch raises is that photo's failure, its type named when unexpected.
    server.add("/a.jpg", images.jpeg(32, 24, seed=1))
    records = ([Record(0, 1, "file://{}/a%00b.jpg".format(tmp_path), 1900)]
               + records_for(server, ["/a.jpg"], 1))
    entries, complete = run_job(records)
    assert complete and "luminance" in entries[1]
    assert "embedded null byte" in entries[0]["reason"] and not entries[0]["transient"]

    def buggy(self, url, claim=None):
        raise RecursionError("a bug in the fetch")

    monkeypatch.setattr(Fetcher, "get", buggy)
    entries, complete = run_job(records)
    assert complete
    assert [entry["reason"] for entry in entries] == ["cannot fetch: RecursionError: a bug in the fetch"] * 2


def test_a_measure_that_raises_anything_is_that_photos_failure(server, monkeypatch):
    server.add("/a.jpg", images.jpeg(32, 24, seed=1))

    def buggy(*args):
        raise RuntimeError("a bug in a decoder")

    monkeypatch.setattr(metrics.Opened, "measure", buggy)
    entries, complete = run_job(records_for(server, ["/a.jpg"]))
    assert complete
    assert entries[0]["reason"] == "cannot measure: RuntimeError: a bug in a decoder"


def test_a_photo_too_big_for_the_jobs_memory_fails_alone(server):
    server.add("/big.webp", hostile.webp(4000, 4000), content_type="image/webp")
    server.add("/a.jpg", images.jpeg(32, 24, seed=1))
    entries, complete = run_job(records_for(server, ["/big.webp", "/a.jpg"]),
                                budget=memory.Budget(64 << 20))
    assert complete and "luminance" in entries[1]
    assert entries[0]["reason"].startswith("too big to decode in the job's memory: 4000x4000 RGB WEBP")
    assert entries[0]["transient"] is False


def test_malformed_records_are_failures_naming_why():
    entries, complete = run_job([Record(0, 3, "x.jpg", None, "implausible year 1500")])
    assert entries == [{"record": 0, "line": 3, "url": "x.jpg", "transient": False,
                        "reason": "malformed manifest line: implausible year 1500"}]


def test_a_reason_quoting_a_file_name_that_is_not_utf8_stays_utf8(tmp_path):
    # make-manifest writes a Latin-1 name as %E9; the fetch opens exactly those bytes, and a
    # reason quoting them must not make RESULTS invalid UTF-8.
    url = "file://{}/caf%E9.jpg".format(tmp_path)
    entries, _ = run_job([Record(0, 1, url, 1900)])
    assert entries[0]["reason"].startswith("cannot read {}/caf\\xe9.jpg: ".format(tmp_path))
    document = results.new_document({"start": 0, "count": 1})
    document["failures"] = entries
    results.write(str(tmp_path / "results.json"), document)
    assert results.read(str(tmp_path / "results.json"))["failures"] == entries
