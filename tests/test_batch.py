"""Manifest slices (--split): each job's part of the manifest keeps global record and line numbers."""

import os

import pytest

from luminance.errors import ManifestError
from luminance.jobs import plan
from luminance.manifest import iter_records, open_manifest

from photodemo.batch import Batch, relative_to, write_slices

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


def records_of(path):
    with open_manifest(str(path)) as stream:
        return list(iter_records(stream))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_slices_hold_exactly_their_records_with_global_numbers(tmp_path, size):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(MANIFEST)
    everything = records_of(manifest)
    chunks = plan(len(everything), size)
    written = write_slices(str(manifest), chunks, str(tmp_path))
    assert sorted(written) == [chunk.start for chunk in chunks]
    for chunk in chunks:
        path = tmp_path / "slices" / "manifest.{}.txt".format(chunk.start)
        assert written[chunk.start] == str(path)
        # Same records, same numbers, same lines, same malformed-line errors as in the whole file.
        assert records_of(path) == everything[chunk.start:chunk.stop]


def test_slices_for_some_chunks_only(tmp_path):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(MANIFEST)
    chunks = plan(7, 2)
    written = write_slices(str(manifest), [chunks[1], chunks[3]], str(tmp_path))
    assert sorted(written) == [2, 6]
    assert sorted(os.listdir(tmp_path / "slices")) == ["manifest.2.txt", "manifest.6.txt"]


def test_a_manifest_shorter_than_the_plan_is_an_error(tmp_path):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(MANIFEST)
    with pytest.raises(ManifestError, match="manifest.txt: has 7 records"):
        write_slices(str(manifest), plan(9, 4), str(tmp_path))


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

