"""Manifest slices (--split): each job's part of the manifest keeps global record and line numbers."""

import os

import pytest

from luminance.core.errors import ManifestError, UsageError
from luminance.core.manifest import iter_records, open_manifest

from photodemo.jobs import plan
from photodemo.batch import (MAX_SLICES, Batch, keep_logs, relative_to, remove_slices,
                             write_pending, write_slices)
from photodemo import judge

MANIFEST = """# archive, part 1
http://h/a.jpg 1880

http://h/b.jpg 1919
# a comment inside
http://h/c.jpg ?
not-a-record-line-with-one-field
http://h/e.jpg 1945
http://h/f.jpg 1950 extra
http://h/g.jpg 2001
# trailing comment
"""


def lines_of(manifest):
    """The manifest's lines as ./submit reads them, once (open_manifest)."""
    with open_manifest(str(manifest)) as stream:
        return stream.readlines()


def records_of(path):
    with open_manifest(str(path)) as stream:
        return list(iter_records(stream))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_slices_hold_exactly_their_records_with_global_numbers(tmp_path, size):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(MANIFEST)
    everything = records_of(manifest)
    chunks = plan(len(everything), size)
    written = write_slices(lines_of(manifest), str(manifest), chunks, str(tmp_path))
    assert sorted(written) == [chunk.start for chunk in chunks]
    for chunk in chunks:
        path = tmp_path / "slices" / "manifest.{}.txt".format(chunk.start)
        assert written[chunk.start] == str(path)
        # Same records, same numbers, same lines, same malformed-line errors as in the whole file.
        assert records_of(path) == everything[chunk.start:chunk.stop]


def test_a_slice_keeps_bytes_that_are_not_utf8_as_they_came(tmp_path):
    # The job reports such a line as a malformed record naming its byte: the slice must hold it.
    manifest = tmp_path / "manifest.txt"
    manifest.write_bytes(b"\xef\xbb\xbfhttp://h/a.jpg 1880\nhttp://h/caf\xe9.jpg 1901\nhttp://h/b.jpg 1902\n")
    write_slices(lines_of(manifest), str(manifest), plan(3, 2), str(tmp_path))
    assert (tmp_path / "slices" / "manifest.0.txt").read_bytes().endswith(b"http://h/caf\xe9.jpg 1901\n")
    assert [(r.url, r.error) for r in records_of(tmp_path / "slices" / "manifest.0.txt")] == [
        ("http://h/a.jpg", None), ("http://h/caf\\xe9.jpg", "not UTF-8 (byte 0xe9 at column 13)")]


def test_slices_for_some_chunks_only(tmp_path):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(MANIFEST)
    chunks = plan(7, 2)
    written = write_slices(lines_of(manifest), str(manifest), [chunks[1], chunks[3]], str(tmp_path))
    assert sorted(written) == [2, 6]
    assert sorted(os.listdir(tmp_path / "slices")) == ["manifest.2.txt", "manifest.6.txt"]


def test_a_manifest_shorter_than_the_plan_is_an_error(tmp_path):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(MANIFEST)
    with pytest.raises(ManifestError, match="manifest.txt: has 7 records"):
        write_slices(lines_of(manifest), str(manifest), plan(9, 4), str(tmp_path))


def test_input_and_arguments_of_a_job(tmp_path):
    chunks = plan(450, 200)
    batch = Batch(chunks, "dist/luminance.pex", "manifest.txt", ".", ".", ["--metric", "luma"])
    assert batch.input_name(chunks[2]) == "manifest.txt"
    assert batch.arguments(chunks[2]) == ["results-400.json", "400", "50", "--metric", "luma"]
    assert batch.records == 450
    split = batch._replace(split=True)
    assert split.input_name(chunks[1]) == "slices/manifest.200.txt"


def test_relative_to(tmp_path):
    assert relative_to(str(tmp_path / "a" / "b"), str(tmp_path)) == os.path.join("a", "b")
    assert relative_to(str(tmp_path), str(tmp_path)) == "."
    assert relative_to("/elsewhere/x", str(tmp_path)) == "/elsewhere/x"
    assert relative_to(str(tmp_path) + "-sibling", str(tmp_path)) == str(tmp_path) + "-sibling"



def test_too_many_slices_are_refused_before_any_is_written(tmp_path):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join("http://h/{}.jpg 1900\n".format(n) for n in range(MAX_SLICES + 1)))
    with pytest.raises(UsageError, match="20001 jobs would need 20001 slice files"):
        write_slices(lines_of(manifest), str(manifest), plan(MAX_SLICES + 1, 1), str(tmp_path))
    assert not os.path.exists(tmp_path / "slices")


def test_old_slices_are_removed_the_kept_ones_stay(tmp_path):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(MANIFEST)
    write_slices(lines_of(manifest), str(manifest), plan(7, 1), str(tmp_path))
    (tmp_path / "slices" / "notes.txt").write_text("mine")
    assert remove_slices(str(tmp_path), {2, 6}) == 5
    assert sorted(os.listdir(tmp_path / "slices")) == ["manifest.2.txt", "manifest.6.txt",
                                                       "notes.txt"]


def test_a_rerun_moves_the_earlier_logs_aside(tmp_path):
    chunk = plan(10, 10)[0]
    (tmp_path / "log").mkdir()
    for run in ("first", "second"):
        (tmp_path / chunk.error_name).write_text(run)
        (tmp_path / chunk.output_name).write_text(run)
        keep_logs(str(tmp_path), chunk)
    assert (tmp_path / "log" / "job.error.0.1").read_text() == "first"
    assert (tmp_path / "log" / "job.output.0.2").read_text() == "second"
    assert not (tmp_path / chunk.error_name).exists()


def test_pending_results_are_written_only_where_none_is(tmp_path):
    chunks = plan(20, 10)
    (tmp_path / "results-0.json").write_text("kept")
    assert write_pending(str(tmp_path), chunks) == 1
    assert (tmp_path / "results-0.json").read_text() == "kept"
    assert judge.judge(str(tmp_path / "results-10.json"), chunks[1]).state == judge.PENDING


def test_pending_results_are_read_by_aggregate_beside_finished_ones(tmp_path, capsys):
    from luminance.core import results
    from photodemo import aggregate
    chunks = plan(4, 2)
    document = results.new_document({"host": "h", "start": 0, "count": 2, "records": 2,
                                      "metric": "luma", "complete": True})
    document["photos"] = [results.photo(r, r + 1, "u", 1900, 0.5, 1, 1, "L", 1) for r in (0, 1)]
    results.write(str(tmp_path / "results-0.json"), document)
    write_pending(str(tmp_path), chunks, "luma")
    assert aggregate.main([str(tmp_path)]) == 0
    assert "2 photos from 2 files" in capsys.readouterr().err
